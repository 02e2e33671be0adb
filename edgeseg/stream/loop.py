"""`edgeseg run`: open the source and sinks, run the pipeline, complete the report."""
import threading
from typing import Callable, Optional, Sequence

from ..errors import SourceError
from ..jetson.board import power_mode
from ..jetson.clocks import jetson_clocks_active
from ..jetson.tegrastats import TegraStats, fps_per_watt
from ..report.run_report import RunReport
from ..runtime.artifact import Segmenter
from .gst import StreamOptions
from .pipeline import Pipeline
from .render import Renderer
from .sinks import open_sinks
from .sources import open_source


def run(
    segmenter: Segmenter,
    source: str,
    output: Optional[str] = None,
    display: bool = False,
    alpha: float = 0.5,
    max_frames: Optional[int] = None,
    progress: Optional[Callable[[int, Optional[int]], None]] = None,
    sync: bool = False,
    visualize: Sequence[str] = ("overlay",),
    hud: bool = True,
    loop: bool = False,
    stop: Optional[threading.Event] = None,
    report_path: Optional[str] = None,
    log=print,
    stream: Optional[StreamOptions] = None,
) -> RunReport:
    """Segment `source` into `output` (video file or image folder) and/or a window; returns the report. With
    `report_path` (REPORT.json) its per-frame CSV is written as frames complete; `report.write()` writes the
    JSON and the plot. `stream` carries the codec flags (stream/gst.py)."""
    renderer = Renderer(segmenter.palette.bgr_array(), visualize, alpha)
    stop = stop or threading.Event()
    report = RunReport(report_path)
    frames = open_source(source, loop=loop, log=log, stop=stop, stream=stream)
    try:
        first = frames.peek()
        if first is None:
            raise SourceError("{}: delivered no frame".format(frames.name))
        width = first.shape[1] * len(renderer.visualize)
        with open_sinks(output, display, frames.fps, (width, first.shape[0]), stream) as sinks:
            pipeline = Pipeline(segmenter, frames, sinks, renderer, sync=sync, hud=hud, max_frames=max_frames,
                                stop=stop, progress=progress, report=report)
            with TegraStats() as power:  # a no-op off a Jetson
                pipeline.run()
    finally:
        frames.close()
    if power.available:
        summary = power.summary()
        report.update(jetson={"tegrastats": summary, "fps_per_watt": fps_per_watt(report["fps"], summary),
                              "power_mode": power_mode(), "jetson_clocks": jetson_clocks_active()})
    report.update(
        artifact=segmenter.path,
        backend=segmenter.describe(),
        source=frames.name,  # credentials redacted
        source_fps=frames.fps,
        live=frames.live,
        output=output,
        output_frames=sum(getattr(s, "frames", 0) for s in sinks if hasattr(s, "frames")),
        source_ended_early=frames.ended_early,
        input_size=list(segmenter.spec.size),
        visualize=list(renderer.visualize),
    )
    return report
