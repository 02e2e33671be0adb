"""`edgeseg run`: open the source and sinks, run the pipeline, complete the report."""
import threading
from typing import Callable, NamedTuple, Optional, Sequence

from ..errors import SourceError
from ..jetson.board import power_mode
from ..jetson.clocks import jetson_clocks_active
from ..jetson.tegrastats import TegraStats, fps_per_watt
from ..palettes import ignored_class, with_files
from ..report.class_shares import ClassShares
from ..report.run_report import RunReport
from ..runtime.artifact import Segmenter
from .gst import StreamOptions
from .input_options import FOREVER, InputOptions, open_input
from .pipeline import Pipeline
from .render import Renderer
from .sinks import Sinks, open_mask_sink, open_sinks


class Segmentation(NamedTuple):
    """segnet's segmentation options: --filter-mode, --ignore-class (None: "void" where the model has it),
    --labels and --colors files, --mask-output (class-id PNGs) and --stats."""

    filter_mode: str = "point"
    ignore_class: Optional[str] = None
    labels: Optional[str] = None
    colors: Optional[str] = None
    mask_output: Optional[str] = None
    stats: bool = False


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
    input_options: Optional[InputOptions] = None,
    segmentation: Optional[Segmentation] = None,
    stream: Optional[StreamOptions] = None,
) -> RunReport:
    """Segment `source` (an input URI) into `output` (an output URI: video, image sequence, image, folder,
    display://N, rtp://) and/or a window; returns the report. `input_options` (size, rate, loops) replace `loop`
    (forever) when given; `stream` carries the codec flags (stream/gst.py). With `report_path` (REPORT.json) its
    per-frame CSV is written as frames complete; `report.write()` writes the JSON and the plot."""
    segmentation = segmentation or Segmentation()
    palette, alphas = with_files(segmenter.palette, segmentation.labels, segmentation.colors)
    ignore = ignored_class(palette.names, segmentation.ignore_class)
    renderer = Renderer(palette.bgr_array(), visualize, alpha, segmentation.filter_mode, alphas, ignore)
    shares = ClassShares(palette.names) if segmentation.stats else None
    stop = stop or threading.Event()
    report = RunReport(report_path)
    frames = open_input(source, input_options or InputOptions(loops=FOREVER if loop else 0), log=log, stop=stop,
                        stream=stream)
    try:
        first = frames.peek()
        if first is None:
            raise SourceError("{}: delivered no frame".format(frames.name))
        width = first.shape[1] * len(renderer.visualize)
        with open_sinks(output, display, frames.fps, (width, first.shape[0]), stream) as sinks, \
                (open_mask_sink(segmentation.mask_output) if segmentation.mask_output else Sinks([])) as masks:
            pipeline = Pipeline(segmenter, frames, sinks, renderer, sync=sync, hud=hud, max_frames=max_frames,
                                stop=stop, progress=progress, report=report, class_sinks=masks, shares=shares)
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
        filter_mode=segmentation.filter_mode,
        ignored_class=None if ignore is None else palette.names[ignore],
        mask_output=segmentation.mask_output,
    )
    if shares is not None:
        report.update(class_shares=shares.summary())
    return report
