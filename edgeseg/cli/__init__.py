"""`edgeseg <stage>`: the command-line front door. Each command parses, calls one function, prints.

User errors (EdgesegError) print one line and exit 2, a failed check exits 1; `--debug` shows the traceback
instead. Workstation stages (train, export) import torch lazily, so device stages run without it.
"""
import argparse
from typing import List, Optional

from .. import __version__
from . import bench, build, calibrate, deploy, evaluate, export, info, run, train
from .arguments import Parser, model_flags
from .common import EXIT_CODES, console, output_flags, quiet_native_logs, run_command

EPILOG = ("example:\n"
          "  edgeseg export deeplabv3_mobilenetv3 --num-classes 19 --input-size 1024x512 -o dlv3.onnx\n"
          "  edgeseg build dlv3.onnx --precision fp16\n"
          "  edgeseg run dlv3_fp16.engine --source video.mp4 --output overlay.mp4 --report report.json\n"
          "`edgeseg <stage> -h` describes each stage.\n\n"
          "exit codes:\n" + "".join("  {:<4} {}\n".format(code, meaning) for code, meaning in EXIT_CODES))


def build_parser() -> argparse.ArgumentParser:
    """The parser with every command; --debug, --quiet and --verbose work before or after the command."""
    parser = Parser(
        prog="edgeseg", parents=[output_flags(top_level=True)], formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Real-time semantic segmentation from PyTorch to NVIDIA Jetson, one command per stage.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version="edgeseg " + __version__,
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="<stage>")
    sub.required = True
    common, model = output_flags(top_level=False), model_flags()
    for module in (train, export, calibrate, build):
        module.register(sub, common)
    for module in (run, bench, evaluate):
        module.register(sub, common, model)
    deploy.register(sub, common)
    info.register(sub, common, model)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet and args.verbose:
        parser.error("--quiet and --verbose exclude each other")
    console.configure(quiet=args.quiet, verbose=args.verbose)
    if not args.debug:
        quiet_native_logs()
    return run_command(args)
