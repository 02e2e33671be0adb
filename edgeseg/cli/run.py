"""`edgeseg run`: segment a video or camera; SIGINT/SIGTERM stop it cleanly with a complete report."""
import argparse
import os
import signal
import sys
import threading
from typing import List, Optional, Tuple

from ..artifacts import check_outputs
from ..errors import ConfigError
from ..profiling import format_table
from ..progress import Progress
from ..report.class_shares import format_shares
from ..report.run_report import RunReport
from .arguments import COUNT, INDEX, LOOPS, POSITIVE, alpha, filter_mode, late_positionals, visualizations
from .common import console, open_segmenter


def _uris(args: argparse.Namespace) -> Tuple[str, Optional[str]]:
    """INPUT and OUTPUT, positional (segnet's form) or --source/--output; both forms of one is an error."""
    for positional, option, flag in (("input", "source", "--source"), ("output_uri", "output", "--output")):
        if getattr(args, positional) is not None and getattr(args, option) is not None:
            raise ConfigError("{} given twice ({} and {}); give it once, as a positional or as {}".format(
                flag, getattr(args, positional), getattr(args, option), flag))
    source = args.input if args.input is not None else args.source
    if source is None:
        raise ConfigError("no input: `edgeseg run MODEL INPUT [OUTPUT]` (or --source INPUT)")
    if args.loop and args.input_loop:
        raise ConfigError("--loop and --input-loop {} both given; --loop is --input-loop -1".format(args.input_loop))
    return source, args.output_uri if args.output_uri is not None else args.output


def _written(uri: Optional[str]) -> Tuple[List[str], List[str]]:
    """(files, folders) an output URI writes, for check_outputs."""
    from ..stream.uri import parse_output

    if not uri:
        return [], []
    target = parse_output(uri)
    if target.kind in ("video", "image"):
        return [target.path], []
    if target.kind == "sequence":
        return [], [os.path.dirname(target.path)] if os.path.dirname(target.path) else []
    return [], [] if target.kind in ("display", "stream") else [target.path]


def cmd_run(args: argparse.Namespace) -> None:
    from ..stream.gst import StreamOptions
    from ..stream.input_options import FOREVER, InputOptions
    from ..stream.loop import Segmentation, run
    from ..stream.sinks import WindowSink
    from ..stream.uri import parse_input

    source, output = _uris(args)
    files, folders = _written(output)
    mask_files, mask_folders = _written(args.mask_output)
    check_outputs(files=files + mask_files + (RunReport.files(args.report) if args.report else []),
                  folders=folders + mask_folders, inputs=[args.artifact, parse_input(source).spec])
    if not args.headless and not WindowSink.available():
        console.note("no display (or OpenCV without GUI): not showing a window; an OUTPUT saves the overlay")
    inputs = InputOptions(args.input_width, args.input_height, args.input_rate,
                          FOREVER if args.loop else args.input_loop)
    segmentation = Segmentation(args.filter_mode, args.ignore_class, args.labels, args.colors, args.mask_output,
                                args.stats)
    stream = StreamOptions(args.input_codec, args.input_rtsp_latency, args.output_codec, args.bitrate)
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with open_segmenter(args, args.artifact, spinning=False) as segmenter, \
                Progress("frame", enabled=not console.quiet) as progress:
            report = run(segmenter, source, output=output, display=not args.headless, alpha=args.alpha,
                         max_frames=args.max_frames, progress=progress, sync=args.sync,
                         visualize=args.visualize, hud=not args.no_hud, stop=stop, report_path=args.report,
                         log=console.note, input_options=inputs, segmentation=segmentation, stream=stream)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    print_summary(report)
    if output and report["output_frames"]:
        console.say("wrote {} ({} frames)".format(output, report["output_frames"]))
    if args.mask_output:
        console.say("wrote class-id masks to {}".format(args.mask_output))
    if args.report:
        console.say("wrote {}".format(", ".join(report.write())))


def print_summary(report: RunReport) -> None:
    """Frames, per-stage table, throughput, and the Jetson's power figures when tegrastats ran."""
    print("{}: {} frames on {} ({}{})".format(
        report["source"], report["frames"], report["backend"], report["mode"],
        ", {} dropped".format(report["dropped_frames"]) if report["live"] else ""))
    print(format_table(report["stages_ms"]))
    if report.get("source_ended_early"):
        print("warning: {}: {}".format(report["source"], report["source_ended_early"]), file=sys.stderr)
    print("throughput {:.1f} fps{}".format(report["fps"], " (stopped early)" if report["interrupted"] else ""))
    if report.get("class_shares"):
        print(format_shares(report["class_shares"]))
    jetson = report.get("jetson")
    if jetson and jetson["tegrastats"]:
        print("Jetson: {:.1f} W mean input power, {:.2f} fps/W, GPU {:.0f}% mean, nvpmodel {}, jetson_clocks {}".format(
            jetson["tegrastats"].get("power_in_w_mean") or float("nan"), jetson["fps_per_watt"] or float("nan"),
            jetson["tegrastats"].get("gpu_load_mean") or float("nan"), jetson["power_mode"], jetson["jetson_clocks"]))
    console.detail("wall {:.2f} s, source {} fps, input {}, reconnects {}".format(
        report["wall_seconds"], report["source_fps"], report["input_size"], report["reconnects"]))


def register(sub, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common, model], help="segment a video or camera, timing every stage",
                       description="edgeseg run MODEL INPUT [OUTPUT], as jetson-inference's segnet; "
                                   "docs/from_segnet.md maps segnet's options")
    late_positionals(p, "input", "output_uri")
    p.add_argument("artifact", help="engine or ONNX model (from `edgeseg build` or `edgeseg export`)")
    p.add_argument("input", nargs="?", help="input URI: video or image file, folder, image glob ('*.jpg'), "
                                            "file://, csi://0, v4l2:///dev/video0, /dev/video0, rtsp://, "
                                            "http(s)://, or a GStreamer pipeline")
    p.add_argument("output_uri", nargs="?", metavar="output",
                   help="output URI: video (.mp4, .avi, ...), image sequence (out_%%i.png), image, folder, "
                        "display://0")
    p.add_argument("--source", help="the input, as an option (instead of INPUT)")
    p.add_argument("--output", help="the output, as an option (instead of OUTPUT)")
    p.add_argument("--report", help="latency report: REPORT.json, plus per-frame REPORT.csv and plot REPORT.png")
    p.add_argument("--headless", "--no-display", dest="headless", action="store_true",
                   help="do not open a window")
    p.add_argument("--visualize", type=visualizations, default="overlay",
                   help="overlay, mask, or overlay,mask (side by side; default overlay)")
    p.add_argument("--alpha", type=alpha, default=0.5,
                   help="overlay opacity: 0-1, or segnet's 0-255 for values above 1 (default 0.5)")
    p.add_argument("--filter-mode", type=filter_mode, default="linear",
                   help="upsampling of the mask to the frame: point (nearest) or linear (bilinear colours; default, "
                        "as segnet)")
    p.add_argument("--ignore-class", metavar="NAME",
                   help="class left uncoloured (black mask, transparent overlay); default: void, where the model "
                        "has a class of that name")
    p.add_argument("--labels", help="class names, one a line (jetson-inference's labels.txt)")
    p.add_argument("--colors", help="class colours, one `R G B [A]` line per class (jetson-inference's colors.txt)")
    p.add_argument("--mask-output", metavar="PATTERN",
                   help="class-id masks: a PNG sequence (masks/%%i.png) or a folder; each pixel is the class id, "
                        "at the model's resolution")
    p.add_argument("--stats", action="store_true", help="per-class pixel shares over the run (printed and in --report)")
    p.add_argument("--input-width", type=COUNT, help="resize frames to this width at the source (cameras: "
                                                     "requested)")
    p.add_argument("--input-height", type=COUNT, help="resize frames to this height at the source")
    p.add_argument("--input-rate", type=POSITIVE, help="frames per second: files and folders are paced to it; "
                                                       "cameras are asked for it")
    p.add_argument("--input-loop", type=LOOPS, default=0,
                   help="files and folders: -1 loops forever, N > 0 plays N extra times (default 0)")
    p.add_argument("--loop", action="store_true", help="restart a video file at its end forever (--input-loop -1)")
    p.add_argument("--no-hud", action="store_true", help="no fps / per-stage ms on the output")
    p.add_argument("--sync", action="store_true", help="run the stages one after another (for comparison)")
    p.add_argument("--max-frames", type=COUNT, help="stop after this many frames")
    # GStreamer codecs and streams (stream/gst.py), named and defaulted as segnet's
    from ..stream.gst import DEFAULT_BITRATE, DEFAULT_RTSP_LATENCY, INPUT_CODECS, OUTPUT_CODECS
    p.add_argument("--input-codec", choices=INPUT_CODECS,
                   help="decode the source with GStreamer as this codec: required for rtp://@:PORT, optional "
                        "for rtsp:// and video files (default: none, OpenCV decodes)")
    p.add_argument("--input-rtsp-latency", type=INDEX, default=DEFAULT_RTSP_LATENCY,
                   help="rtspsrc jitter buffer in ms, with --input-codec (default {})".format(DEFAULT_RTSP_LATENCY))
    p.add_argument("--output-codec", choices=OUTPUT_CODECS,
                   help="encode --output with GStreamer as this codec: a video file or rtp://HOST:PORT "
                        "(default: h264 for rtp://; OpenCV writes files)")
    p.add_argument("--bitrate", type=COUNT, default=DEFAULT_BITRATE,
                   help="GStreamer encoder bitrate in bits per second (default {})".format(DEFAULT_BITRATE))
    p.set_defaults(func=cmd_run)
