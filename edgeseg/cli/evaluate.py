"""`edgeseg eval`: mIoU and per-class IoU of an artifact on labelled images."""
import argparse

from ..artifacts import check_outputs, write_json_atomic
from ..progress import Progress
from .arguments import COUNT
from .common import console, open_segmenter


def cmd_eval(args: argparse.Namespace) -> None:
    from ..evaluate import evaluate

    check_outputs(files=[args.json], inputs=[args.artifact, args.data])
    with open_segmenter(args, args.artifact) as segmenter, Progress("image", enabled=not console.quiet) as progress:
        result = evaluate(segmenter, args.data, ignore_index=args.ignore_index, limit=args.limit, progress=progress)
    width = max(len(name) for name in result["per_class_iou"]) + 2
    print("{}: {} images on {}".format(args.data, result["images"], result["backend"]))
    for name, iou in result["per_class_iou"].items():
        print("  {}{}".format(name.ljust(width), "   n/a" if iou is None else "{:6.2f}".format(100 * iou)))
    print("mIoU {:.2f}%  pixel accuracy {:.2f}%".format(100 * result["miou"], 100 * result["pixel_accuracy"]))
    if args.json:
        write_json_atomic(args.json, result)
        console.say("wrote {}".format(args.json))


def register(sub, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    p = sub.add_parser("eval", parents=[common, model], help="mIoU on labelled images")
    p.add_argument("artifact", help="engine or ONNX model to evaluate")
    p.add_argument("--data", required=True, help="folder with images/ and labels/, or a list file")
    p.add_argument("--ignore-index", type=int, default=255, help="label value to ignore (default 255)")
    p.add_argument("--limit", type=COUNT, help="evaluate the first N pairs only")
    p.add_argument("--json", help="write the results as JSON here")
    p.set_defaults(func=cmd_eval)
