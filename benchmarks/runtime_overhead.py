"""PyTorch eager vs edgeseg's ONNX Runtime backend vs a bare ONNX Runtime session, side by side.

Exports deeplabv3_mobilenetv3 at 1024x512 (random weights: timing does not depend on them), then
times the three on one input, interleaved round by round in one process, with ONNX Runtime's
thread spinning off (idle pools would otherwise steal the two cores from whichever runs). Prints
medians and the ratios. Targets on the 2-core dev machine: edgeseg within 5% of the bare session,
and at least 3.5x faster than PyTorch eager.

    .venv/bin/python benchmarks/runtime_overhead.py [--rounds 30] [--size 1024x512]
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from edgeseg.preprocess import parse_size  # noqa: E402
from edgeseg.runtime import open_artifact  # noqa: E402
from edgeseg.workstation.export import export  # noqa: E402
from edgeseg.workstation.models import build_model  # noqa: E402

MODEL = "deeplabv3_mobilenetv3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--size", default="1024x512")
    args = parser.parse_args()
    width, height = parse_size(args.size)

    folder = tempfile.mkdtemp(prefix="edgeseg-bench-")
    path = os.path.join(folder, "model.onnx")
    export(MODEL, 19, (width, height), path, log=lambda *_: None)

    x = np.random.RandomState(0).standard_normal((1, 3, height, width)).astype(np.float32)
    model = build_model(MODEL, 19)
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    bare = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    segmenter = open_artifact(path, spinning=False)
    x_torch = torch.from_numpy(x)

    def pytorch():
        with torch.inference_mode():
            model(x_torch)

    runners = {
        "pytorch eager": pytorch,
        "bare onnxruntime": lambda: bare.run(None, {"input": x}),
        "edgeseg backend": lambda: segmenter.backend.infer(x),
    }
    times = {name: [] for name in runners}
    for round_ in range(args.warmup + args.rounds):
        for name, run in runners.items():
            started = time.perf_counter()
            run()
            if round_ >= args.warmup:
                times[name].append((time.perf_counter() - started) * 1000.0)

    median = {name: float(np.median(values)) for name, values in times.items()}
    print("{} at {}x{}, {} rounds interleaved, torch {} ({} threads), onnxruntime {}".format(
        MODEL, width, height, args.rounds, torch.__version__, torch.get_num_threads(), ort.__version__))
    for name, value in median.items():
        print("  {:<18} median {:8.1f} ms   p90 {:8.1f} ms".format(name, value, np.percentile(times[name], 90)))
    overhead = median["edgeseg backend"] / median["bare onnxruntime"]
    speedup = median["pytorch eager"] / median["edgeseg backend"]
    print("edgeseg / bare onnxruntime = {:.3f}  (target <= 1.05: {})".format(
        overhead, "ok" if overhead <= 1.05 else "MISSED"))
    print("pytorch eager / edgeseg    = {:.2f}x (target >= 3.5: {})".format(
        speedup, "ok" if speedup >= 3.5 else "MISSED"))


if __name__ == "__main__":
    main()
