"""Frame sources behind one interface: video files, image folders, cameras, stream URLs, GStreamer.

    with open_source("street.mp4") as source:         # or "frames/", "0", "/dev/video0",
        for frame in source:                           # "rtsp://...", "csi://0", "... ! appsink"
            ...                                        # BGR uint8, HxWx3

Every source yields BGR uint8 HxWx3 frames and `read()` returns None at the end: a file that has
finished, or a live source that has given up after its reconnect attempts. Frames whose size
changes mid-stream (a camera switching mode, a stream changing resolution) are passed through
as they are; the pipeline handles them.

How `open_source(spec)` decides (after `uri.parse_input`: file:// and v4l2:// stripped, a glob such as
'images/*.jpg' → its images in natural order, rtp:// refused for the GStreamer path):
  * contains " ! "                  -> a raw GStreamer pipeline (live; needs OpenCV with GStreamer)
  * csi://N[?width=&height=&fps=&flip=] -> the Jetson CSI camera through nvarguscamerasrc (live; ditto)
  * rtsp://, http://, https://      -> a stream URL (live)
  * 0, 1, ... or /dev/videoN        -> a V4L2 camera (live)
  * an existing folder              -> its image files in natural order (frame2 before frame10)
  * an existing image file          -> that one image
  * an existing file                -> a video file, every frame in order (loop=True restarts it)
  * anything else                   -> SourceError: no such file or folder

Live sources reconnect: when a read fails they release the capture and reopen it with exponential
back-off (backoff_s, doubling, capped at max_backoff_s), up to reconnect_attempts times, logging
one line per attempt. pip's opencv-python wheels have no GStreamer, so GStreamer pipelines and
csi:// need JetPack's OpenCV; that is checked before opening, with an error that says so.

Python 3.8 and numpy >= 1.17; no torch.
"""
import os
import re
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

import cv2
import numpy as np

from ..envinfo import gstreamer_enabled
from ..errors import SourceError, redact
from ..imageio import IMAGE_EXTENSIONS, decode_bgr8, is_image_name, to_bgr8
from .uri import natural_key, parse_input

if TYPE_CHECKING:
    from .gst import StreamOptions

Log = Callable[[str], Any]

DEFAULT_FPS = 30.0
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
STREAM_TIMEOUT_MS = 10000  # FFmpeg open/read timeout for stream URLs, where OpenCV supports it

_DEV_VIDEO_RE = re.compile(r"^/dev/video(\d+)$")
_CSI_RE = re.compile(r"^csi://(\d+)(?:\?(.*))?$", re.IGNORECASE)


# ------------------------------------------------------------------------------------ helpers


def opencv_has_gstreamer() -> bool:
    """Whether the imported OpenCV was built with GStreamer (pip wheels: no; JetPack's: yes)."""
    try:
        return bool(gstreamer_enabled(cv2.getBuildInformation()))
    except Exception:
        return False


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30,
                 flip_method: int = 0) -> str:
    """The GStreamer pipeline for a Jetson CSI camera (nvarguscamerasrc -> BGR appsink).

    appsink drop=1 max-buffers=1 keeps only the newest frame, so a slow consumer sees fresh frames
    instead of a growing backlog.
    """
    flip = " flip-method={}".format(flip_method) if flip_method else ""
    return ("nvarguscamerasrc sensor-id={} ! "
            "video/x-raw(memory:NVMM),width={},height={},framerate={}/1 ! "
            "nvvidconv{} ! video/x-raw,format=BGRx ! "
            "videoconvert ! video/x-raw,format=BGR ! "
            "appsink drop=1 max-buffers=1").format(sensor_id, width, height, fps, flip)


def _capture(target: Union[str, int], api: Optional[int] = None, params: Optional[List[int]] = None) -> Any:
    """cv2.VideoCapture(target[, api[, params]]); the one place sources create captures (tests patch it)."""
    if api is None:
        return cv2.VideoCapture(target)
    if params:
        try:
            return cv2.VideoCapture(target, api, params)
        except (TypeError, cv2.error):  # OpenCV < 4.5.2 has no params overload
            pass
    return cv2.VideoCapture(target, api)


# ------------------------------------------------------------------------------------ interface


class FrameSource:
    """A stream of BGR uint8 HxWx3 frames. `read()` returns None at the end.

    Attributes: `name` (what to call it in messages), `live` (a camera or stream: frames arrive in
    real time and it may reconnect), `fps` (30 when unknown), `frame_count` (None when unknown or
    unbounded), `reconnects` (successful reconnects so far). Frames may change size mid-stream;
    they are passed through as they are.
    """

    name = ""
    live = False
    fps = DEFAULT_FPS
    frame_count: Optional[int] = None
    reconnects = 0
    delivered = 0  # frames read so far
    ended_early: Optional[str] = None  # why the source ended before its end (truncated, stream lost)
    _pending: Optional[np.ndarray] = None
    _ended = False

    def _next_frame(self) -> Optional[np.ndarray]:
        """Produce the next frame, or None at the end (subclasses)."""
        raise NotImplementedError

    def _free(self) -> None:
        """Free what the source holds (subclasses)."""

    def peek(self) -> Optional[np.ndarray]:
        """The next frame without consuming it (sinks need the first frame's size)."""
        if self._pending is None and not self._ended:
            self._pending = self.read()
        return self._pending

    def read(self) -> Optional[np.ndarray]:
        """The next frame, or None at the end."""
        if self._ended:
            return None
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.delivered += 1
            return pending
        frame = self._next_frame()
        if frame is None:
            self.close()
        else:
            self.delivered += 1
        return frame

    def close(self) -> None:
        """Release the source; safe to call twice."""
        self._ended = True
        self._pending = None
        self._free()

    def __iter__(self) -> Iterator[np.ndarray]:
        frame = self.read()
        while frame is not None:
            yield frame
            frame = self.read()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "{}({!r})".format(type(self).__name__, self.name)


# ------------------------------------------------------------------------------------ OpenCV captures


class CaptureSource(FrameSource):
    """Frames from a cv2.VideoCapture-like object made by `opener()`. Setting `stop` (a threading.Event)
    ends the source at once, reconnect back-off included.

    `opener()` returns an object with isOpened(), read(), release() and get(); it is called once
    here (SourceError if it does not open or its first frame does not decode) and again for each
    reconnect. When a read fails on a live source, the capture is released and reopened after
    backoff_s, 2*backoff_s, ... (capped at max_backoff_s) seconds, up to `reconnect_attempts` times,
    with one log line per attempt. A successful reconnect increments `reconnects` and resets the
    attempt count; after the last failed attempt `read()` returns None from then on. A source that
    is not live (a file) simply ends. Frames whose size changes mid-stream are passed through.
    """

    def __init__(
        self,
        name: str,
        opener: Callable[[], Any],
        live: bool = True,
        reconnect_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        fps: Optional[float] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        log: Log = print,
        open_error: Optional[str] = None,
        decode_error: Optional[str] = None,
        stop: Optional[threading.Event] = None,
    ) -> None:
        self.name = name
        self.live = bool(live)
        self.reconnect_attempts = max(0, int(reconnect_attempts))
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.reconnects = 0
        self._opener = opener
        self._stop = stop or threading.Event()
        self._sleep = sleep or self._stop.wait  # waits the back-off, and returns early on a stop
        self._log = log
        self._capture: Any = None
        try:
            capture = opener()
        except Exception as exc:  # cv2.error from a backend, or an opener that raises
            raise SourceError(open_error or "{}: OpenCV cannot open this source ({}); check the codec or device".format(
                name, exc))
        if capture is None or not capture.isOpened():
            self._release(capture)
            raise SourceError(open_error or "{}: OpenCV cannot open this source; check the codec or device".format(
                name))
        self._capture = capture
        self._pending: Optional[np.ndarray] = self._grab()
        if self._pending is None:
            self.close()
            raise SourceError(decode_error or "{}: opened but no frame decodes; check it is a video OpenCV can read"
                              .format(name))
        reported_fps = self._get(cv2.CAP_PROP_FPS)
        if fps is not None and fps > 0:
            self.fps = float(fps)
        else:
            # live sources often report 0; some report nonsense like 90000
            self.fps = reported_fps if 0 < reported_fps <= 1000 else DEFAULT_FPS
        count = int(self._get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 and not self.live else None

    def _get(self, prop: int) -> float:
        try:
            value = float(self._capture.get(prop))
        except Exception:
            return 0.0
        return value if value == value else 0.0  # NaN -> 0

    @staticmethod
    def _release(capture: Any) -> None:
        if capture is not None:
            try:
                capture.release()
            except Exception:
                pass

    def _grab(self, capture: Any = None) -> Optional[np.ndarray]:
        capture = self._capture if capture is None else capture
        try:
            ok, frame = capture.read()
        except Exception:  # cv2.error from a broken stream
            return None
        if not ok or frame is None:
            return None
        try:
            return to_bgr8(frame)
        except ValueError:
            return None

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt `attempt` (1-based)."""
        return min(self.backoff_s * (2.0 ** (attempt - 1)), self.max_backoff_s)

    def _next_frame(self) -> Optional[np.ndarray]:
        frame = self._grab()
        if frame is not None:
            return frame
        return self._reconnect() if self.live else self._at_end()

    def _at_end(self) -> Optional[np.ndarray]:
        """What a non-live source does when its frames run out: end (VideoFileSource may restart)."""
        return None

    def _reopen(self) -> Optional[np.ndarray]:
        """Open a new capture and read its first frame; on success it replaces the old one."""
        try:
            capture = self._opener()
        except Exception:
            return None
        if capture is None or not capture.isOpened():
            self._release(capture)
            return None
        frame = self._grab(capture)
        if frame is None:
            self._release(capture)
            return None
        self._release(self._capture)
        self._capture = capture
        return frame

    def _reconnect(self) -> Optional[np.ndarray]:
        self._release(self._capture)
        self._capture = None
        attempts = self.reconnect_attempts
        for attempt in range(1, attempts + 1):
            delay = self.backoff(attempt)
            self._log("{}: stream lost, reconnecting ({}/{}) in {:.1f} s".format(self.name, attempt, attempts, delay))
            self._sleep(delay)
            if self._stop.is_set():  # Ctrl-C (or a stop) during the back-off
                self.ended_early = "stopped while reconnecting"
                return None
            frame = self._reopen()
            if frame is not None:
                self.reconnects += 1
                self._log("{}: reconnected ({} reconnect(s) so far)".format(self.name, self.reconnects))
                return frame
        self._log("{}: stream lost; gave up after {} reconnect attempt(s), ending".format(self.name, attempts))
        self.ended_early = "stream lost; gave up after {} reconnect attempt(s)".format(attempts)
        return None

    def _free(self) -> None:
        self._release(self._capture)
        self._capture = None


class VideoFileSource(CaptureSource):
    """Every frame of a video file, in order; with loop=True it restarts at the first frame forever.

    `loops` counts the restarts. `frame_count` is the file's frame count, or None when looping (the
    stream is unbounded); `file_frame_count` is always the file's count (None when unknown).
    """

    def __init__(self, path: str, loop: bool = False, fps: Optional[float] = None, log: Log = print) -> None:
        self.path = path
        self.loop = bool(loop)
        self.loops = 0
        super().__init__(
            path, lambda: _capture(path), live=False, reconnect_attempts=0, fps=fps, log=log,
            open_error="{}: OpenCV cannot open this video; check the codec (mp4v, MJPG and, with FFmpeg, "
                       "H.264 usually work)".format(path),
            decode_error="{}: opened but no frame decodes; check the file is a video OpenCV can read".format(path),
        )
        self.file_frame_count = self.frame_count
        if self.loop:
            self.frame_count = None

    def _at_end(self) -> Optional[np.ndarray]:
        position = self.delivered - self.loops * (self.file_frame_count or 0)
        if self.file_frame_count and 0 < position < self.file_frame_count and self.ended_early is None:
            self.ended_early = "ended after {} of its {} frames (truncated or damaged)".format(
                position, self.file_frame_count)
            self._log("{}: {}".format(self.name, self.ended_early))
        if not self.loop:
            return None
        frame = self._reopen()  # reopening is exact for every codec, unlike seeking to frame 0
        if frame is None:
            self._log("{}: could not restart the video for --loop; ending".format(self.name))
            return None
        self.loops += 1
        return frame


# ------------------------------------------------------------------------------------ image folders


class ImageFolderSource(FrameSource):
    """The image files of a folder in natural order (frame2.png before frame10.png), at `fps`.

    Common extensions only (IMAGE_EXTENSIONS, any case); other files are ignored. An image that does
    not decode is skipped with one warning line; SourceError when the folder has no image files or
    none decodes. Grey, BGRA, 16-bit and float images are converted to BGR uint8. `frame_count` is
    the number of image files (an upper bound when some are skipped); None with loop=True.
    """

    def __init__(self, folder: str, fps: Optional[float] = None, loop: bool = False, log: Log = print,
                 files: Optional[List[str]] = None) -> None:
        self.name = folder
        self.live = False
        self.reconnects = 0
        self.fps = float(fps) if fps is not None and fps > 0 else DEFAULT_FPS
        self.loop = bool(loop)
        self.loops = 0
        self._log = log
        if files is None:
            try:
                names = os.listdir(folder)
            except OSError as exc:
                raise SourceError("{}: cannot list this folder ({}); check its permissions".format(
                    folder, exc.strerror or exc))
            names = [n for n in names if is_image_name(n)
                     and os.path.isfile(os.path.join(folder, n))]
            files = [os.path.join(folder, n) for n in sorted(names, key=natural_key)]
        if not files:
            raise SourceError("{}: no image files ({}) in this folder; check the path".format(
                folder, ", ".join(IMAGE_EXTENSIONS[:5])))
        self.files = list(files)
        self._bad: Set[str] = set()
        self._index = 0
        self._pending = self._next_frame()
        if self._pending is None:
            raise SourceError("{}: no image decodes ({} image file(s) tried); check they are images OpenCV can read"
                              .format(folder, len(self.files)))
        self.frame_count = None if self.loop else len(self.files) - len(self._bad)

    def _next_frame(self) -> Optional[np.ndarray]:
        restarted = False
        while True:
            if self._index >= len(self.files):
                if not self.loop or restarted or len(self._bad) == len(self.files):
                    return None
                self._index = 0
                self.loops += 1
                restarted = True
            path = self.files[self._index]
            self._index += 1
            if path in self._bad:
                continue
            image = decode_bgr8(path)
            if image is not None:
                return image
            self._bad.add(path)
            self._log("{}: skipping {}: not an image OpenCV can decode".format(self.name, os.path.basename(path)))



# ------------------------------------------------------------------------------------ open_source


def _gstreamer_source(name: str, pipeline: str, live_options: dict, log: Log) -> CaptureSource:
    if not opencv_has_gstreamer():
        raise SourceError(
            "{}: the installed OpenCV {} has no GStreamer support, which GStreamer pipelines and csi:// cameras "
            "need (pip's opencv-python wheels lack it); on a Jetson use JetPack's OpenCV: pip uninstall "
            "opencv-python opencv-python-headless (a venv needs --system-site-packages)".format(name, cv2.__version__))
    if "appsink" not in pipeline:
        raise SourceError("{}: a GStreamer pipeline for OpenCV must end in appsink, e.g. "
                          "'... ! videoconvert ! video/x-raw,format=BGR ! appsink'".format(name))
    return CaptureSource(
        name, lambda: _capture(pipeline, cv2.CAP_GSTREAMER), live=True, log=log,
        open_error="{}: GStreamer cannot start this pipeline; try it with gst-launch-1.0 (appsink -> fakesink)"
                   .format(name),
        decode_error="{}: the pipeline started but delivered no frame; check the caps end in format=BGR"
                     .format(name),
        **live_options)


def parse_csi(spec: str) -> Tuple[int, Dict[str, int]]:
    """csi://N[?width=&height=&fps=&flip=] → (sensor id, options); SourceError when malformed."""
    match = _CSI_RE.match(spec.strip())
    if match is None:
        raise SourceError("{}: a CSI camera is csi://N with N the sensor id, e.g. csi://0".format(spec))
    options = {"width": 1280, "height": 720, "fps": 30, "flip": 0}
    for item in (match.group(2) or "").split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        key = {"framerate": "fps", "flip-method": "flip", "flip_method": "flip"}.get(key.lower(), key.lower())
        if key not in options or not value.isdigit():
            raise SourceError("{}: unknown or invalid option {!r}; csi:// takes width, height, fps and flip "
                              "(e.g. csi://0?width=1920&height=1080&fps=30)".format(spec, item))
        options[key] = int(value)
    return int(match.group(1)), options


def _csi_source(spec: str, live_options: dict, log: Log) -> CaptureSource:
    sensor, options = parse_csi(spec)
    pipeline = csi_pipeline(sensor, options["width"], options["height"], options["fps"], options["flip"])
    source = _gstreamer_source(spec, pipeline, live_options, log)
    source.pipeline = pipeline  # type: ignore[attr-defined]
    return source


def _camera_source(spec: str, index: int, live_options: dict, log: Log) -> CaptureSource:
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
    device = "/dev/video{}".format(index)
    return CaptureSource(
        spec, lambda: _capture(index, api), live=True, log=log,
        open_error="{}: cannot open camera {}; check it is plugged in (ls /dev/video*) and not in use by another "
                   "program (a Jetson CSI ribbon camera is csi://0)".format(spec, device),
        decode_error="{}: camera {} opened but delivered no frame; check its format (v4l2-ctl --list-formats-ext)"
                     " or use csi://N for a CSI camera".format(spec, device),
        **live_options)


def _stream_source(spec: str, live_options: dict, log: Log) -> CaptureSource:
    name = redact(spec)
    params: List[int] = []
    for prop in ("CAP_PROP_OPEN_TIMEOUT_MSEC", "CAP_PROP_READ_TIMEOUT_MSEC"):
        if hasattr(cv2, prop):
            params += [getattr(cv2, prop), STREAM_TIMEOUT_MS]
    return CaptureSource(
        name, lambda: _capture(spec, cv2.CAP_ANY, params), live=True, log=log,
        open_error="{}: cannot open this stream; check the URL, credentials and network (try it in ffplay or VLC)"
                   .format(name),
        decode_error="{}: the stream opened but delivered no frame; check its codec (try it in ffplay)".format(name),
        **live_options)


def open_source(
    spec: str,
    loop: bool = False,
    reconnect_attempts: int = 5,
    backoff_s: float = 0.5,
    max_backoff_s: float = 8.0,
    fps: Optional[float] = None,
    log: Log = print,
    stop: Optional[threading.Event] = None,
    stream: Optional["StreamOptions"] = None,
) -> FrameSource:
    """The FrameSource for `spec` (see the module docstring for the rules); SourceError if it cannot open.

    `loop` restarts a video file or image folder at its end; `reconnect_attempts`, `backoff_s` and
    `max_backoff_s` govern live sources, and setting `stop` ends their back-off at once; `fps` overrides the
    reported frame rate (image folders: 30); `stream` (--input-codec, ...) sends rtp:// and codec-asked inputs
    to GStreamer (stream/gst.py).
    """
    parsed = parse_input(spec)  # file://, v4l2://, globs; display:// refused
    if parsed.files is not None:
        return ImageFolderSource(parsed.spec, fps=fps, loop=loop, log=log, files=parsed.files)
    spec = parsed.spec
    from .gst import gst_input

    decoded = gst_input(spec, stream, loop)
    if decoded is not None:
        return decoded
    live_options = {"reconnect_attempts": reconnect_attempts, "backoff_s": backoff_s,
                    "max_backoff_s": max_backoff_s, "fps": fps, "stop": stop}
    if " ! " in spec:
        return _gstreamer_source(redact(spec), spec, live_options, log)
    lowered = spec.strip().lower()
    if lowered.startswith("csi://"):
        return _csi_source(spec, live_options, log)
    if lowered.startswith(STREAM_SCHEMES):
        return _stream_source(spec.strip(), live_options, log)
    if spec.strip().isdigit():
        return _camera_source(spec, int(spec.strip()), live_options, log)
    device = _DEV_VIDEO_RE.match(spec.strip())
    if device is not None:
        return _camera_source(spec, int(device.group(1)), live_options, log)
    path = os.path.expanduser(spec)
    if os.path.isdir(path):
        return ImageFolderSource(path, fps=fps, loop=loop, log=log)
    if os.path.isfile(path):
        if is_image_name(path):
            return ImageFolderSource(path, fps=fps, loop=loop, log=log, files=[path])
        return VideoFileSource(path, loop=loop, fps=fps, log=log)
    if "://" in spec:
        raise SourceError("{}: unsupported source scheme; use a file, a folder, a camera (0, /dev/video0, csi://0) "
                          "or a stream (rtsp://, http://, https://)".format(redact(spec)))
    raise SourceError("{}: no such video file or image folder (no such file or folder); check the path "
                      "(cameras are 0, /dev/video0 or csi://0; streams rtsp://...)".format(spec))
