"""`edgeseg run`: capture → preprocess → infer → postprocess → write, timed per stage."""
import time
from typing import Any, Callable, Dict, Optional

from ..profiling import StageTimer, summarize
from ..runtime.artifact import Segmenter
from .sinks import VideoFileSink, WindowSink
from .sources import VideoSource

STAGES = ("capture", "preprocess", "infer", "postprocess", "write")


def run(
    segmenter: Segmenter,
    source: str,
    output: Optional[str] = None,
    display: bool = False,
    alpha: float = 0.5,
    max_frames: Optional[int] = None,
    progress: Optional[Callable[[int, Optional[int]], None]] = None,
) -> Dict[str, Any]:
    """Segment every frame of `source`; returns the latency report. Ctrl-C ends early, cleanly."""
    video = VideoSource(source)
    timer = StageTimer(STAGES)
    end_to_end = []
    sink = None
    window = WindowSink() if display and WindowSink.available() else None
    frames = 0
    total = video.frame_count if max_frames is None else min(max_frames, video.frame_count or max_frames)
    interrupted = False
    try:
        while max_frames is None or frames < max_frames:
            started = time.perf_counter()
            with timer.stage("capture"):
                frame = video.read()
            if frame is None:
                timer.samples["capture"].pop()  # the read that found the end is not a frame
                break
            with timer.stage("preprocess"):
                blob = segmenter.preprocess(frame)
            with timer.stage("infer"):
                raw = segmenter.backend.infer(blob)
            with timer.stage("postprocess"):
                shown = segmenter.overlay(frame, segmenter.postprocess(raw), alpha)
            with timer.stage("write"):
                if output is not None:
                    if sink is None:
                        sink = VideoFileSink(output, video.fps, (frame.shape[1], frame.shape[0]))
                    sink.write(shown)
                if window is not None and not window.write(shown):
                    break
            end_to_end.append((time.perf_counter() - started) * 1000.0)
            frames += 1
            if progress is not None:
                progress(frames, total)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        timer.stop()
        video.close()
        if sink is not None:
            sink.close()
        if window is not None:
            window.close()
    report = timer.report(frames)
    report["stages_ms"]["total"] = summarize(end_to_end)
    report.update(
        artifact=segmenter.path,
        backend=segmenter.describe(),
        source=source,
        source_fps=video.fps,
        output=output,
        output_frames=sink.frames if sink is not None else 0,
        input_size=list(segmenter.spec.size),
        interrupted=interrupted,
    )
    return report
