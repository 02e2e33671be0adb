"""ONNX Runtime INT8 vs FP32 on this CPU, side by side: DeepLabV3-MobileNetV3 at 1024x512, latency
(interleaved rounds, thread spinning off) and file size, for the u8/s8 model made for ONNX Runtime and
the s8/s8 Q/DQ model made for TensorRT. Targets: ORT INT8 latency <= 0.75x FP32, size <= 0.30x.

    .venv/bin/python benchmarks/int8_speed.py [--rounds 10] [--calib 20]
"""
import argparse
import os
import tempfile
import time

import numpy as np
import onnxruntime as ort

from edgeseg.data.synthetic import write_dataset
from edgeseg.quantize import calibrate
from edgeseg.workstation.export import export


def session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calib", type=int, default=20, help="synthetic calibration images")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="edgeseg-int8-speed-")
    model = os.path.join(folder, "dlv3_1024x512.onnx")
    export("deeplabv3_mobilenetv3", 19, (1024, 512), model, log=lambda *_: None)
    data = write_dataset(os.path.join(folder, "scenes"), args.calib, 1024, 512, seed=3)
    manifest = calibrate(model, data, num=args.calib, method="minmax", out_dir=os.path.join(folder, "cal"),
                         log=lambda *_: None)
    base = os.path.dirname(manifest["path"])
    paths = {"fp32": model,
             "int8 u8/s8 (for ORT)": os.path.normpath(os.path.join(base, manifest["outputs"]["onnxruntime_int8"])),
             "int8 s8/s8 Q/DQ (for TensorRT)": os.path.normpath(os.path.join(base,
                                                                         manifest["outputs"]["tensorrt_qdq"]))}
    sessions = {name: session(path) for name, path in paths.items()}
    x = np.random.RandomState(0).standard_normal((1, 3, 512, 1024)).astype(np.float32)
    times = {name: [] for name in sessions}
    for round_ in range(args.rounds + 2):
        for name, s in sessions.items():
            started = time.perf_counter()
            s.run(None, {"input": x})
            if round_ >= 2:
                times[name].append((time.perf_counter() - started) * 1000)
    fp32_ms, fp32_mb = np.median(times["fp32"]), os.path.getsize(model) / 1e6
    print("deeplabv3_mobilenetv3 1024x512, onnxruntime {} CPU, {} rounds interleaved, {} calibration images"
          .format(ort.__version__, args.rounds, args.calib))
    print("| model | median ms | vs FP32 | MB | size vs FP32 |")
    print("|---|---|---|---|---|")
    for name, path in paths.items():
        ms, mb = np.median(times[name]), os.path.getsize(path) / 1e6
        print("| {} | {:.1f} | {:.2f}x | {:.1f} | {:.2f} |".format(name, ms, ms / fp32_ms, mb, mb / fp32_mb))


if __name__ == "__main__":
    main()
