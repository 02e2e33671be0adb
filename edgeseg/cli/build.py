"""`edgeseg build`: ONNX to a TensorRT engine or an ONNX Runtime artifact, flags over a device profile."""
import argparse
from typing import Any, Dict

from ..artifacts import check_outputs, write_json_atomic
from ..metrics import drop_text
from ..runtime.base import PRECISIONS
from ..runtime.builder import PREPROCESS_CHOICES
from .arguments import COUNT, INDEX
from .common import console


def cmd_build(args: argparse.Namespace) -> None:
    from ..runtime.builder import build

    profile: Dict[str, Any] = {}
    if args.profile:
        from ..runtime.profiles import load_profile

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
        console.say(note)
    console.say("wrote {} ({}, {}, {:.1f} MB) and its sidecar".format(
        output, record["runtime"], record["precision"], record["size_bytes"] / 1e6))
    accuracy = record.get("int8_accuracy")
    if accuracy and accuracy["measured"]:
        print("INT8 accuracy of the model built ({}), measured by calibrate on {}: mIoU {:.2%} against FP32 {:.2%}, "
              "{} (limit {})".format(accuracy["model"], accuracy["val"], accuracy["miou"], accuracy["fp32_miou"],
                                     drop_text(accuracy["drop_points"], accuracy.get("drop_interval_points")),
                                     accuracy["max_drop"]))
    elif accuracy:
        print("INT8 accuracy of the model built ({}): not measured ({})".format(accuracy["model"], accuracy["why"]))
    if args.json:
        write_json_atomic(args.json, {"artifact": output, "note": note, "sidecar": record})


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("build", parents=[common], help="ONNX → TensorRT engine (or ONNX Runtime artifact)")
    p.add_argument("model", help="ONNX model from `edgeseg export`")
    p.add_argument("--precision", choices=PRECISIONS, help="default fp16 (or the profile's)")
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
