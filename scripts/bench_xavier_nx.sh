#!/usr/bin/env bash
# The Xavier NX benchmark matrix: models x fp16/int8 x GPU/DLA0 → one table (Markdown, CSV, JSON).
#   scripts/bench_xavier_nx.sh [--models "bisenetv2 icnet_mobilenetv3 ..."] [--size 1024x512]
#       [--calib-data DIR] [--source VIDEO] [--data LABELLED] [--out runs/bench_xavier_nx]
# Needs TensorRT (a Jetson); models are exported here when torch is installed, else read from
# OUT/<model>_<size>.onnx. Run `sudo nvpmodel -m 0 && sudo jetson_clocks` first for stable numbers.
set -euo pipefail
models="bisenetv2 icnet_mobilenetv3 icnet_resnet18 lraspp_mobilenetv3 deeplabv3_mobilenetv3 enet_deconv fcn_resnet18"
size=1024x512 calib="" source="" data="" out=runs/bench_xavier_nx
while [ $# -gt 0 ]; do
  case $1 in
    --models) models=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --calib-data) calib=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) sed -n '2,6p' "$0"; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$( [ -x "$root/.venv/bin/python" ] && echo "$root/.venv/bin/python" || echo python3 )}
edgeseg="$py -m edgeseg"
mkdir -p "$out"
if [ -z "$calib" ]; then
  calib="$out/calibration_scenes"
  [ -d "$calib" ] || $py -m edgeseg.data.synthetic images "$calib" --count 64 --size "$size"
fi
artifacts=()
for model in $models; do
  onnx="$out/${model}_${size}.onnx"
  [ -f "$onnx" ] || $edgeseg export "$model" --num-classes 19 --input-size "$size" -o "$onnx"
  $edgeseg calibrate "$onnx" --data "$calib" --num 64 --out "$out/calibration" \
      --json "$out/${model}_calibration.json"
  manifest=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['manifest'])" "$out/${model}_calibration.json")
  for precision in fp16 int8; do
    for device in gpu dla0; do
      engine="$out/${model}_${size}_${precision}_${device}.engine"
      dla=(); [ "$device" = dla0 ] && dla=(--dla-core 0)
      calibration=(); [ "$precision" = int8 ] && calibration=(--calibration "$manifest")
      # a failed build is a row in the table (bench reports the missing engine), not the end of the run
      $edgeseg build "$onnx" --precision "$precision" "${dla[@]}" "${calibration[@]}" \
          --timing-cache "$out/xavier_nx.timing.cache" -o "$engine" || echo "build failed: $engine" >&2
      artifacts+=("$engine")
    done
  done
done
$edgeseg bench "${artifacts[@]}" --iterations 200 ${source:+--source "$source"} ${data:+--data "$data"} \
    --json "$out/bench.json" --csv "$out/bench.csv" | tee "$out/bench.md"
