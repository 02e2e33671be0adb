"""Histograms of |x| per tensor, and the clipping threshold that minimises int8 symmetric quantization error.

TensorRT quantizes activations to int8 symmetric: x -> clip(round(x / s), -127, 127) * s with s = amax / 127.
A larger `amax` clips less and rounds coarser; `mse_amax` picks the one with the least expected squared error
over the calibration data (the "mse" calibrator of NVIDIA's pytorch-quantization, on the same 2048-bin |x|
histogram). `AbsHistograms` collects those histograms batch by batch in constant memory: it is the collector
ONNX Runtime's histogram calibrator calls (`collect(name_to_arr)`), fed by its augmented model.
"""
from typing import Any, Dict, Tuple

import numpy as np

BINS = 2048         # bins over [0, top]: TensorRT's and pytorch-quantization's histogram size
FIRST_CANDIDATE = 128  # smallest threshold tried: 128 bins, as pytorch-quantization (so at least 1/16 of top)
LEVELS = 127        # int8 symmetric steps on each side of 0


class AbsHistograms(object):
    """Per tensor: a BINS-bin histogram of |x| over [0, top], and the lowest and highest value seen.

    `top` starts at the first batch's max |x| and doubles (neighbouring bins merged in pairs) whenever a
    later batch goes past it, so the histogram never grows and a tensor's late outlier costs one merge."""

    def __init__(self, bins: int = BINS) -> None:
        self.bins = bins
        self.histograms: Dict[str, Tuple[np.ndarray, float, float, float]] = {}  # hist, top, min, max

    def collect(self, name_to_arr: Dict[str, Any]) -> None:
        """Add one batch: tensor name -> an array, or a list of arrays (ONNX Runtime's calibrator)."""
        for name, arrays in name_to_arr.items():
            for array in arrays if isinstance(arrays, (list, tuple)) else [arrays]:
                self._add(str(name), np.asarray(array))

    def _add(self, name: str, array: np.ndarray) -> None:
        values = array.reshape(-1)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return
        low, high = float(values.min()), float(values.max())
        magnitudes = np.abs(values)
        peak = float(magnitudes.max())
        if name not in self.histograms:
            top = peak if peak > 0 else 1.0
            self.histograms[name] = (np.zeros(self.bins, np.int64), top, low, high)
        hist, top, seen_low, seen_high = self.histograms[name]
        while peak > top:
            hist = np.concatenate([hist.reshape(-1, 2).sum(axis=1), np.zeros(self.bins // 2, np.int64)])
            top *= 2.0
        hist = hist + np.histogram(magnitudes, bins=self.bins, range=(0.0, top))[0]
        self.histograms[name] = (hist, top, min(seen_low, low), max(seen_high, high))

    def ranges(self) -> Dict[str, Tuple[float, float]]:
        """Tensor name -> (lowest, highest) after clipping at the MSE-optimal threshold: (max(min, -amax),
        min(max, amax)), so a tensor that never goes negative keeps its 0 lower bound."""
        result = {}
        for name, (hist, top, low, high) in self.histograms.items():
            amax = mse_amax(hist, top)
            result[name] = (max(low, -amax), min(high, amax))
        return result


def mse_amax(hist: np.ndarray, top: float, levels: int = LEVELS,
             first: int = FIRST_CANDIDATE) -> float:
    """The threshold (a bin edge from bin `first` up to `top`) with the least squared int8 symmetric
    quantization error over a |x| histogram of len(hist) equal bins on [0, top], each bin's values taken
    at its centre. 0.0 for an all-zero tensor."""
    counts = np.asarray(hist, np.float64)
    bins = len(counts)
    if counts.sum() == 0 or top <= 0:
        return 0.0
    width = top / bins
    centres = (np.arange(bins) + 0.5) * width
    candidates = np.arange(min(first, bins), bins + 1) * width
    used = counts > 0  # the error only needs the bins that hold values
    centres, counts = centres[used], counts[used]
    errors = np.empty(len(candidates))
    for start in range(0, len(candidates), 256):  # bounded memory: 256 x bins at a time
        amax = candidates[start:start + 256, None]
        step = amax / levels
        quantized = np.minimum(np.round(centres[None, :] / step), levels) * step
        errors[start:start + 256] = ((centres[None, :] - quantized) ** 2 * counts[None, :]).sum(axis=1)
    return float(candidates[int(np.argmin(errors))])

