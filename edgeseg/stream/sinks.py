"""Frame sinks: a video file (written atomically), an image folder, an on-screen window; `open_sinks` opens
a run's and closes them all when it ends."""
import os
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..artifacts import partial_path, remove_partials, write_bytes_atomic
from ..errors import ConfigError, SinkError
from .uri import parse_output, sequence_path

if TYPE_CHECKING:
    from .gst import StreamOptions

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


class Sink:
    """Takes rendered frames. `write` returns False when the user asked to stop (a window)."""

    def write(self, frame: np.ndarray) -> Optional[bool]:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the output; safe to call twice."""


class VideoFileSink(Sink):
    """Writes frames to a partial file beside `path`; `close()` moves it into place (even after Ctrl-C).
    Frames of another size than the first are resized to it (a video has one size).

    OpenCV's VideoWriter reports no write errors (FFmpeg only warns on stderr), so the sink checks for
    itself: every CHECK_EVERY frames, that the disk keeps room for more; at `close()`, that the file holds
    every frame written. A failure removes the partial file, leaves whatever was at `path` untouched and
    raises SinkError."""

    CHECK_EVERY = 30
    MIN_FREE = 1 << 20  # bytes the disk must keep free, beyond twice what the last CHECK_EVERY frames took

    def __init__(self, path: str, fps: float, size: Tuple[int, int]) -> None:
        extension = os.path.splitext(path)[1].lower()
        if extension not in FOURCC:
            raise ConfigError("{}: unsupported video extension; use one of {}".format(path, ", ".join(sorted(FOURCC))))
        remove_partials(path)  # what a killed run to this path left
        try:
            self._partial = partial_path(path)
        except OSError as exc:
            raise ConfigError("{}: cannot write here ({}); choose another --output".format(path, exc.strerror))
        self.path, self.size = path, tuple(size)
        fourcc = cv2.VideoWriter_fourcc(*FOURCC[extension])  # type: ignore[attr-defined]  # in OpenCV, not its stubs
        self._writer: Any = cv2.VideoWriter(self._partial, fourcc, fps, self.size)
        if not self._writer.isOpened():
            os.remove(self._partial)
            raise ConfigError("{}: OpenCV cannot open a {} writer; try an .avi or .mp4 path".format(
                path, FOURCC[extension]))
        self.frames = 0
        self._checked_size = 0
        self._failed: Optional[str] = None

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1
        if self.frames % self.CHECK_EVERY == 0:
            self._check_room()

    def _check_room(self) -> None:
        size = os.path.getsize(self._partial)
        grown, self._checked_size = size - self._checked_size, size
        disk = os.statvfs(os.path.dirname(os.path.abspath(self._partial)))
        free = disk.f_bavail * disk.f_frsize
        if free < 2 * grown + self.MIN_FREE:
            self._failed = "the disk is full ({:.1f} MB left after {} frames)".format(free / 1e6, self.frames)
            raise SinkError("{}: {}; nothing was written there; free space or choose another --output".format(
                self.path, self._failed))

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self._failed is None:
            video = cv2.VideoCapture(self._partial)
            readable = int(video.get(cv2.CAP_PROP_FRAME_COUNT)) if video.isOpened() else 0
            video.release()
            if readable != self.frames:
                self._failed = "the file holds {} of the {} frames written (disk full?)".format(readable, self.frames)
        if self._failed is not None:
            os.remove(self._partial)
            raise SinkError("{}: {}; nothing was written there (a previous file is untouched)".format(
                self.path, self._failed))
        os.replace(self._partial, self.path)


def write_image_atomic(path: str, image: np.ndarray) -> None:
    """Encode `image` by the extension of `path` and move it into place whole."""
    ok, data = cv2.imencode(os.path.splitext(path)[1], image)
    if not ok:
        raise ConfigError("{}: OpenCV cannot encode this image format; use .png or .jpg".format(path))
    write_bytes_atomic(path, data.tobytes())


class ImageSequenceSink(Sink):
    """One image per frame, named by a printf-style pattern numbered from 0, as jetson-inference's
    videoOutput does: out_%i.png → out_0.png, out_1.png, ...; each file written atomically."""

    def __init__(self, pattern: str) -> None:
        folder = os.path.dirname(pattern)
        try:
            if folder:
                os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise ConfigError("{}: cannot create the output folder ({})".format(folder, exc.strerror))
        self.pattern, self.frames = pattern, 0

    def write(self, frame: np.ndarray) -> None:
        write_image_atomic(sequence_path(self.pattern, self.frames), frame)
        self.frames += 1


class ImageFolderSink(ImageSequenceSink):
    """One image per frame: FOLDER/frame_000000.jpg, ..."""

    def __init__(self, folder: str, extension: str = ".jpg") -> None:
        super().__init__(os.path.join(folder, "frame_%06d" + extension.replace("%", "%%")))
        self.folder, self.extension = folder, extension


class ImageFileSink(Sink):
    """One image file holding the last frame (for one input image: its result), encoded once, at close."""

    def __init__(self, path: str) -> None:
        self.path, self.frames = path, 0
        self._last: Optional[np.ndarray] = None

    def write(self, frame: np.ndarray) -> None:
        self._last = frame.copy()  # the frame's buffer is reused for the next one
        self.frames += 1

    def close(self) -> None:
        if self._last is not None:
            write_image_atomic(self.path, self._last)
            self._last = None


class WindowSink(Sink):
    """An OpenCV window; `available()` says whether this OpenCV build and session can show one."""

    def __init__(self, title: str = "edgeseg") -> None:
        self.title = title

    @staticmethod
    def available() -> bool:
        has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        return has_display and not _gui_line().strip().endswith("NONE")

    def write(self, frame: np.ndarray) -> bool:
        """Show `frame`; False when the user pressed q or Esc."""
        cv2.imshow(self.title, frame)
        return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)

    def close(self) -> None:
        cv2.destroyWindow(self.title)


def _gui_line() -> str:
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line
    return ""


class Sinks:
    """A run's sinks as a context manager: `with Sinks([...]) as sinks:` closes every one at the end, whatever
    one raises; a close error is raised unless the run itself raised (its error is the one that matters)."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def __iter__(self) -> Iterator[Sink]:
        return iter(self.sinks)

    def __enter__(self) -> "Sinks":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        errors: List[Exception] = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as error:
                errors.append(error)
        if errors and exc_type is None:
            raise errors[0]


def open_sinks(output: Optional[str], display: bool, fps: float, size: Tuple[int, int],
               stream: Optional["StreamOptions"] = None) -> Sinks:
    """The sinks of `output` (a URI, see `uri.parse_output`: a video, an image sequence, one image, a folder,
    display://N, or an rtp:// stream) and/or a window; rtp:// and, with `stream`'s --output-codec, a video go
    to GStreamer (stream/gst.py)."""
    from .gst import gst_output

    sinks: List[Sink] = []
    target = parse_output(output) if output else None
    encoded = gst_output(target.path, fps, size, stream) if target is not None and target.kind in ("stream", "video") \
        else None
    if target is not None and target.kind == "display":
        display = True
    elif encoded is not None:
        sinks.append(encoded)
    elif target is not None:
        sinks.append(VideoFileSink(target.path, fps, size) if target.kind == "video" else
                     ImageSequenceSink(target.path) if target.kind == "sequence" else
                     ImageFileSink(target.path) if target.kind == "image" else ImageFolderSink(target.path))
    if display and WindowSink.available():
        sinks.append(WindowSink())
    return Sinks(sinks)


def open_mask_sink(output: str) -> Sinks:
    """Where class-id masks go: a PNG sequence (masks/%i.png) or a folder (FOLDER/frame_000000.png); lossless,
    since each pixel is a class id."""
    target = parse_output(output)
    if target.kind == "sequence" and target.path.lower().endswith(".png"):
        return Sinks([ImageSequenceSink(target.path)])
    if target.kind == "folder":
        return Sinks([ImageFolderSink(target.path, ".png")])
    raise ConfigError("--mask-output {}: give a PNG sequence (masks/%i.png) or a folder; class ids need a lossless "
                      "image".format(output))

