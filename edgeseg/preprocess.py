"""THE preprocessing: one spec, stored in every sidecar, so export, eval and run agree exactly.

A frame (HxWx3 uint8, BGR as OpenCV reads it) becomes a 1x3xHxW float32 blob:
resize to the model's input size (bilinear), reorder channels, x = (pixel * scale - mean) / std.
Done by OpenCV's `blobFromImageWithParams` where present (OpenCV >= 4.8), else by
`blobFromImage` plus a per-channel multiply (JetPack 5 ships OpenCV 4.5).
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PreprocessSpec:
    """How a frame becomes the model's input. `size` is (width, height); mean/std in model order."""

    def __init__(
        self,
        size: Tuple[int, int],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        color_order: str = "rgb",
        scale: float = 1.0 / 255.0,
    ) -> None:
        if color_order not in ("rgb", "bgr"):
            raise ConfigError("color order must be 'rgb' or 'bgr', not {!r}".format(color_order))
        if len(mean) != 3 or len(std) != 3 or any(s == 0 for s in std):
            raise ConfigError("mean and std need three values each, std non-zero (got {}, {})".format(
                list(mean), list(std)))
        self.size = (int(size[0]), int(size[1]))
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.color_order = color_order
        self.scale = float(scale)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "size": list(self.size),
            "layout": "NCHW",
            "dtype": "float32",
            "resize": "bilinear",
            "color_order": self.color_order,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, record: Dict[str, Any]) -> "PreprocessSpec":
        return cls(
            size=tuple(record["size"]),
            mean=record["mean"],
            std=record["std"],
            color_order=record.get("color_order", "rgb"),
            scale=record.get("scale", 1.0 / 255.0),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PreprocessSpec) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return "PreprocessSpec({})".format(self.to_dict())


class Preprocessor:
    """Callable turning BGR frames into blobs for one spec; parameters are computed once."""

    def __init__(self, spec: PreprocessSpec, dtype: Optional[np.dtype] = None) -> None:
        self.spec = spec
        self.dtype = np.dtype(dtype or np.float32)
        swap = spec.color_order == "rgb"
        mean_px = [m / spec.scale for m in spec.mean]  # mean in pixel units, model channel order
        factor = [spec.scale / s for s in spec.std]
        if hasattr(cv2.dnn, "blobFromImageWithParams"):
            params = cv2.dnn.Image2BlobParams()
            params.scalefactor = tuple(factor) + (0.0,)
            params.size = spec.size
            params.mean = tuple(mean_px) + (0.0,)
            params.swapRB = swap
            params.ddepth = cv2.CV_32F
            self._params: Any = params
        else:
            self._params = None
            self._mean_px = tuple(mean_px)
            self._swap = swap
            self._factor = np.array(factor, dtype=np.float32).reshape(1, 3, 1, 1)

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray:
        if self._params is not None:
            blob = cv2.dnn.blobFromImageWithParams(frame_bgr, self._params)
        else:
            resized = cv2.resize(frame_bgr, self.spec.size, interpolation=cv2.INTER_LINEAR)
            blob = cv2.dnn.blobFromImage(  # type: ignore[call-overload]  # OpenCV < 4.8 takes size None
                resized, 1.0, None, self._mean_px, swapRB=self._swap, crop=False)
            blob *= self._factor
        return blob if blob.dtype == self.dtype else blob.astype(self.dtype)


class FrameResizer:
    """Frames for an artifact whose preprocessing is in its graph (`edgeseg build`'s default for TensorRT): one
    bilinear resize to the input size, as `Preprocessor` resizes, into uint8 1 x H x W x 3 BGR. Each call
    fills the next of `buffers` in turn (the caller keeps as many alive as it has frames in flight)."""

    def __init__(self, size: Tuple[int, int], buffers: Sequence[np.ndarray]) -> None:
        width, height = size
        if not buffers or any(b.shape != (1, height, width, 3) or b.dtype != np.uint8 for b in buffers):
            raise ValueError("buffers must be uint8 1 x {} x {} x 3 arrays".format(height, width))
        self.size, self._buffers, self._next = (int(width), int(height)), list(buffers), 0

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray:
        buffer = self._buffers[self._next]
        self._next = (self._next + 1) % len(self._buffers)
        if frame_bgr.shape[1::-1] == self.size:
            np.copyto(buffer[0], frame_bgr)
        else:
            cv2.resize(frame_bgr, self.size, dst=buffer[0], interpolation=cv2.INTER_LINEAR)
        return buffer


def preprocess_reference(frame_bgr: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """The same transform in plain numpy: the definition the fast path is tested against."""
    resized = cv2.resize(frame_bgr, spec.size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
    if spec.color_order == "rgb":
        resized = resized[:, :, ::-1]
    x = (resized * spec.scale - np.array(spec.mean, np.float32)) / np.array(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def parse_size(text: str) -> Tuple[int, int]:
    """Parse 'WxH' (width x height, as Jetson users write it) into (width, height)."""
    parts = text.lower().split("x")
    try:
        width, height = int(parts[0]), int(parts[1])
        if len(parts) != 2 or width <= 0 or height <= 0:
            raise ValueError
    except (ValueError, IndexError):
        raise ConfigError("size {!r} is not WIDTHxHEIGHT (for example 1024x512)".format(text))
    return width, height
