"""`edgeseg export` (workstation side: torch is imported when the command runs)."""
import argparse

from ..artifacts import check_outputs
from ..errors import ConfigError
from ..model_registry import available_models
from .arguments import CLASS_COUNT, POSITIVE, WIDTH_HELP, size
from .common import console


def cmd_export(args: argparse.Namespace) -> None:
    try:
        from ..workstation.export import export
    except ImportError as exc:
        raise ConfigError("export runs on the workstation side and needs torch, torchvision and onnx ({}); "
                          "`pip install edgeseg[export]`".format(exc))

    check_outputs(artifacts=[args.output], inputs=[args.weights])
    record = export(args.model, args.num_classes, args.input_size, args.output, weights=args.weights,
                    output_kind=args.output_kind, dynamic=args.dynamic, classes=args.classes, width=args.width)
    console.say("wrote {} ({:.1f} MB) and its sidecar {}.json".format(args.output, record["size_bytes"] / 1e6,
                                                                      args.output))


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("export", parents=[common], help="PyTorch model → ONNX (opset 17) + sidecar")
    p.add_argument("model", help="one of: " + ", ".join(available_models()))
    p.add_argument("--num-classes", type=CLASS_COUNT,
                   help="class count (default: from an edgeseg checkpoint's --weights)")
    p.add_argument("--input-size", type=size, required=True, help="WxH, e.g. 1024x512")
    p.add_argument("--weights", help="checkpoint or state_dict path, or torchvision weights name (default: random "
                                     "init)")
    p.add_argument("--output-kind", choices=("logits", "probs", "classmap"), default="logits",
                   help="logits (default); probs adds a Softmax (for DeepStream); classmap bakes resize + ArgMax "
                        "into the graph")
    p.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width")
    p.add_argument("--width", type=POSITIVE, help=WIDTH_HELP + "; default: the checkpoint's, else 1")
    p.add_argument("--classes", help="class names: palette name (cityscapes, camvid, voc, ade20k, synthetic) or file")
    p.add_argument("-o", "--output", required=True, help="output .onnx path")
    p.set_defaults(func=cmd_export)
