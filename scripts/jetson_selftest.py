"""Verify a Jetson in one command: every TensorRT-safe model at a small size, fp16 and int8, on the GPU
and on each DLA core — build, compare with ONNX Runtime FP32 (argmax agreement on synthetic street
scenes), benchmark — then a PASS/FAIL table. Exit 0 when everything passes, 1 otherwise, 2 without
TensorRT. Models are exported here when torch is installed, else taken from --onnx-dir.
"""
import argparse
import os
import sys
import traceback
from typing import Dict, List, Optional


from edgeseg.bench import bench
from edgeseg.calibrate import calibrate
from edgeseg.data.synthetic import render_scene, write_dataset
from edgeseg.models import available_models
from edgeseg.preprocess import parse_size
from edgeseg.runtime import open_artifact
from edgeseg.runtime.builder import build
from edgeseg.runtime.tensorrt import dla_core_count, tensorrt_available

NOT_FOR_TENSORRT = ("enet",)  # max-unpooling: ONNX Runtime only
MIN_AGREEMENT = {"fp16": 0.98, "int8": 0.90}


def agreement(reference: str, engine: str, size, images: int = 4) -> float:
    with open_artifact(reference) as ref, open_artifact(engine) as trt:
        same = total = 0
        for seed in range(images):
            frame = render_scene(500 + seed, size[0], size[1])[0]
            a, b = ref.predict(frame), trt.predict(frame)
            same, total = same + int((a == b).sum()), total + a.size
    return same / total


def onnx_for(model: str, size, folder: str, onnx_dir: Optional[str]) -> str:
    if onnx_dir:
        return os.path.join(onnx_dir, "{}.onnx".format(model))
    from edgeseg.export import export  # needs torch

    path = os.path.join(folder, "{}_{}x{}.onnx".format(model, *size))
    export(model, 19, size, path, log=lambda *_: None)
    return path


def check(model: str, size, folder: str, onnx_dir: Optional[str], dla_cores: int, iterations: int) -> List[Dict]:
    rows = []
    onnx_path = onnx_for(model, size, folder, onnx_dir)
    scenes = write_dataset(os.path.join(folder, "scenes"), 16, size[0], size[1], seed=1)
    manifest = calibrate(onnx_path, scenes, num=16, method="minmax", out_dir=os.path.join(folder, "calibration"),
                         log=lambda *_: None)["path"]
    targets = [None] + list(range(dla_cores))
    for precision in ("fp16", "int8"):
        for core in targets:
            where = "GPU" if core is None else "DLA{}".format(core)
            row = {"model": model, "precision": precision, "device": where}
            engine = os.path.join(folder, "{}_{}_{}.engine".format(model, precision, where.lower()))
            try:
                build(onnx_path, engine, precision, calibration=manifest if precision == "int8" else None,
                      dla_core=core)
                row["agreement"] = agreement(onnx_path, engine, size)
                with open_artifact(engine) as segmenter:
                    row["p50_ms"] = bench(segmenter, iterations, 10)["latency_ms"]["p50"]
                row["passed"] = row["agreement"] >= MIN_AGREEMENT[precision]
            except Exception as exc:  # a failed build is a row, not a crash
                row.update(passed=False, error=" ".join(str(exc).split())[:160] or type(exc).__name__)
                if os.environ.get("EDGESEG_DEBUG"):
                    traceback.print_exc()
            rows.append(row)
            print_row(row)
    return rows


def print_row(row: Dict) -> None:
    result = "PASS" if row["passed"] else "FAIL"
    detail = row.get("error") or "agreement {:.2%}, p50 {:.2f} ms".format(row["agreement"], row["p50_ms"])
    print("| {} | {} | {} | {} | {} |".format(row["model"], row["precision"], row["device"], result, detail),
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(m for m in available_models() if m not in NOT_FOR_TENSORRT))
    parser.add_argument("--size", default="512x256")
    parser.add_argument("--onnx-dir", help="pre-exported <model>.onnx files (for a Jetson without torch)")
    parser.add_argument("--out", default="runs/selftest")
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    if not tensorrt_available():
        print("TensorRT and pycuda not found: this self-test runs on a Jetson (or a CUDA machine with TensorRT)")
        return 2
    size = parse_size(args.size)
    cores = dla_core_count()
    print("edgeseg Jetson self-test: {} at {}, GPU + {} DLA core(s)".format(args.models, args.size, cores))
    print("| model | precision | device | result | detail |\n|---|---|---|---|---|")
    rows = []
    for model in args.models.split(","):
        rows += check(model, size, os.path.join(args.out, model), args.onnx_dir, cores, args.iterations)
    failed = [r for r in rows if not r["passed"]]
    print("{} of {} passed".format(len(rows) - len(failed), len(rows)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
