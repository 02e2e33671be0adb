"""What `edgeseg run` shows: overlay and/or mask (side by side when both), and a HUD."""
from typing import Dict, Sequence

import cv2
import numpy as np

from ..palettes import colorize

VISUALIZATIONS = ("overlay", "mask")


class Renderer:
    """Class map + frame → output image, as jetson-inference's segNet users know it."""

    def __init__(self, colors_bgr: np.ndarray, visualize: Sequence[str] = ("overlay",), alpha: float = 0.5) -> None:
        unknown = [v for v in visualize if v not in VISUALIZATIONS]
        if unknown or not visualize:
            raise ValueError("--visualize takes {} (comma-separated), not {}".format(
                " and/or ".join(VISUALIZATIONS), ",".join(visualize)))
        self.colors_bgr, self.visualize, self.alpha = colors_bgr, tuple(visualize), alpha

    def __call__(self, frame_bgr: np.ndarray, class_map: np.ndarray) -> np.ndarray:
        height, width = frame_bgr.shape[:2]
        if class_map.shape != (height, width):
            class_map = cv2.resize(class_map, (width, height), interpolation=cv2.INTER_NEAREST)
        mask = colorize(class_map, self.colors_bgr)
        panels = []
        for kind in self.visualize:
            panels.append(mask if kind == "mask" else cv2.addWeighted(frame_bgr, 1.0 - self.alpha, mask, self.alpha, 0))
        return panels[0] if len(panels) == 1 else np.hstack(panels)


def draw_hud(image: np.ndarray, fps: float, stage_ms: Dict[str, float]) -> None:
    """fps and per-stage milliseconds in the top-left corner, in place."""
    lines = ["{:.1f} fps".format(fps)] + ["{} {:.1f} ms".format(name, ms) for name, ms in stage_ms.items()]
    scale = max(0.4, image.shape[0] / 1000.0)
    step = int(22 * scale / 0.5)
    for i, text in enumerate(lines):
        origin = (10, 10 + step * (i + 1))
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
