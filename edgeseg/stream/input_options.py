"""segnet's input options around any source: --input-width/--input-height (frames resized at the source),
--input-rate (files and folders are paced to it; cameras are asked for it) and --input-loop N."""
import threading
import time
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Tuple

import cv2
import numpy as np

from .sources import FrameSource, Log, open_source

if TYPE_CHECKING:
    from .gst import StreamOptions

FOREVER = -1


class InputOptions(NamedTuple):
    """`loops`: 0 plays once, N > 0 plays N extra times, -1 (FOREVER) loops until stopped (files, folders)."""

    width: Optional[int] = None
    height: Optional[int] = None
    rate: Optional[float] = None
    loops: int = 0


def _with_csi_request(spec: str, options: InputOptions) -> str:
    """csi://N asks the sensor for the requested size and rate (unless its query already names them)."""
    if not spec.strip().lower().startswith("csi://"):
        return spec
    wanted = (("width", options.width), ("height", options.height),
              ("fps", int(round(options.rate)) if options.rate else None))
    query = spec.partition("?")[2]
    given = {item.partition("=")[0].lower() for item in query.split("&") if item}
    extra = ["{}={}".format(key, value) for key, value in wanted if value and key not in given]
    if not extra:
        return spec
    return spec + ("&" if query else "?" if "?" not in spec else "") + "&".join(extra)


def target_size(width: Optional[int], height: Optional[int], frame_size: Tuple[int, int]) -> Tuple[int, int]:
    """(width, height) to resize a frame of `frame_size` to; a missing side keeps the aspect ratio."""
    frame_width, frame_height = frame_size
    if width and height:
        return width, height
    if width:
        return width, max(1, int(round(width * frame_height / frame_width)))
    if height:
        return max(1, int(round(height * frame_width / frame_height))), height
    return frame_width, frame_height


class ShapedSource(FrameSource):
    """`inner`'s frames resized to the requested size, paced to `rate` when `inner` is not live, and ended after
    `loops` extra plays when `loops` > 0 (`inner` must then be opened with loop=True)."""

    def __init__(self, inner: FrameSource, options: InputOptions,
                 clock: Callable[[], float] = time.perf_counter, stop: Optional[threading.Event] = None) -> None:
        self.inner, self.options = inner, options
        self.name, self.live = inner.name, inner.live
        self.fps = options.rate or inner.fps
        self._clock, self._stop = clock, stop or threading.Event()
        self._started: Optional[float] = None
        self._read = 0
        one_play = getattr(inner, "file_frame_count", None) or len(getattr(inner, "files", ()) or ()) or None
        self.frame_count = inner.frame_count if options.loops == 0 else \
            one_play * (options.loops + 1) if one_play and options.loops > 0 else None

    def _pace(self) -> None:
        if self.live or not self.options.rate:
            return
        now = self._clock()
        if self._started is None:
            self._started = now
        due = self._started + self._read / self.options.rate
        if due > now:
            self._stop.wait(due - now)

    def _next_frame(self) -> Optional[np.ndarray]:
        self._pace()
        self._read += 1
        frame = self.inner.read()
        self.reconnects, self.ended_early = self.inner.reconnects, self.inner.ended_early
        if frame is None or (self.options.loops > 0 and getattr(self.inner, "loops", 0) > self.options.loops):
            return None
        size = target_size(self.options.width, self.options.height, (frame.shape[1], frame.shape[0]))
        if size != (frame.shape[1], frame.shape[0]):
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if size[0] < frame.shape[1]
                               else cv2.INTER_LINEAR)
        return frame

    def _free(self) -> None:
        self.inner.close()


def open_input(spec: str, options: Optional[InputOptions] = None, log: Log = print,
               stop: Optional[threading.Event] = None, stream: Optional["StreamOptions"] = None) -> FrameSource:
    """`open_source(spec)` with segnet's input options applied (a plain source when none is given); `stream`
    carries the codec flags (stream/gst.py)."""
    options = options or InputOptions()
    source = open_source(_with_csi_request(spec, options), loop=options.loops != 0, fps=options.rate, log=log,
                         stop=stop, stream=stream)
    if source.live and options.loops:
        log("{}: --input-loop applies to files and folders; a live source plays until stopped".format(source.name))
    if options == InputOptions(loops=options.loops) and options.loops in (0, FOREVER):
        return source
    return ShapedSource(source, options, stop=stop)
