"""The whole chain on embedded synthetic street scenes; prints each stage's command and a summary.

The model is DeepLabV3-MobileNetV3 with random weights until `edgeseg train` exists, so its masks
are noise: the demo proves the chain and its timings, not accuracy.
"""
import argparse
import json
import os
import shlex
import sys

from edgeseg.cli import main as edgeseg
from edgeseg.data.synthetic import CLASSES, write_dataset, write_video


def stage(*argv: str) -> None:
    print("\n$ edgeseg " + " ".join(shlex.quote(a) for a in argv), flush=True)
    code = edgeseg(list(argv))
    if code:
        sys.exit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--input-size", default="512x256", help="model input WxH (default 512x256)")
    parser.add_argument("--frames", type=int, default=60, help="frames in the synthetic video")
    args = parser.parse_args()

    out = args.out
    data = os.path.join(out, "synthetic_val")
    video = os.path.join(out, "street.mp4")
    print("synthetic data: {} labelled scenes in {}, a {}-frame video {}".format(24, data, args.frames, video))
    write_dataset(data, 24, 480, 360, seed=1000)
    write_video(video, frames=args.frames, width=640, height=360, fps=10.0, seed=7)

    onnx_path = os.path.join(out, "deeplabv3_mobilenetv3_synthetic_{}.onnx".format(args.input_size))
    stage("export", "deeplabv3_mobilenetv3", "--num-classes", str(len(CLASSES)), "--classes", "synthetic",
          "--input-size", args.input_size, "--output-kind", "classmap", "-o", onnx_path)
    built = os.path.splitext(onnx_path)[0] + "_fp16.engine"
    stage("build", onnx_path, "--precision", "fp16", "-o", built)
    if not os.path.exists(built):
        built = os.path.splitext(built)[0] + ".ort.onnx"
    bench_json, eval_json, report_json = (os.path.join(out, n) for n in ("bench.json", "eval.json", "run.json"))
    stage("bench", onnx_path, built, "--iterations", "30", "--json", bench_json)
    stage("eval", built, "--data", data, "--json", eval_json)
    stage("run", built, "--source", video, "--output", os.path.join(out, "street_overlay.mp4"),
          "--report", report_json, "--no-display")

    bench, evaluation, report = (json.load(open(p)) for p in (bench_json, eval_json, report_json))
    print("\n== edgeseg demo summary ==")
    for row in bench["results"]:
        print("bench  {:<48} {:>7.1f} ms p50  {:>6.1f} fps  ({})".format(
            os.path.basename(row["artifact"]), row["latency_ms"]["p50"], row["fps"], row["backend"]))
    print("eval   mIoU {:.1%} on {} synthetic scenes (random weights until training lands)".format(
        evaluation["miou"], evaluation["images"]))
    print("run    {} frames, {:.1f} fps end to end, infer p50 {:.1f} ms -> {}".format(
        report["frames"], report["fps"], report["stages_ms"]["infer"]["p50"], report["output"]))


if __name__ == "__main__":
    main()
