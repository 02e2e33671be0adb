"""`edgeseg run`: segment a video or camera; SIGINT/SIGTERM stop it cleanly with a complete report."""
import argparse
import os
import signal
import sys
import threading

from ..artifacts import check_outputs
from ..profiling import format_table
from ..progress import Progress
from ..report.run_report import RunReport
from .arguments import COUNT, FRACTION, INDEX, visualizations
from .common import console, open_segmenter


def cmd_run(args: argparse.Namespace) -> None:
    from ..stream.gst import StreamOptions
    from ..stream.loop import run
    from ..stream.sinks import FOURCC as VIDEO_EXTENSIONS
    from ..stream.sinks import WindowSink

    video = args.output and os.path.splitext(args.output)[1].lower() in VIDEO_EXTENSIONS
    folder = args.output and not video and "://" not in args.output  # not a stream (rtp://)
    check_outputs(files=([args.output] if video else []) + (RunReport.files(args.report) if args.report else []),
                  folders=[args.output] if folder else [], inputs=[args.artifact, args.source])
    stream = StreamOptions(args.input_codec, args.input_rtsp_latency, args.output_codec, args.bitrate)
    if not args.no_display and not WindowSink.available():
        console.note("no display (or OpenCV without GUI): not showing a window; --output saves the overlay")
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with open_segmenter(args, args.artifact, spinning=False) as segmenter, \
                Progress("frame", enabled=not console.quiet) as progress:
            report = run(segmenter, args.source, output=args.output, display=not args.no_display, alpha=args.alpha,
                         max_frames=args.max_frames, progress=progress, sync=args.sync,
                         visualize=args.visualize, hud=not args.no_hud, loop=args.loop, stop=stop,
                         report_path=args.report, log=console.note, stream=stream)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    print_summary(report)
    if args.output:
        console.say("wrote {} ({} frames)".format(args.output, report["output_frames"]))
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
    jetson = report.get("jetson")
    if jetson and jetson["tegrastats"]:
        print("Jetson: {:.1f} W mean input power, {:.2f} fps/W, GPU {:.0f}% mean, nvpmodel {}, jetson_clocks {}".format(
            jetson["tegrastats"].get("power_in_w_mean") or float("nan"), jetson["fps_per_watt"] or float("nan"),
            jetson["tegrastats"].get("gpu_load_mean") or float("nan"), jetson["power_mode"], jetson["jetson_clocks"]))
    console.detail("wall {:.2f} s, source {} fps, input {}, reconnects {}".format(
        report["wall_seconds"], report["source_fps"], report["input_size"], report["reconnects"]))


def register(sub, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common, model], help="segment a video or camera, timing every stage")
    p.add_argument("artifact", help="engine or ONNX model (from `edgeseg build` or `edgeseg export`)")
    p.add_argument("--source", required=True,
                   help="video file, image folder, camera (0, /dev/video0), rtsp:// or http:// URL, "
                        "GStreamer pipeline, or csi://0 (Jetson CSI camera)")
    p.add_argument("--output", help="a video (.mp4, .avi, ...) or an image folder")
    p.add_argument("--report", help="latency report: REPORT.json, plus per-frame REPORT.csv and plot REPORT.png")
    p.add_argument("--no-display", action="store_true", help="do not open a window")
    p.add_argument("--visualize", type=visualizations, default="overlay",
                   help="overlay, mask, or overlay,mask (side by side; default overlay)")
    p.add_argument("--alpha", type=FRACTION, default=0.5, help="overlay opacity, 0 to 1 (default 0.5)")
    p.add_argument("--no-hud", action="store_true", help="no fps / per-stage ms on the output")
    p.add_argument("--sync", action="store_true", help="run the stages one after another (for comparison)")
    p.add_argument("--loop", action="store_true", help="restart a video file at its end (long benchmarks)")
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
