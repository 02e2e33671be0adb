"""What `edgeseg run` shows: overlay and/or mask (side by side when both), and a HUD."""
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from ..palettes import color_lut, colorize
from ..runtime.base import IN_FLIGHT

VISUALIZATIONS = ("overlay", "mask")


class Renderer:
    """Class map + frame → output image, as jetson-inference's segNet users know it.

    The host's share of the pixel work, made lean (0.8 against 1.7 ms at 960x540 on the 2-core x86): the
    class map is resized (nearest) to the frame into a reused buffer, coloured by `colorize` (OpenCV's
    lookup table) and blended by OpenCV. Output images come from a ring of IN_FLIGHT reused buffers
    (a frame's image stays valid while the next frames are rendered, until the ring comes round)."""

    def __init__(self, colors_bgr: np.ndarray, visualize: Sequence[str] = ("overlay",), alpha: float = 0.5) -> None:
        unknown = [v for v in visualize if v not in VISUALIZATIONS]
        if unknown or not visualize:
            raise ValueError("--visualize takes {} (comma-separated), not {}".format(
                " and/or ".join(VISUALIZATIONS), ",".join(visualize)))
        self.colors_bgr, self.visualize, self.alpha = colors_bgr, tuple(visualize), alpha
        self._lut = color_lut(colors_bgr)  # made once, not per frame
        self._scratch: Dict[str, np.ndarray] = {}
        self._ring: List[np.ndarray] = []
        self._next = 0

    def _buffer(self, name: str, shape: Tuple[int, ...]) -> np.ndarray:
        if name not in self._scratch or self._scratch[name].shape != shape:
            self._scratch[name] = np.empty(shape, np.uint8)
        return self._scratch[name]

    def _output(self, shape: Tuple[int, ...]) -> np.ndarray:
        if not self._ring or self._ring[0].shape != shape:
            self._ring, self._next = [np.empty(shape, np.uint8) for _ in range(IN_FLIGHT)], 0
        image = self._ring[self._next]
        self._next = (self._next + 1) % len(self._ring)
        return image

    def __call__(self, frame_bgr: np.ndarray, class_map: np.ndarray) -> np.ndarray:
        """The output image for a BGR frame and its uint8 class map (at any resolution)."""
        height, width = frame_bgr.shape[:2]
        ids = class_map  # uint8, as Segmenter.postprocess gives it
        if ids.shape != (height, width):
            ids = cv2.resize(ids, (width, height), dst=self._buffer("ids", (height, width)),
                             interpolation=cv2.INTER_NEAREST)
        output = self._output((height, width * len(self.visualize), 3))
        if self.visualize == ("mask",):
            mask = output
        else:
            mask = self._buffer("mask", (height, width, 3))
        colorize(ids, self.colors_bgr, out=mask, lut=self._lut)
        if len(self.visualize) == 1:
            if self.visualize == ("overlay",):
                cv2.addWeighted(frame_bgr, 1.0 - self.alpha, mask, self.alpha, 0, dst=output)
            return output
        for panel, kind in enumerate(self.visualize):
            target = output[:, panel * width:(panel + 1) * width]
            if kind == "mask":
                target[...] = mask
            else:
                target[...] = cv2.addWeighted(frame_bgr, 1.0 - self.alpha, mask, self.alpha, 0,
                                              dst=self._buffer("overlay", (height, width, 3)))
        return output


def draw_hud(image: np.ndarray, fps: float, stage_ms: Dict[str, float]) -> None:
    """fps and per-stage milliseconds in the top-left corner, in place."""
    lines = ["{:.1f} fps".format(fps)] + ["{} {:.1f} ms".format(name, ms) for name, ms in stage_ms.items()]
    scale = max(0.4, image.shape[0] / 1000.0)
    step = int(22 * scale / 0.5)
    for i, text in enumerate(lines):
        origin = (10, 10 + step * (i + 1))
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
