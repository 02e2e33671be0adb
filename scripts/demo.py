"""The whole chain on embedded synthetic street scenes; prints each stage's command and a summary.

Trains BiSeNetV2 briefly on synthetic scenes rendered on the fly (a few minutes on two CPU cores),
then exports it, calibrates INT8 (checking both INT8 models it ships on held-out scenes), builds FP16 and
INT8, benchmarks, evaluates and runs it on a synthetic street video, and prints FP32 against INT8.
"""
import argparse
import json
import os
import shlex
import sys

from edgeseg.artifacts import read_sidecar
from edgeseg.cli import main as edgeseg
from edgeseg.data.synthetic import write_dataset, write_video
from edgeseg.metrics import drop_text


def stage(*argv: str) -> None:
    print("\n$ edgeseg " + " ".join(shlex.quote(a) for a in argv), flush=True)
    code = edgeseg(list(argv))
    if code:
        sys.exit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--model", default="bisenetv2", help="model to train and deploy (default bisenetv2)")
    parser.add_argument("--input-size", default="256x128", help="model input WxH (default 256x128)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--train-scenes", type=int, default=128, help="synthetic scenes per epoch (default 128)")
    parser.add_argument("--frames", type=int, default=60, help="frames in the synthetic video")
    args = parser.parse_args()

    out = args.out
    data = os.path.join(out, "synthetic_val")
    video = os.path.join(out, "street.mp4")
    calibration_data = os.path.join(out, "synthetic_calibration")
    print("synthetic data: {} labelled scenes in {}, 32 calibration scenes in {}, a {}-frame video {}".format(
        24, data, calibration_data, args.frames, video))
    write_dataset(data, 24, 384, 192, seed=100000)
    write_dataset(calibration_data, 32, 384, 192, seed=200000)
    write_video(video, frames=args.frames, width=768, height=384, fps=10.0, seed=7)

    checkpoints = os.path.join(out, "train")
    stage("train", args.model, "--data", "synthetic:{}:384x192".format(args.train_scenes), "--val-data", data,
          "--input-size", args.input_size, "--epochs", str(args.epochs), "--batch-size", "8", "--optimizer", "adamw",
          "--lr", "0.003", "--weight-decay", "0.0001", "--warmup-steps", "10", "--workers", "1", "--out", checkpoints)
    onnx_path = os.path.join(out, "{}_synthetic_{}.onnx".format(args.model, args.input_size))
    stage("export", args.model, "--weights", os.path.join(checkpoints, "best.pt"), "--input-size", args.input_size,
          "--output-kind", "classmap", "-o", onnx_path)
    calibration_json = os.path.join(out, "calibration.json")
    stage("calibrate", onnx_path, "--data", calibration_data, "--num", "32", "--val", data, "--max-drop", "2.0",
          "--out", os.path.join(out, "calibration"), "--json", calibration_json)
    manifest = json.load(open(calibration_json))["manifest"]
    built, built_int8 = (os.path.splitext(onnx_path)[0] + "_{}.engine".format(p) for p in ("fp16", "int8"))
    stage("build", onnx_path, "--precision", "fp16", "-o", built)
    stage("build", onnx_path, "--precision", "int8", "--calibration", manifest, "-o", built_int8)
    if not os.path.exists(built):
        built, built_int8 = (os.path.splitext(b)[0] + ".ort.onnx" for b in (built, built_int8))
    bench_json, eval_json, eval_int8_json, report_json = (
        os.path.join(out, n) for n in ("bench.json", "eval.json", "eval_int8.json", "run.json"))
    stage("bench", onnx_path, built, built_int8, "--iterations", "30", "--json", bench_json)
    stage("eval", built, "--data", data, "--json", eval_json)
    stage("eval", built_int8, "--data", data, "--json", eval_int8_json)
    stage("run", built, "--source", video, "--output", os.path.join(out, "street_overlay.mp4"),
          "--report", report_json, "--no-display")

    bench, evaluation, report = (json.load(open(p)) for p in (bench_json, eval_json, report_json))
    print_int8(bench, json.load(open(calibration_json))["accuracy"], json.load(open(eval_int8_json)), built, built_int8,
               manifest)
    print("\n== edgeseg demo summary ==")
    for row in bench["results"]:
        print("bench  {:<48} {:>7.1f} ms p50  {:>6.1f} fps  ({})".format(
            os.path.basename(row["artifact"]), row["latency_ms"]["p50"], row["fps"], row["backend"]))
    with open(os.path.join(checkpoints, "summary.json")) as f:
        best_miou = json.load(f)["best_miou"]
    print("train  {} epochs of {} scenes: best val mIoU {:.1%}".format(args.epochs, args.train_scenes, best_miou))
    print("eval   mIoU {:.1%}, pixel accuracy {:.1%} on {} held-out synthetic scenes ({})".format(
        evaluation["miou"], evaluation["pixel_accuracy"], evaluation["images"], os.path.basename(built)))
    print("run    {} frames, {:.1f} fps end to end, infer p50 {:.1f} ms -> {}".format(
        report["frames"], report["fps"], report["stages_ms"]["infer"]["p50"], report["output"]))


def print_int8(bench: dict, accuracy: dict, evaluation_int8: dict, built: str, built_int8: str, manifest: str) -> None:
    """FP32 against INT8 side by side: latency and size of the built artifacts, mIoU of each shipped model."""
    latency = {os.path.basename(r["artifact"]): r["latency_ms"]["p50"] for r in bench["results"]}
    folder = os.path.dirname(manifest)
    outputs = json.load(open(manifest))["outputs"]
    print("\n== FP32 against INT8 (held-out synthetic scenes; calibrate checked both INT8 models it ships) ==")
    print("{:<22}{:>14}{:>10}{:>10}".format("model", "latency p50", "MB", "mIoU"))
    for path, miou in ((built, accuracy["fp32_miou"]), (built_int8, evaluation_int8["miou"])):
        print("{:<22}{:>11.1f} ms{:>10.1f}{:>9.1%}".format(
            "{} artifact".format(read_sidecar(path)["precision"].upper()), latency[os.path.basename(path)],
            os.path.getsize(path) / 1e6, miou))
    for key, label in (("tensorrt_qdq", "INT8 TensorRT Q/DQ"), ("onnxruntime_int8", "INT8 ONNX Runtime")):
        model = accuracy["models"][key]
        print("{:<22}{:>14}{:>10.1f}{:>9.1%}  ({})".format(
            label, "-", os.path.getsize(os.path.join(folder, outputs[key]["file"])) / 1e6, model["miou"],
            drop_text(model["drop_points"], model.get("drop_interval_points"))))


if __name__ == "__main__":
    main()
