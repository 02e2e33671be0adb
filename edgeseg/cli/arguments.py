"""Argument types that refuse bad values at parse time, the one-line parser, and the shared model flags."""
import argparse
from typing import List, Optional, Sequence

from ..errors import EdgesegError
from ..preprocess import parse_size


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): `edgeseg run: error: argument --alpha: ... (see -h)`.

    `late_positionals` names optional positionals (nargs="?") that may also come after options, as in
    `segnet --headless in.mp4 out.mp4`: argparse settles optional positionals at the first run of positionals,
    so strings left over after options fill them here, in order."""

    late_positionals: Sequence[str] = ()

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, "{}: error: {} (see `{} -h`)\n".format(self.prog, message, self.prog))

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        for dest in self.late_positionals:
            if getattr(namespace, dest, None) is None:
                position = next((i for i, text in enumerate(extras) if not text.startswith("-")), None)
                if position is not None:
                    setattr(namespace, dest, extras.pop(position))
        return namespace, extras


def late_positionals(parser: argparse.ArgumentParser, *dests: str) -> None:
    """Let these optional positionals of `parser` come after options too (see `Parser`)."""
    if isinstance(parser, Parser):
        parser.late_positionals = dests


def floats3(text: str) -> List[float]:
    values = [float(v) for v in text.replace(",", " ").split()]
    if len(values) != 3:
        raise argparse.ArgumentTypeError("expected three numbers, e.g. 0.485,0.456,0.406")
    return values


def size(text: str):
    try:
        return parse_size(text)
    except EdgesegError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def number_in(kind: type, low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False):
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


COUNT = number_in(int, 1)  # 1, 2, ...
INDEX = number_in(int, 0)  # 0, 1, ...
POSITIVE = number_in(float, 0, low_open=True)
FRACTION = number_in(float, 0, 1)
CLASS_COUNT = number_in(int, 1, 255)
LOOPS = number_in(int, -1)  # segnet's --input-loop: -1 forever, 0 once, N extra times
_ALPHA_RANGE = number_in(float, 0, 255)


def alpha(text: str) -> float:
    """Overlay opacity: 0-1, or segnet's 0-255 for values above 1 (150 → 0.59)."""
    value = _ALPHA_RANGE(text)
    return value / 255.0 if value > 1 else value


def visualizations(text: str) -> List[str]:
    from ..stream.render import VISUALIZATIONS

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if not kinds or any(k not in VISUALIZATIONS for k in kinds):
        raise argparse.ArgumentTypeError("{!r}: use overlay, mask, or overlay,mask".format(text))
    return kinds


def filter_mode(text: str) -> str:
    from ..stream.render import FILTER_MODES

    if text not in FILTER_MODES:
        raise argparse.ArgumentTypeError("{!r}: use {}".format(text, " or ".join(FILTER_MODES)))
    return text


WIDTH_HELP = "channel width factor, for models that take one (unet: e.g. 0.25 for edge devices)"


def model_flags() -> argparse.ArgumentParser:
    """Preprocessing flags for ONNX files without a sidecar, and ONNX Runtime's thread count."""
    flags = argparse.ArgumentParser(add_help=False)
    group = flags.add_argument_group("for ONNX files without a sidecar")
    group.add_argument("--mean", type=floats3, help="per-channel mean after scaling to [0,1] (default ImageNet)")
    group.add_argument("--std", type=floats3, help="per-channel std (default ImageNet)")
    group.add_argument("--bgr", action="store_true", help="the model takes BGR (default RGB)")
    group.add_argument("--input-size", type=size, help="WxH, for models with dynamic input")
    group.add_argument("--num-classes", type=CLASS_COUNT, help="class count, for models that output a class map")
    group.add_argument("--classes", help="class names: a palette name (cityscapes, camvid, voc, ade20k) or file")
    flags.add_argument("--threads", type=INDEX, default=0, help="ONNX Runtime intra-op threads (default 0: its own)")
    return flags
