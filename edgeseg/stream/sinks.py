"""Frame sinks: a video file written atomically, and an on-screen window."""
import os
from typing import Optional, Tuple

import cv2
import numpy as np

from ..artifacts import partial_path
from ..errors import ConfigError

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


class VideoFileSink:
    """Writes frames to a partial file beside `path`; `close()` moves it into place (even after Ctrl-C)."""

    def __init__(self, path: str, fps: float, size: Tuple[int, int]) -> None:
        extension = os.path.splitext(path)[1].lower()
        if extension not in FOURCC:
            raise ConfigError("{}: unsupported video extension; use one of {}".format(path, ", ".join(sorted(FOURCC))))
        try:
            self._partial = partial_path(path)
        except OSError as exc:
            raise ConfigError("{}: cannot write here ({}); choose another --output".format(path, exc.strerror))
        self.path = path
        self._writer = cv2.VideoWriter(self._partial, cv2.VideoWriter_fourcc(*FOURCC[extension]), fps, size)
        if not self._writer.isOpened():
            os.remove(self._partial)
            raise ConfigError("{}: OpenCV cannot open a {} writer; try an .avi or .mp4 path".format(
                path, FOURCC[extension]))
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._partial, self.path)


class WindowSink:
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
