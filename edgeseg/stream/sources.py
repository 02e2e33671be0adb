"""Frame sources: video files (and, through OpenCV, camera indices and stream URLs)."""
import os
from typing import Iterator, Optional, Union

import cv2
import numpy as np

from ..errors import SourceError


def _is_live(source: str) -> bool:
    return source.isdigit() or source.startswith("/dev/video") or "://" in source


class VideoSource:
    """Frames from OpenCV's VideoCapture. Raises SourceError when it cannot open or decode."""

    def __init__(self, source: Union[str, int]) -> None:
        self.source = str(source)
        if not _is_live(self.source) and not os.path.isfile(self.source):
            raise SourceError("{}: no such video file; check the path".format(self.source))
        target = int(self.source) if self.source.isdigit() else self.source
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            raise SourceError("{}: OpenCV cannot open this source; check the codec or device".format(self.source))
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.fps = fps if fps and fps > 0 else 30.0  # live sources often report 0
        self.frame_count = count if count > 0 else None  # type: Optional[int]
        self._first = self._read()
        if self._first is None:
            self.close()
            raise SourceError("{}: opened but no frame decodes; check the file is a video OpenCV can read".format(
                self.source))

    def _read(self) -> Optional[np.ndarray]:
        ok, frame = self._capture.read()
        return frame if ok else None

    def read(self) -> Optional[np.ndarray]:
        """The next frame (BGR uint8), or None at the end."""
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        return self._read()

    def __iter__(self) -> Iterator[np.ndarray]:
        frame = self.read()
        while frame is not None:
            yield frame
            frame = self.read()

    def close(self) -> None:
        self._capture.release()
