"""The collectors one calibration pass feeds (ONNX Runtime's histogram calibrator calls `collect` on them):
edgeseg's |x| histograms for mse, ONNX Runtime's own for entropy and percentile made safe for long runs and
near-constant tensors, and one object that feeds several methods from the same pass."""
import inspect
from typing import Any, Callable, Dict

import numpy as np

from .abs_histogram import AbsHistograms


def cap_entropy_histograms(collector: Any, max_bins: int) -> None:
    """Merge neighbouring bins of entropy histograms longer than `max_bins`.

    ONNX Runtime's entropy histograms start at 128 bins and grow (same bin width) whenever a later
    batch exceeds the range seen so far; its threshold search is pure Python and quadratic in the
    bin count, so a tensor that was near zero on the first image could take minutes. Histograms
    are symmetric around 0 (an even count); merging `k` bins per side after padding keeps 0 a bin edge.
    """
    histograms = getattr(collector, "histogram_dict", None)
    if getattr(collector, "method", None) != "entropy" or not isinstance(histograms, dict) or max_bins < 2:
        return
    for name, entry in list(histograms.items()):
        if not isinstance(entry, tuple) or len(entry) != 5:
            return  # another layout (another ONNX Runtime version): leave it alone
        hist, edges, lowest, highest, threshold = entry
        bins = len(hist)
        if bins <= max_bins or bins % 2:
            continue
        k = -(-bins // max_bins)
        half = bins // 2
        pad = (-half) % k
        stride = (float(edges[-1]) - float(edges[0])) / bins
        padded = np.concatenate([np.zeros(pad, hist.dtype), hist, np.zeros(pad, hist.dtype)])
        merged = padded.reshape(-1, k).sum(axis=1)
        new_threshold = float(threshold) + pad * stride
        new_edges = np.linspace(-new_threshold, new_threshold, len(merged) + 1).astype(edges.dtype)
        histograms[name] = (merged, new_edges, lowest, highest, np.array(new_threshold, dtype=edges.dtype))


def _histogram_fits(values: np.ndarray, bins: int) -> bool:
    """Whether np.histogram can split [min, max] of `values` into `bins` distinct bins in their dtype."""
    if values.size == 0:
        return True
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if not low < high:
        return True  # numpy widens an empty range itself
    edges = np.linspace(low, high, bins + 1, dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    return bool(np.all(edges[:-1] < edges[1:]))


def histogram_collector(calibrator: Any, method: str) -> Any:
    """The collector of one histogram method, fed by `calibrator`'s augmented model: edgeseg's |x| histograms
    for mse; for entropy and percentile ONNX Runtime's HistogramCollector with the calibrator's settings
    (`calibrator` is of that method's class), the percentile one made to survive nearly constant tensors:
    its first histogram of a tensor takes `num_bins` (2048) equal bins over [min |x|, max |x|] in float32;
    a tensor whose values barely vary (a squeeze-excitation gate at 0.5 +- 3e-7) has no 2048 distinct
    float32 edges there and numpy raises "Too many bins for data range". For those tensors alone one 0
    joins the values, which stretches the range to [0, max |x|] and leaves the percentile where it was."""
    if method == "mse":
        return AbsHistograms()
    from onnxruntime.quantization.calibrate import HistogramCollector

    settings = {"symmetric": False, "num_bins": 128, "num_quantized_bins": 128, "percentile": 99.999,
                "scenario": "same"}
    collector = HistogramCollector(**kwargs_for(HistogramCollector.__init__, dict(
        {key: getattr(calibrator, key, default) for key, default in settings.items()}, method=method)))
    if method != "percentile":
        return collector
    original = collector.collect_absolute_value
    histograms = collector.histogram_dict

    def collect_absolute_value(name_to_arr: Dict[str, Any]) -> Any:
        fixed = {}
        for name, values in name_to_arr.items():
            if name not in histograms:
                flat = np.asarray(values).reshape(-1)
                if flat.dtype.kind == "f" and not _histogram_fits(np.abs(flat), collector.num_bins):
                    values = np.append(flat, flat.dtype.type(0))
            fixed[name] = values
        return original(fixed)

    collector.collect_absolute_value = collect_absolute_value
    return collector


class Collectors(object):
    """One calibration pass feeding one collector per method (what ONNX Runtime's calibrator calls)."""

    def __init__(self, by_method: Dict[str, Any]) -> None:
        self.by_method = by_method

    def collect(self, name_to_arr: Dict[str, Any]) -> None:
        for collector in self.by_method.values():
            collector.collect(name_to_arr)


def kwargs_for(function: Callable, candidates: Dict[str, Any]) -> Dict[str, Any]:
    """The `candidates` this version of an ONNX Runtime `function` takes (its signature changed across versions)."""
    accepted = inspect.signature(function).parameters
    return {key: value for key, value in candidates.items() if key in accepted}
