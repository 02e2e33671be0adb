"""`edgeseg calibrate`: INT8 ranges and models, and with --val the accuracy guard (exit 1 when it fails)."""
import argparse

from ..artifacts import check_outputs, write_json_atomic
from ..errors import CheckFailed
from .arguments import COUNT, INDEX


def cmd_calibrate(args: argparse.Namespace) -> None:
    from ..quantize import calibrate

    check_outputs(files=[args.json], folders=[args.out], inputs=[args.model, args.data, args.val])
    manifest = calibrate(args.model, args.data, num=args.num, seed=args.seed, method=args.method, out_dir=args.out,
                         weight_scales=args.weight_scales)
    result = {"manifest": manifest["path"], "outputs": manifest["outputs"]}
    if args.val:
        from ..quantize.guard import accuracy_table, failure_message, guard_calibration, summary

        report = guard_calibration(manifest["path"], args.val, ignore_index=args.ignore_index,
                                   max_drop=args.max_drop, limit=args.val_limit)
        print(accuracy_table(report))
        result["accuracy"] = summary(report, args.val)
        if not report["passed"]:
            if args.json:
                write_json_atomic(args.json, result)
            raise CheckFailed(failure_message(report, manifest["path"]))
    if args.json:
        write_json_atomic(args.json, result)


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("calibrate", parents=[common], help="INT8: calibration subset, ranges, Q/DQ models, cache")
    p.add_argument("model", help="FP32 ONNX model from `edgeseg export`")
    p.add_argument("--data", required=True, help="images: a folder (searched recursively), list file or dataset root")
    p.add_argument("--num", type=COUNT, default=500, help="calibration images (default 500; all if fewer)")
    p.add_argument("--seed", type=INDEX, default=0, help="seed of the calibration subset's draw (default 0)")
    p.add_argument("--method", choices=("auto", "mse", "entropy", "percentile", "minmax"), default="auto",
                   help="activation ranges (default auto: mse and entropy from one pass, keeping the one whose "
                        "TensorRT model agrees better with FP32 on the calibration images; docs/int8_placement.md)")
    p.add_argument("--weight-scales", choices=("channel", "tensor"), default="channel",
                   help="one INT8 scale per output channel (default) or per weight tensor")
    p.add_argument("--val", help="labelled data: evaluate FP32 vs INT8 and guard the mIoU drop")
    p.add_argument("--ignore-index", type=int, default=255, help="label value to ignore in --val (default 255)")
    p.add_argument("--max-drop", type=float, default=1.0, help="largest mIoU drop in points (default 1.0)")
    p.add_argument("--val-limit", type=COUNT, help="evaluate the first N --val pairs only")
    p.add_argument("--out", default="calibration", help="manifest folder root (default calibration/)")
    p.add_argument("--json", help="write the manifest path, outputs and accuracy here")
    p.set_defaults(func=cmd_calibrate)
