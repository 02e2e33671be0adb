#!/usr/bin/env bash
# The whole chain for one model: export → (calibrate) → build → bench (→ eval), then one summary table.
#
#   scripts/build_engine.sh MODEL|MODEL.onnx [--weights W] [--num-classes N] [--input-size WxH]
#                           [--calib-data D] [--val-data V] [--ignore-index I] [--precision fp32|fp16|int8]
#                           [--method auto|mse|entropy|percentile|minmax] [--profile engines/xavier_nx.json] [--out DIR]
#
# MODEL.onnx (exported on a workstation) skips the export: the path for a device without torch.
# On a machine without TensorRT it builds the ONNX Runtime artifacts and says TensorRT was not found.
set -euo pipefail
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
model=$1; shift
weights="" classes_args=() size="" calib="" val="" ignore=255 precision="" method=auto profile="" out=""
while [ $# -gt 0 ]; do
  case $1 in
    --weights) weights=$2; shift 2 ;;
    --num-classes) classes_args=(--num-classes "$2"); shift 2 ;;
    --input-size) size=$2; shift 2 ;;
    --calib-data) calib=$2; shift 2 ;;
    --val-data) val=$2; shift 2 ;;
    --ignore-index) ignore=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --method) method=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "build_engine.sh: unknown option $1" >&2; usage ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
edgeseg=${EDGESEG:-$( [ -x "$root/.venv/bin/edgeseg" ] && echo "$root/.venv/bin/edgeseg" || echo edgeseg )}
py=${PYTHON:-$( [ -x "$root/.venv/bin/python" ] && echo "$root/.venv/bin/python" || echo python3 )}
if [ -n "$profile" ]; then  # the profile's precision and input size, unless given
  read -r p_precision p_size < <("$py" -c "import sys; from edgeseg.runtime.profiles import load_profile as l; \
p = l(sys.argv[1]); print(p.get('precision') or '-', p.get('input_size') or '-')" "$profile")
  [ -n "$precision" ] || precision=$p_precision
  [ -n "$size" ] || size=$p_size
fi
precision=${precision:-fp16}; size=${size:-1024x512}
[ "$precision" != "-" ] || precision=fp16
run() { echo "+ edgeseg $*" >&2; $edgeseg "$@"; }  # EDGESEG may be "python -m edgeseg"
if [[ "$model" == *.onnx ]]; then
  [ -f "$model" ] || { echo "build_engine.sh: $model: no such ONNX file" >&2; exit 2; }
  out=${out:-runs/engines/$(basename "${model%.onnx}")}
  onnx=$model
  mkdir -p "$out"
else
  out=${out:-runs/engines/${model}_${size}}
  onnx="$out/${model}_${size}.onnx"
  mkdir -p "$out"
  run export "$model" ${weights:+--weights "$weights"} "${classes_args[@]}" --input-size "$size" -o "$onnx"
fi
build_args=(--precision "$precision" ${profile:+--profile "$profile"})
if [ "$precision" = int8 ]; then
  [ -n "$calib" ] || { echo "build_engine.sh: --precision int8 needs --calib-data DIR" >&2; exit 2; }
  run calibrate "$onnx" --data "$calib" --method "$method" ${val:+--val "$val" --ignore-index "$ignore"} \
      --out "$out/calibration" --json "$out/calibration.json"
  build_args+=(--calibration "$(cd "$out" && "$py" -c "import json; print(json.load(open('calibration.json'))['manifest'])")")
fi
stem=$(basename "${onnx%.onnx}")  # the engine goes to OUT (build swaps .engine for .ort.onnx without TensorRT)
run build "$onnx" "${build_args[@]}" -o "$out/${stem}_${precision}.engine" --json "$out/build.json"
artifact=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['artifact'])" "$out/build.json")
run bench "$onnx" "$artifact" --json "$out/bench.json"
if [ -n "$val" ]; then
  run eval "$artifact" --data "$val" --ignore-index "$ignore" --json "$out/eval.json"
fi
"$py" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
load = lambda name: json.load(open(os.path.join(out, name))) if os.path.exists(os.path.join(out, name)) else None
build, bench, evaluation = load("build.json"), load("bench.json"), load("eval.json")
print("\n== build_engine.sh summary ({}) ==".format(out))
if build.get("note"):
    print(build["note"])
print("| artifact | runtime | precision | MB | p50 ms | fps | mIoU |")
print("|---|---|---|---|---|---|---|")
for row in bench["results"]:
    if "error" in row:
        print("| {} | failed: {} |".format(os.path.basename(row["artifact"]), row["error"]))
        continue
    miou = evaluation["miou"] if evaluation and os.path.samefile(evaluation["artifact"], row["artifact"]) else None
    print("| {} | {} | {} | {:.1f} | {:.2f} | {:.1f} | {} |".format(
        os.path.basename(row["artifact"]), row["backend"], row["precision"], row["size_mb"],
        row["latency_ms"]["p50"], row["fps"], "-" if miou is None else "{:.2%}".format(miou)))
PY
