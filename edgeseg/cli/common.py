"""What every command shares: exit codes, the one-line error handling, quiet/verbose output, native log levels."""
import argparse
import os
import sys
import time
from typing import Any

from ..errors import EdgesegError

OK, CHECK_FAILED, BAD_INPUT, INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = ((OK, "ok"), (CHECK_FAILED, "a check failed (the INT8 accuracy guard, a bench row)"),
              (BAD_INPUT, "bad input: a file, a flag, a device (one line on stderr says what to do)"),
              (INTERRUPTED, "interrupted (Ctrl-C)"))


class Console:
    """Where a command's lines go. Results are plain `print`s; `say` (stdout) and `note` (stderr) are the
    informational lines that --quiet silences; `detail` (stderr) is shown with --verbose only."""

    def __init__(self) -> None:
        self.quiet = self.verbose = False

    def configure(self, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet, self.verbose = quiet, verbose

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text)

    def note(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr)

    def detail(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr)


console = Console()


def output_flags(top_level: bool) -> argparse.ArgumentParser:
    """--debug, --quiet and --verbose, accepted before and after the command. On the command's copy the
    default is SUPPRESS, so an absent flag there keeps what the top level parsed."""
    flags = argparse.ArgumentParser(add_help=False)
    default = False if top_level else argparse.SUPPRESS
    flags.add_argument("--debug", action="store_true", default=default,
                       help="show tracebacks and OpenCV/FFmpeg's own warnings (default: off)")
    flags.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="no progress bars or informational lines, results only (default: off)")
    flags.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="more detail on stderr: arguments, timings (default: off)")
    return flags


def quiet_native_logs() -> None:
    """OpenCV's and FFmpeg's own warnings go straight to stderr (a refused connection, a frame FFmpeg could not
    write); edgeseg reports what matters in its one line, so they are silenced unless --debug."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when FFmpeg is first used
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and hasattr(logging, "setLogLevel"):
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)


def run_command(args: argparse.Namespace) -> int:
    """Call the command; a user error prints one line and returns its exit code (--debug: the traceback)."""
    started = time.perf_counter()
    console.detail("edgeseg {}: {}".format(args.command, ", ".join(
        "{}={!r}".format(key, value) for key, value in sorted(vars(args).items()) if key not in ("func", "command"))))
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
        print("edgeseg: error: {}: {} (nothing was replaced: the previous file, if any, is intact)".format(
            exc.filename or "a file", exc.strerror or exc), file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("edgeseg: interrupted", file=sys.stderr)
        return INTERRUPTED
    console.detail("edgeseg {}: done in {:.2f} s".format(args.command, time.perf_counter() - started))
    return OK


def open_segmenter(args: Any, path: str, spinning: bool = True):
    """Open an artifact with the preprocessing flags. `spinning=False` when other threads share the
    CPU with ONNX Runtime (the run pipeline): idle workers then sleep instead of busy-waiting."""
    from ..runtime import PreprocessOverrides, open_artifact

    overrides = PreprocessOverrides(mean=args.mean, std=args.std, bgr=args.bgr, size=args.input_size,
                                    num_classes=args.num_classes, classes=args.classes)
    return open_artifact(path, overrides, threads=args.threads, spinning=spinning)
