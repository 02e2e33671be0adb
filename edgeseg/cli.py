"""`edgeseg <stage>`: the command-line front door. Parses, calls one function, prints.

User errors (EdgesegError) print one line and exit 2; `--debug` shows the traceback instead.
Workstation stages (export) import torch lazily, so device stages run without it.
"""
import argparse
import os
import signal
import sys
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from . import __version__
from .artifacts import check_outputs, read_sidecar, write_json_atomic
from .errors import ConfigError, EdgesegError
from .model_registry import available_models
from .preprocess import parse_size
from .profiling import format_table
from .runtime.builder import PREPROCESS_CHOICES


class _Progress:
    """Callable `(done, total)` drawing a tqdm bar on stderr when tqdm is installed and stderr is a
    terminal; silent otherwise."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self._bar = None

    def __call__(self, done: int, total: Optional[int] = None) -> None:
        if self._bar is None:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, unit=self.unit, file=sys.stderr, disable=not sys.stderr.isatty(),
                             leave=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _open(args: argparse.Namespace, path: str, spinning: bool = True):
    """Open an artifact with the preprocessing flags. `spinning=False` when other threads share the
    CPU with ONNX Runtime (the run pipeline): idle workers then sleep instead of busy-waiting."""
    from .runtime import PreprocessOverrides, open_artifact

    overrides = PreprocessOverrides(mean=args.mean, std=args.std, bgr=args.bgr, size=args.input_size,
                                    num_classes=args.num_classes, classes=args.classes)
    return open_artifact(path, overrides, threads=args.threads, spinning=spinning)


def cmd_export(args: argparse.Namespace) -> None:
    try:
        from .workstation.export import export
    except ImportError as exc:
        raise ConfigError("export runs on the workstation side and needs torch, torchvision and onnx ({}); "
                          "`pip install edgeseg[export]`".format(exc))

    check_outputs(artifacts=[args.output], inputs=[args.weights])
    record = export(args.model, args.num_classes, args.input_size, args.output, weights=args.weights,
                    output_kind=args.output_kind, dynamic=args.dynamic, classes=args.classes, width=args.width)
    print("wrote {} ({:.1f} MB) and its sidecar {}.json".format(args.output, record["size_bytes"] / 1e6, args.output))


def cmd_train(args: argparse.Namespace) -> None:
    try:
        from .workstation.train import TrainConfig, train
    except ImportError as exc:
        raise ConfigError("train runs on the workstation side and needs torch and torchvision ({}); "
                          "`pip install edgeseg[train]`".format(exc))

    out = args.out or os.path.join("runs", "train", args.model)
    check_outputs(folders=[out], inputs=[args.data, args.val_data, args.fine_tune])
    config = TrainConfig(
        model=args.model, data=args.data, out=out,
        val_data=args.val_data, input_size=args.input_size, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, optimizer=args.optimizer, weight_decay=args.weight_decay, loss=args.loss,
        class_weights=args.class_weights, warmup_steps=args.warmup_steps, workers=args.workers, seed=args.seed,
        amp=not args.no_amp, fine_tune=args.fine_tune, resume=args.resume, val_limit=args.val_limit,
        steps_per_epoch=args.steps_per_epoch, stop_after=args.stop_after, progress=sys.stderr.isatty(),
        width=args.width, cutmix=args.cutmix, mixup=args.mixup)
    summary = train(config)
    if summary["best_miou"] is not None:
        print("best val mIoU {:.2%}: {}".format(summary["best_miou"], summary["best"]))
    print("last checkpoint {} (export it with `edgeseg export {} --weights {} ...`)".format(
        summary["last"], args.model, summary["best"] or summary["last"]))


def cmd_calibrate(args: argparse.Namespace) -> None:
    from .quantize import calibrate

    check_outputs(files=[args.json], folders=[args.out], inputs=[args.model, args.data, args.val])
    manifest = calibrate(args.model, args.data, num=args.num, seed=args.seed, method=args.method, out_dir=args.out,
                         weight_scales=args.weight_scales)
    result = {"manifest": manifest["path"], "outputs": manifest["outputs"]}
    if args.val:
        from .int8_guard import guard_calibration, summary

        report = guard_calibration(manifest["path"], args.val, ignore_index=args.ignore_index,
                                   max_drop=args.max_drop, limit=args.val_limit)
        _print_accuracy(report)
        result["accuracy"] = summary(report, args.val)
        if not report["passed"]:
            if args.json:
                write_json_atomic(args.json, result)
            raise EdgesegError("INT8 mIoU drop {:.2f} points ({}) > --max-drop {} even with {} op(s) in float; see {}"
                               .format(report["drop_points"], report["verdict_model"], args.max_drop,
                                       len(report["float_ops"]),
                                       os.path.join(os.path.dirname(manifest["path"]), "accuracy.json")))
    if args.json:
        write_json_atomic(args.json, result)


def _print_accuracy(report: Dict[str, Any]) -> None:
    """Per-class IoU of FP32 and of each shipped INT8 model, with the change in points."""
    from .int8_guard import SHIPPED

    fp32, models = report["fp32"]["per_class_iou"], report["models"]
    width = max(len(name) for name in fp32) + 2

    def cell(value: Any, sign: bool = False) -> str:
        return "n/a" if value is None else ("{:+.2f}" if sign else "{:.2f}").format(value)

    columns = ["FP32"] + [label for key in models for label in (SHIPPED.get(key, key), "change")]
    print("class".ljust(width) + "".join("{:>16}".format(c) for c in columns))
    for name in fp32:
        cells = [cell(None if fp32[name] is None else 100 * fp32[name])]
        for model in models.values():
            value = model["per_class_iou"].get(name)
            cells += [cell(None if value is None else 100 * value), cell(model["per_class_change_points"].get(name),
                                                                          sign=True)]
        print(name.ljust(width) + "".join("{:>16}".format(c) for c in cells))
    print("mIoU FP32 {:.2f}; {} (limit {} points, verdict on {}); kept in float: {}".format(
        100 * report["fp32"]["miou"], "; ".join("{} {:.2f} (drop {:.2f})".format(
            SHIPPED.get(key, key), 100 * m["miou"], m["drop_points"]) for key, m in models.items()),
        report["max_drop"], SHIPPED.get(report["verdict_model"]), ", ".join(report["float_ops"]) or "nothing"))


def cmd_build(args: argparse.Namespace) -> None:
    from .runtime.builder import build

    profile = {}  # type: Dict[str, Any]
    if args.profile:
        from .runtime.profiles import load_profile

        profile = load_profile(args.profile)

    def pick(flag: Any, key: str, default: Any) -> Any:
        """A flag given on the command line, else the profile's value, else the default."""
        if flag is not None:
            return flag
        return profile[key] if profile.get(key) is not None else default

    check_outputs(files=[args.json], artifacts=[args.output], inputs=[args.model, args.calibration])
    output, record, note = build(args.model, args.output, pick(args.precision, "precision", "fp16"),
                                 pick(args.workspace, "workspace_mb", 1024), calibration=args.calibration,
                                 dla_core=pick(args.dla_core, "dla_core", None),
                                 timing_cache=pick(args.timing_cache, "timing_cache", None),
                                 keep_scores=args.keep_scores, preprocess=args.preprocess)
    if note:
        print(note)
    print("wrote {} ({}, {}, {:.1f} MB) and its sidecar".format(
        output, record["runtime"], record["precision"], record["size_bytes"] / 1e6))
    accuracy = record.get("int8_accuracy")
    if accuracy and accuracy["measured"]:
        print("INT8 accuracy of the model built ({}), measured by calibrate on {}: mIoU {:.2%} against FP32 {:.2%}, "
              "drop {:.2f} points (limit {})".format(accuracy["model"], accuracy["val"], accuracy["miou"],
                                                     accuracy["fp32_miou"], accuracy["drop_points"],
                                                     accuracy["max_drop"]))
    elif accuracy:
        print("INT8 accuracy of the model built ({}): not measured ({})".format(accuracy["model"], accuracy["why"]))
    if args.json:
        write_json_atomic(args.json, {"artifact": output, "note": note, "sidecar": record})


def cmd_run(args: argparse.Namespace) -> None:
    from .stream.loop import run
    from .stream.sinks import FOURCC as VIDEO_EXTENSIONS, WindowSink

    report_files = [args.report] + ([os.path.splitext(args.report)[0] + e for e in (".csv", ".png")]
                                    if args.report else [])
    video = args.output and os.path.splitext(args.output)[1].lower() in VIDEO_EXTENSIONS
    check_outputs(files=([args.output] if video else []) + report_files,
                  folders=[] if video else [args.output], inputs=[args.artifact, args.source])
    if not args.no_display and not WindowSink.available():
        print("no display (or OpenCV without GUI): not showing a window; --output saves the overlay",
              file=sys.stderr)
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    progress = _Progress("frame")
    try:
        with _open(args, args.artifact, spinning=False) as segmenter:
            report = run(segmenter, args.source, output=args.output, display=not args.no_display, alpha=args.alpha,
                         max_frames=args.max_frames, progress=progress, sync=args.sync,
                         visualize=args.visualize, hud=not args.no_hud, loop=args.loop, stop=stop,
                         frames_csv=report_files[1] if args.report else None,
                         log=lambda line: print(line, file=sys.stderr))
    finally:
        progress.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    sample = report.pop("frame_sample")
    print("{}: {} frames on {} ({}{})".format(
        report["source"], report["frames"], report["backend"], report["mode"],
        ", {} dropped".format(report["dropped_frames"]) if report["live"] else ""))
    print(format_table(report["stages_ms"]))
    if report.get("source_ended_early"):
        print("warning: {}: {}".format(report["source"], report["source_ended_early"]), file=sys.stderr)
    print("throughput {:.1f} fps{}".format(report["fps"], " (stopped early)" if report["interrupted"] else ""))
    jetson = report.get("jetson")
    if jetson and jetson["tegrastats"]:
        print("Jetson: {:.1f} W mean input power, {:.2f} fps/W, GPU {:.0f}% mean, nvpmodel {}, jetson_clocks {}".format(
            jetson["tegrastats"].get("power_in_w_mean") or float("nan"), jetson["fps_per_watt"] or float("nan"),
            jetson["tegrastats"].get("gpu_load_mean") or float("nan"), jetson["power_mode"], jetson["jetson_clocks"]))
    if args.output:
        print("wrote {} ({} frames)".format(args.output, report["output_frames"]))
    if args.report:
        _write_run_report(args.report, report, sample)


def _write_run_report(path: str, report: Dict[str, Any], sample: List[Dict[str, float]]) -> None:
    """REPORT.json, and beside it the latency plot REPORT.png (the per-frame REPORT.csv was written during
    the run)."""
    from .frame_report import plot_latency_png

    stem = os.path.splitext(path)[0]
    write_json_atomic(path, report)
    written = [path]
    if sample:
        plot_latency_png(sample, stem + ".png", title="{} on {}".format(os.path.basename(report["artifact"]),
                                                                        report["backend"]),
                         end_to_end=report["stages_ms"]["end_to_end"])
        written += [stem + ".csv", stem + ".png"]
    print("wrote {}".format(", ".join(written)))


def cmd_bench(args: argparse.Namespace) -> None:
    from .bench import markdown

    check_outputs(files=[args.json, args.csv], inputs=list(args.artifacts) + [args.source, args.data])
    results = []  # type: List[Dict[str, Any]]
    for path in args.artifacts:
        try:
            results.append(_bench_one(args, path))
        except EdgesegError as exc:
            if len(args.artifacts) == 1:
                raise
            results.append({"artifact": path, "error": str(exc)})
    print(markdown(results))
    if args.json:
        write_json_atomic(args.json, {"iterations": args.iterations, "warmup": args.warmup, "results": results})
        print("wrote {}".format(args.json))
    if args.csv:
        _write_bench_csv(args.csv, results)
        print("wrote {}".format(args.csv))
    failed = [r["artifact"] for r in results if "error" in r]
    if failed:
        raise EdgesegError("{} of {} artifact(s) failed ({}); their rows say why".format(
            len(failed), len(results), ", ".join(failed)))


def _bench_one(args: argparse.Namespace, path: str) -> Dict[str, Any]:
    """Engine-only numbers, plus end to end on --source and mIoU on --data when given."""
    from .bench import bench

    with _open(args, path) as segmenter:
        result = bench(segmenter, args.iterations, args.warmup, seconds=args.seconds, batch=args.batch)
        if args.source:
            from .stream.loop import run

            report = run(segmenter, args.source, max_frames=args.frames, log=lambda *_: None)
            report.pop("frame_sample")
            result["end_to_end"] = {"fps": report["fps"], "frames": report["frames"],
                                    "latency_ms": report["stages_ms"]["end_to_end"]}
        if args.data:
            from .evaluate import evaluate

            result["miou"] = evaluate(segmenter, args.data, ignore_index=args.ignore_index)["miou"]
    return result


def _write_bench_csv(path: str, results: List[Dict[str, Any]]) -> None:
    import csv

    from .artifacts import atomic_path
    from .bench import COLUMNS, table_rows

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([title for _, title in COLUMNS])
            writer.writerows(table_rows(results))


def cmd_eval(args: argparse.Namespace) -> None:
    from .evaluate import evaluate

    check_outputs(files=[args.json], inputs=[args.artifact, args.data])
    with _open(args, args.artifact) as segmenter:
        progress = _Progress("image")
        try:
            result = evaluate(segmenter, args.data, ignore_index=args.ignore_index, limit=args.limit,
                              progress=progress)
        finally:
            progress.close()
    width = max(len(name) for name in result["per_class_iou"]) + 2
    print("{}: {} images on {}".format(args.data, result["images"], result["backend"]))
    for name, iou in result["per_class_iou"].items():
        print("  {}{}".format(name.ljust(width), "   n/a" if iou is None else "{:6.2f}".format(100 * iou)))
    print("mIoU {:.2f}%  pixel accuracy {:.2f}%".format(100 * result["miou"], 100 * result["pixel_accuracy"]))
    if args.json:
        write_json_atomic(args.json, result)
        print("wrote {}".format(args.json))


def _describe_sidecar(path: str, record: Dict[str, Any]) -> str:
    keys = OrderedDict([
        ("stage", "made by"), ("model", "model"), ("num_classes", "classes"), ("input_shape", "input shape"),
        ("output_kind", "output"), ("precision", "precision"), ("runtime", "runtime"), ("opset", "opset"),
        ("tensorrt_version", "TensorRT"), ("gpu_name", "GPU"), ("onnxruntime_version", "onnxruntime"),
        ("created", "created"), ("sha256", "sha256"),
    ])
    lines = ["{}".format(path)]
    for key, label in keys.items():
        if record.get(key) is not None:
            lines.append("  {:<14}{}".format(label, record[key]))
    edits = record.get("pixel_graph") or {}
    if "preprocess" in record:
        spec = record["preprocess"]
        lines.append("  {:<14}{}x{} {} x*{:.5g} mean {} std {}{}".format(
            "preprocess", spec["size"][0], spec["size"][1], spec["color_order"].upper(), spec["scale"],
            spec["mean"], spec["std"], " (in the graph: it takes the resized uint8 BGR frame)" if edits.get("input")
            else ""))
    if edits.get("output"):
        lines.append("  {:<14}{} in the graph, {} class map out".format(
            "argmax", " → ".join(edits["output"]["ops"]), edits["output"]["dtype"]))
    if record.get("classes"):
        lines.append("  {:<14}{}".format("class names", ", ".join(record["classes"])))
    if record.get("parity"):
        lines.append("  {:<14}argmax agreement {:.4%} on {}".format(
            "parity", record["parity"]["argmax_agreement"], record["parity"]["runtime"]))
    if record.get("weights"):
        lines.append("  {:<14}{}".format("weights", record["weights"].get("source")))
    if record.get("parent"):
        lines.append("  {:<14}{} ({}...)".format("built from", record["parent"]["file"], record["parent"]["sha256"][:12]))
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> None:
    if args.artifact is None:
        from .envinfo import collect, format_report

        print(format_report(collect()))
        return
    from .artifacts import require_file

    require_file(args.artifact, "artifact", "check the path")
    record = read_sidecar(args.artifact)
    if record is not None and "preprocess" in record:
        print(_describe_sidecar(args.artifact, record))
        return
    with _open(args, args.artifact) as segmenter:
        backend = segmenter.backend
        print("{} (no sidecar: preprocessing from flags or defaults)".format(args.artifact))
        print("  input   {}\n  output  {}\n  runtime {}".format(backend.input_spec, backend.output_spec,
                                                             backend.describe()))


def cmd_export_deepstream(args: argparse.Namespace) -> None:
    from .deploy.deepstream import export_deepstream

    check_outputs(folders=[args.output], inputs=[args.artifact, args.calibration])
    result = export_deepstream(args.artifact, args.output, precision=args.precision, calibration=args.calibration,
                               dla_core=args.dla_core, source=args.source, save_video=args.save_video)
    for note in result["notes"]:
        print("note: " + note)
    print("wrote {} files to {} ({}); on the device: cd {} && deepstream-app -c {}".format(
        len(result["files"]), result["folder"], result["precision"], result["folder"],
        os.path.basename(result["app_config"])))


def cmd_export_triton(args: argparse.Namespace) -> None:
    from .deploy.triton import export_triton

    check_outputs(folders=[args.output], inputs=[args.artifact])
    result = export_triton(args.artifact, args.output, name=args.name, version=args.version,
                           max_batch_size=args.max_batch_size, instances=args.instances, cpu=args.cpu)
    print("wrote {} version {} ({}) to {}; serve it with tritonserver --model-repository {}".format(
        os.path.basename(result["model_dir"]), result["version"], result["platform"], result["model_dir"],
        args.output))


def _floats3(text: str) -> List[float]:
    values = [float(v) for v in text.replace(",", " ").split()]
    if len(values) != 3:
        raise argparse.ArgumentTypeError("expected three numbers, e.g. 0.485,0.456,0.406")
    return values


def _size(text: str):
    try:
        return parse_size(text)
    except EdgesegError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def _number_in(kind: type, low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False):
    """An argparse type: a `kind` number within [low, high] (low excluded with `low_open`), refused at parse
    time with the range in the message."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("{!r} is not {}".format(text, "an integer" if kind is int else "a number"))
        if value != value or (low is not None and (value <= low if low_open else value < low)) or \
                (high is not None and value > high):
            bounds = "{} {}".format(">" if low_open else ">=", low) if high is None else "{} to {}".format(low, high)
            raise argparse.ArgumentTypeError("{} is out of range (must be {})".format(text, bounds))
        return value

    return parse


COUNT = _number_in(int, 1)  # 1, 2, ...
INDEX = _number_in(int, 0)  # 0, 1, ...
POSITIVE = _number_in(float, 0, low_open=True)
FRACTION = _number_in(float, 0, 1)


def _visualizations(text: str) -> List[str]:
    from .stream.render import VISUALIZATIONS

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if not kinds or any(k not in VISUALIZATIONS for k in kinds):
        raise argparse.ArgumentTypeError("{!r}: use overlay, mask, or overlay,mask".format(text))
    return kinds


WIDTH_HELP = "channel width factor, for models that take one (unet: e.g. 0.25 for edge devices)"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): `edgeseg run: error: argument --alpha: ... (see -h)`."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, "{}: error: {} (see `{} -h`)\n".format(self.prog, message, self.prog))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    model_flags = argparse.ArgumentParser(add_help=False)
    group = model_flags.add_argument_group("for ONNX files without a sidecar")
    group.add_argument("--mean", type=_floats3, help="per-channel mean after scaling to [0,1] (default ImageNet)")
    group.add_argument("--std", type=_floats3, help="per-channel std (default ImageNet)")
    group.add_argument("--bgr", action="store_true", help="the model takes BGR (default RGB)")
    group.add_argument("--input-size", type=_size, help="WxH, for models with dynamic input")
    group.add_argument("--num-classes", type=_number_in(int, 1, 255), help="class count, for models that output a class map")
    group.add_argument("--classes", help="class names: a palette name (cityscapes, camvid, voc, ade20k) or file")
    model_flags.add_argument("--threads", type=INDEX, default=0, help="ONNX Runtime intra-op threads (0: default)")

    parser = _Parser(
        prog="edgeseg", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Real-time semantic segmentation from PyTorch to NVIDIA Jetson, one command per stage.",
        epilog="example:\n"
               "  edgeseg export deeplabv3_mobilenetv3 --num-classes 19 --input-size 1024x512 -o dlv3.onnx\n"
               "  edgeseg build dlv3.onnx --precision fp16\n"
               "  edgeseg run dlv3_fp16.engine --source video.mp4 --output overlay.mp4 --report report.json\n"
               "`edgeseg <stage> -h` describes each stage.")
    parser.add_argument("--version", action="version", version="edgeseg " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="<stage>")
    sub.required = True

    p = sub.add_parser("train", parents=[common], help="train a model (torch; torchrun for several GPUs)")
    p.add_argument("model", help="one of: " + ", ".join(available_models()))
    p.add_argument("--data", required=True,
                   help="dataset root (CamVid, Cityscapes, VOC, ADE20K, images/+labels/ folder), list file, "
                        "or synthetic:N")
    p.add_argument("--val-data", help="validation set, same forms (default: none)")
    p.add_argument("--input-size", type=_size, default=(512, 256), help="training crop WxH (default 512x256)")
    p.add_argument("--epochs", type=COUNT, default=50)
    p.add_argument("--batch-size", type=_number_in(int, 2), default=8,
                   help="images per step, at least 2 (BatchNorm needs two to train; default 8)")
    p.add_argument("--lr", type=POSITIVE, default=0.01)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    p.add_argument("--weight-decay", type=_number_in(float, 0), default=5e-4)
    p.add_argument("--loss", choices=("ce", "ohem", "focal"), default="ce")
    p.add_argument("--class-weights", choices=("none", "inverse", "median", "enet"), default="none")
    p.add_argument("--warmup-steps", type=INDEX, default=100)
    p.add_argument("--workers", type=INDEX, default=2, help="data loader processes")
    p.add_argument("--seed", type=INDEX, default=0)
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--fine-tune", help="start from a checkpoint or torchvision weights name (new class count ok)")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt exactly")
    p.add_argument("--val-limit", type=COUNT, help="validate on the first N images only")
    p.add_argument("--steps-per-epoch", type=COUNT, help="cap the steps per epoch")
    p.add_argument("--stop-after", type=COUNT, help="stop this run after N epochs (continue later with --resume)")
    p.add_argument("--width", type=POSITIVE, help=WIDTH_HELP + "; default 1")
    p.add_argument("--cutmix", type=FRACTION, default=0.0, metavar="P",
                   help="CutMix on a batch with probability P (default 0: off)")
    p.add_argument("--mixup", type=FRACTION, default=0.0, metavar="P",
                   help="MixUp on a batch with probability P (default 0: off)")
    p.add_argument("--out", help="output folder (default runs/train/MODEL)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", parents=[common], help="PyTorch model → ONNX (opset 17) + sidecar")
    p.add_argument("model", help="one of: " + ", ".join(available_models()))
    p.add_argument("--num-classes", type=_number_in(int, 1, 255),
                   help="class count (default: from an edgeseg checkpoint's --weights)")
    p.add_argument("--input-size", type=_size, required=True, help="WxH, e.g. 1024x512")
    p.add_argument("--weights", help="checkpoint or state_dict path, or torchvision weights name (default: random "
                                     "init)")
    p.add_argument("--output-kind", choices=("logits", "probs", "classmap"), default="logits",
                   help="probs adds a Softmax (for DeepStream); classmap bakes resize + ArgMax into the graph")
    p.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width")
    p.add_argument("--width", type=POSITIVE, help=WIDTH_HELP + "; default: the checkpoint's, else 1")
    p.add_argument("--classes", help="class names: palette name (cityscapes, camvid, voc, ade20k, synthetic) or file")
    p.add_argument("-o", "--output", required=True, help="output .onnx path")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("calibrate", parents=[common], help="INT8: calibration subset, ranges, Q/DQ models, cache")
    p.add_argument("model", help="FP32 ONNX model from `edgeseg export`")
    p.add_argument("--data", required=True, help="images: a folder (searched recursively), list file or dataset root")
    p.add_argument("--num", type=COUNT, default=500, help="calibration images (default 500; all if fewer)")
    p.add_argument("--seed", type=INDEX, default=0)
    p.add_argument("--method", choices=("auto", "mse", "entropy", "percentile", "minmax"), default="auto",
                   help="activation ranges (default auto: mse and entropy from one pass, keeping the one whose "
                        "TensorRT model agrees better with FP32 on the calibration images; docs/int8_placement.md)")
    p.add_argument("--weight-scales", choices=("channel", "tensor"), default="channel",
                   help="one INT8 scale per output channel (default) or per weight tensor")
    p.add_argument("--val", help="labelled data: evaluate FP32 vs INT8 and guard the mIoU drop")
    p.add_argument("--ignore-index", type=int, default=255, help="label value to ignore in --val")
    p.add_argument("--max-drop", type=float, default=1.0, help="largest mIoU drop in points (default 1.0)")
    p.add_argument("--val-limit", type=COUNT, help="evaluate the first N --val pairs only")
    p.add_argument("--out", default="calibration", help="manifest folder root (default calibration/)")
    p.add_argument("--json", help="write the manifest path, outputs and accuracy here")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("build", parents=[common], help="ONNX → TensorRT engine (or ONNX Runtime artifact)")
    p.add_argument("model", help="ONNX model from `edgeseg export`")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), help="default fp16 (or the profile's)")
    p.add_argument("--calibration", help="manifest from `edgeseg calibrate` (needed for int8)")
    p.add_argument("--dla-core", type=INDEX, help="build for this DLA core, GPU fallback on (Xavier NX: 0 or 1)")
    p.add_argument("--workspace", type=COUNT, help="TensorRT workspace limit in MiB (default 1024)")
    p.add_argument("--timing-cache", help="TensorRT timing cache to reuse and update")
    p.add_argument("--profile", help="device build profile, e.g. engines/xavier_nx.json (flags override it)")
    p.add_argument("--keep-scores", action="store_true",
                   help="output the model's scores (default: ArgMax is appended, the artifact outputs a uint8 "
                        "class map); DeepStream needs scores")
    p.add_argument("--preprocess", choices=PREPROCESS_CHOICES, default="auto",
                   help="graph: the artifact takes the resized uint8 BGR frame and normalises it itself; host: "
                        "float NCHW as exported; auto (default): graph for TensorRT, host for ONNX Runtime")
    p.add_argument("-o", "--output", help="output path (default: beside the model, named by precision)")
    p.add_argument("--json", help="write the artifact path, note and sidecar here")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("run", parents=[common, model_flags], help="segment a video or camera, timing every stage")
    p.add_argument("artifact")
    p.add_argument("--source", required=True,
                   help="video file, image folder, camera (0, /dev/video0), rtsp:// or http:// URL, "
                        "GStreamer pipeline, or csi://0 (Jetson CSI camera)")
    p.add_argument("--output", help="a video (.mp4, .avi, ...) or an image folder")
    p.add_argument("--report", help="latency report: REPORT.json, plus per-frame REPORT.csv and plot REPORT.png")
    p.add_argument("--no-display", action="store_true", help="do not open a window")
    p.add_argument("--visualize", type=_visualizations, default="overlay",
                   help="overlay, mask, or overlay,mask (side by side)")
    p.add_argument("--alpha", type=FRACTION, default=0.5, help="overlay opacity, 0 to 1")
    p.add_argument("--no-hud", action="store_true", help="no fps / per-stage ms on the output")
    p.add_argument("--sync", action="store_true", help="run the stages one after another (for comparison)")
    p.add_argument("--loop", action="store_true", help="restart a video file at its end (long benchmarks)")
    p.add_argument("--max-frames", type=COUNT, help="stop after this many frames")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("bench", parents=[common, model_flags], help="latency, fps and mIoU of several artifacts")
    p.add_argument("artifacts", nargs="+")
    p.add_argument("--iterations", type=COUNT, default=100)
    p.add_argument("--seconds", type=POSITIVE, help="time for this long instead of --iterations")
    p.add_argument("--warmup", type=INDEX, default=10)
    p.add_argument("--batch", type=COUNT, default=1, help="batch size (models exported with --dynamic)")
    p.add_argument("--source", help="also run end to end over this video")
    p.add_argument("--frames", type=COUNT, default=200, help="frames of --source (default 200)")
    p.add_argument("--data", help="also evaluate mIoU on this labelled data")
    p.add_argument("--ignore-index", type=int, default=255)
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--csv", help="write the table as CSV here")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("eval", parents=[common, model_flags], help="mIoU on labelled images")
    p.add_argument("artifact")
    p.add_argument("--data", required=True, help="folder with images/ and labels/, or a list file")
    p.add_argument("--ignore-index", type=int, default=255, help="label value to ignore (default 255)")
    p.add_argument("--limit", type=COUNT, help="evaluate the first N pairs only")
    p.add_argument("--json", help="write the results as JSON here")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export-deepstream", parents=[common],
                       help="DeepStream nvinfer + deepstream-app configs, labels and model files")
    p.add_argument("artifact", help="engine, or ONNX model (with its sidecar)")
    p.add_argument("-o", "--output", required=True, help="folder to write (self-contained: copy it to the device)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), help="ONNX models: nvinfer's build precision "
                                                                          "(default fp16); engines keep their own")
    p.add_argument("--calibration", help="ONNX + int8: manifest from `edgeseg calibrate` (its TensorRT cache)")
    p.add_argument("--dla-core", type=INDEX, help="ONNX models: run on this DLA core, GPU fallback on")
    p.add_argument("--source", default="csi://0", help="deepstream-app source: csi://N, /dev/videoN, a video file "
                                                       "or rtsp:// URL (default csi://0)")
    p.add_argument("--save-video", help="deepstream-app writes an MP4 here instead of showing a window")
    p.set_defaults(func=cmd_export_deepstream)

    p = sub.add_parser("export-triton", parents=[common], help="add an artifact to a Triton model repository")
    p.add_argument("artifact", help="engine (tensorrt_plan) or ONNX model (onnxruntime_onnx), with its sidecar")
    p.add_argument("-o", "--output", required=True, help="model repository folder")
    p.add_argument("--name", help="model name (default: the artifact's file name without extension)")
    p.add_argument("--version", type=COUNT, help="version folder (default: the next free one)")
    p.add_argument("--max-batch-size", type=COUNT, default=8, help="for models with a dynamic batch (default 8)")
    p.add_argument("--instances", type=COUNT, default=1, help="model instances (default 1)")
    p.add_argument("--cpu", action="store_true", help="ONNX models: run on Triton's CPU")
    p.set_defaults(func=cmd_export_triton)

    p = sub.add_parser("info", parents=[common, model_flags], help="an artifact's sidecar, or this machine")
    p.add_argument("artifact", nargs="?")
    p.set_defaults(func=cmd_info)
    return parser


def _quiet_native_logs() -> None:
    """OpenCV's and FFmpeg's own warnings go straight to stderr (a refused connection, a frame FFmpeg could not
    write); edgeseg reports what matters in its one line, so they are silenced unless --debug."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when FFmpeg is first used
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and hasattr(logging, "setLogLevel"):
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.debug:
        _quiet_native_logs()
    try:
        args.func(args)
    except EdgesegError as exc:
        if args.debug:
            raise
        print("edgeseg: error: {}".format(exc), file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the machine's fault, not edgeseg's: disk full, permissions, a file gone
        if args.debug:
            raise
        where = exc.filename or "a file"
        print("edgeseg: error: {}: {} (nothing was replaced: the previous file, if any, is intact)".format(
            where, exc.strerror or exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgeseg: interrupted", file=sys.stderr)
        return 130
    return 0
