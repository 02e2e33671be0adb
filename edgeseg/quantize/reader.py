"""Calibration data: images preprocessed by the model's own spec, behind ONNX Runtime's data-reader interface."""
from typing import Dict, Iterator, Optional, Sequence

import numpy as np

from ..imageio import read_image
from ..preprocess import Preprocessor, PreprocessSpec

try:  # the base class the calibrators expect; absent where onnx is not installed
    from onnxruntime.quantization import CalibrationDataReader as ReaderBase
except ImportError:  # pragma: no cover - exercised on device interpreters without onnx
    ReaderBase = object  # type: ignore


class ImageCalibrationReader(ReaderBase):  # type: ignore
    """ONNX Runtime calibration data: `{input_name: blob}` for one image at a time, preprocessed by
    the model's own spec. `rewind()` starts over; `len()` is the image count."""

    def __init__(self, images: Sequence[str], spec: PreprocessSpec, input_name: str = "input") -> None:
        self.images = list(images)
        self.spec = spec
        self.input_name = input_name
        self.preprocess = Preprocessor(spec)
        self.position = 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self.position >= len(self.images):
            return None
        path = self.images[self.position]
        self.position += 1
        return {self.input_name: self.preprocess(read_image(path))}

    def rewind(self) -> None:
        self.position = 0

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[Dict[str, np.ndarray]]:
        return self

    def __next__(self) -> Dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item
