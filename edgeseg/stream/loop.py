"""`edgeseg run`: open the source and sinks, run the pipeline, assemble the report."""
import threading
from typing import Any, Callable, Dict, Optional, Sequence

from ..envinfo import power_mode
from ..errors import SourceError
from ..frame_report import TegraStats, fps_per_watt, jetson_clocks_active
from ..runtime.artifact import Segmenter
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
    frames_csv: Optional[str] = None,
    log=print,
) -> Dict[str, Any]:
    """Segment `source` into `output` (video file or image folder) and/or a window; returns the report, whose
    `frame_sample` holds at most frame_log.SAMPLE_SIZE frames' records (for the plot). `frames_csv` gets a
    row per frame as it completes."""
    renderer = Renderer(segmenter.palette.bgr_array(), visualize, alpha)
    stop = stop or threading.Event()
    frames = open_source(source, loop=loop, log=log, stop=stop)
    try:
        first = frames.peek()
        if first is None:
            raise SourceError("{}: delivered no frame".format(frames.name))
        width = first.shape[1] * len(renderer.visualize)
        sinks = open_sinks(output, display, frames.fps, (width, first.shape[0]))
        pipeline = Pipeline(segmenter, frames, sinks, renderer, sync=sync, hud=hud,
                            max_frames=max_frames, stop=stop, progress=progress, frames_csv=frames_csv)
        with TegraStats() as power:  # a no-op off a Jetson
            report = pipeline.run()
    finally:
        frames.close()
    if power.available:
        summary = power.summary()
        report["jetson"] = {"tegrastats": summary, "fps_per_watt": fps_per_watt(report["fps"], summary),
                            "power_mode": power_mode(), "jetson_clocks": jetson_clocks_active()}
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
    report["frame_sample"] = pipeline.log.sample()
    return report
