"""`edgeseg run`: capture → preprocess → infer → postprocess → write, as threads joined by bounded
queues (so CPU work overlaps inference), or one after another with `sync=True`.

Files deliver every frame in order (blocking queues). Live sources keep only the newest frame: when
preprocessing is busy, the waiting frame is replaced and counted as dropped (latency over
completeness). Every frame carries a timestamp at each stage boundary and the work time of each stage.
`stop` (a threading.Event, set by SIGINT/SIGTERM in the CLI) ends the run cleanly: the report is complete
(and the sinks, closed by their owner, `sinks.open_sinks`, playable).
"""
import queue
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np

from ..report.class_shares import ClassShares
from ..report.frames import STAGES
from ..report.run_report import RunReport
from ..runtime.artifact import Segmenter
from ..runtime.base import IN_FLIGHT
from .render import Renderer, draw_hud
from .sinks import Sink
from .sources import FrameSource

_END = object()  # flows down the queues after the last frame


class _Frame:
    __slots__ = ("index", "image", "data", "times", "class_map")

    def __init__(self, index: int, image: np.ndarray, times: Dict[str, float]) -> None:
        self.index, self.times = index, times
        self.image: Any = image  # the frame, then None once written
        self.data: Any = None  # what the last stage made: blob, scores, output image
        self.class_map: Any = None  # a copy of the class map, kept for class sinks and statistics


class _Hud:
    """Running fps and per-stage means over the last frames, for the on-image HUD."""

    def __init__(self, window: int = 30) -> None:
        self.ends: deque = deque(maxlen=window)
        self.work: Dict[str, deque] = {name: deque(maxlen=window) for name in STAGES[:-1]}

    def update(self, frame: _Frame) -> None:
        self.ends.append(frame.times["postprocessed"])
        for name, values in self.work.items():
            values.append(frame.times["work_" + name])

    def draw(self, image: np.ndarray) -> None:
        span = self.ends[-1] - self.ends[0] if len(self.ends) > 1 else 0.0
        fps = (len(self.ends) - 1) / span if span > 0 else 0.0
        draw_hud(image, fps, OrderedDict((n, float(np.mean(v))) for n, v in self.work.items()))


class Pipeline:
    """One run of a segmenter over a source into open sinks; `run()` fills `report` (default: a new one, in
    memory) and returns it. `class_sinks` get each frame's class map itself (model resolution, uint8 class ids);
    `shares` counts its pixels per class."""

    def __init__(self, segmenter: Segmenter, source: FrameSource, sinks: Iterable[Sink], renderer: Renderer,
                 sync: bool = False, hud: bool = True, max_frames: Optional[int] = None,
                 stop: Optional[threading.Event] = None,
                 progress: Optional[Callable[[int, Optional[int]], None]] = None,
                 queue_size: int = 1, report: Optional[RunReport] = None, class_sinks: Iterable[Sink] = (),
                 shares: Optional[ClassShares] = None) -> None:
        self.segmenter, self.source, self.sinks, self.renderer = segmenter, source, list(sinks), renderer
        self.sync, self.max_frames, self.progress = sync, max_frames, progress
        self.class_sinks, self.shares = list(class_sinks), shares
        self.hud = _Hud() if hud else None
        self.stop = stop or threading.Event()
        if queue_size + 2 > IN_FLIGHT:  # a stage, its queue and the next stage hold one frame each
            raise ValueError("queue_size {} needs rings of {} buffers; IN_FLIGHT is {}".format(
                queue_size, queue_size + 2, IN_FLIGHT))
        self.queue_size = queue_size
        self.report = report or RunReport()  # per-frame records, in bounded memory (CSV streamed when asked)
        self.dropped = 0
        self._errors: List[BaseException] = []
        self._index = 0

    # -- the stages: each takes a frame, does its work, stamps the boundary ---------------------------------
    def _capture(self) -> Optional[_Frame]:
        if self.stop.is_set() or (self.max_frames is not None and self._index >= self.max_frames):
            return None
        started = time.perf_counter()
        image = self.source.read()
        if image is None:
            return None
        now = time.perf_counter()
        frame = _Frame(self._index, image, {"index": self._index, "capture_start": started, "captured": now,
                                            "work_capture": (now - started) * 1000.0})
        self._index += 1
        return frame

    def _timed(self, frame: _Frame, stage: str, boundary: str, work: Callable[[], Any]) -> None:
        started = time.perf_counter()
        frame.data = work()
        now = time.perf_counter()
        frame.times[boundary] = now
        frame.times["work_" + stage] = (now - started) * 1000.0

    def _preprocess(self, frame: _Frame) -> None:
        self._timed(frame, "preprocess", "preprocessed", lambda: self.segmenter.preprocess(frame.image))

    def _infer(self, frame: _Frame) -> None:
        self._timed(frame, "infer", "inferred", lambda: self.segmenter.backend.infer(frame.data))

    def _postprocess(self, frame: _Frame) -> None:
        """Class map, then the output image; the render's own share is recorded too (work_render)."""
        started = time.perf_counter()
        class_map = self.segmenter.postprocess(frame.data)
        if self.class_sinks or self.shares is not None:
            frame.class_map = np.array(class_map)  # postprocess reuses its buffer
        rendering = time.perf_counter()
        frame.data = self.renderer(frame.image, class_map)
        now = time.perf_counter()
        frame.times["postprocessed"] = now
        frame.times["work_postprocess"] = (now - started) * 1000.0
        frame.times["work_render"] = (now - rendering) * 1000.0

    def _write(self, frame: _Frame) -> None:
        started = time.perf_counter()
        if self.hud is not None:
            self.hud.update(frame)
            self.hud.draw(frame.data)
        for sink in self.sinks:
            if sink.write(frame.data) is False:  # a window closed with q / Esc
                self.stop.set()
        for sink in self.class_sinks:
            sink.write(frame.class_map)
        if self.shares is not None:
            self.shares.add(frame.class_map)
        now = time.perf_counter()
        frame.times["written"] = now
        frame.times["work_write"] = (now - started) * 1000.0
        frame.image = frame.data = frame.class_map = None
        self.report.add_frame(frame.times)
        if self.progress is not None:
            self.progress(self.report.frames.count, self.source.frame_count)

    # -- running -------------------------------------------------------------------------------------------
    def _run_sync(self) -> None:
        frame = self._capture()
        while frame is not None:
            self._preprocess(frame)
            self._infer(frame)
            self._postprocess(frame)
            self._write(frame)
            frame = self._capture()

    def _worker(self, work: Callable[[_Frame], None], inbox: "queue.Queue", outbox: Optional["queue.Queue"]) -> None:
        try:
            while True:
                frame = inbox.get()
                if frame is _END:
                    break
                work(frame)
                if outbox is not None:
                    outbox.put(frame)
        except BaseException as exc:  # reported by run(); stop the others
            self._errors.append(exc)
            self.stop.set()
            while inbox.get() is not _END:  # let the upstream stages finish
                pass
        finally:
            if outbox is not None:
                outbox.put(_END)

    def _capture_loop(self, outbox: "queue.Queue") -> None:
        try:
            frame = self._capture()
            while frame is not None:
                if self.source.live:
                    try:
                        outbox.put_nowait(frame)
                    except queue.Full:  # keep the newest frame only
                        try:
                            outbox.get_nowait()
                            self.dropped += 1
                        except queue.Empty:
                            pass
                        outbox.put(frame)
                else:
                    outbox.put(frame)
                frame = self._capture()
        except BaseException as exc:
            self._errors.append(exc)
            self.stop.set()
        finally:
            outbox.put(_END)

    def _run_threaded(self) -> None:
        queues: List[queue.Queue] = [queue.Queue(maxsize=1 if self.source.live else self.queue_size) for _ in range(4)]
        works = [self._preprocess, self._infer, self._postprocess, self._write]
        threads = [threading.Thread(target=self._capture_loop, args=(queues[0],), name="edgeseg-capture")]
        for i, (work, name) in enumerate(zip(works, STAGES[1:])):
            outbox = queues[i + 1] if i + 1 < len(queues) else None
            threads.append(threading.Thread(target=self._worker, args=(work, queues[i], outbox),
                                            name="edgeseg-" + name))
        for thread in threads:
            thread.daemon = True
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)  # a timed join keeps the main thread responsive to signals
        except KeyboardInterrupt:  # no signal handler installed: stop, then let the stages drain
            self.stop.set()
            for thread in threads:
                thread.join()

    def run(self) -> RunReport:
        """Run to the source's end, `max_frames` or `stop`; the report gets per-stage work times, queue waits
        and end-to-end latency (capture → written), fps, drops. The first error of a stage is raised."""
        started = time.perf_counter()
        try:
            if self.sync:
                self._run_sync()
            else:
                self._run_threaded()
        except KeyboardInterrupt:
            self.stop.set()
        finally:
            try:  # the frames CSV even after an error: an interrupted run leaves a valid one of what it did
                self.report.finish("sync" if self.sync else "pipelined", time.perf_counter() - started,
                                   self.dropped, getattr(self.source, "reconnects", 0), self.stop.is_set())
            except Exception as exc:
                self._errors.append(exc)
        if self._errors:
            raise self._errors[0]
        return self.report
