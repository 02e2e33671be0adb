"""Per-tensor ranges from one pass of ONNX Runtime's calibrator over the calibration images (several histogram
methods can share the pass), and the ranges file that lets a model be quantized again without calibrating."""
import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..artifacts import file_sha256, write_json_atomic
from ..errors import ArtifactError, ConfigError, SourceError
from ..progress import Progress
from . import collectors
from .onnx_model import Log, import_quantization
from .reader import ReaderBase
from .trt_cache import Ranges

METHODS = ("auto", "mse", "entropy", "percentile", "minmax")
HISTOGRAM_METHODS = ("mse", "entropy", "percentile")  # from histograms: several can share one calibration pass
AUTO_METHODS = ("mse", "entropy")  # each the best on one measured network: `auto` keeps the better on the user's
MAX_ENTROPY_BINS = 256    # cap on histogram bins before ONNX Runtime's (pure Python) entropy search


def calibration_method(method: str):
    """ONNX Runtime's CalibrationMethod for `method` (mse runs its histogram calibrator with our collector);
    ConfigError for an unknown name."""
    quantization = import_quantization()
    key = method.lower()
    table = {"minmax": quantization.CalibrationMethod.MinMax, "entropy": quantization.CalibrationMethod.Entropy,
             "percentile": quantization.CalibrationMethod.Percentile,
             "mse": quantization.CalibrationMethod.Percentile}  # its histogram calibrator, our collector
    if key not in table:
        raise ConfigError("calibration method {!r} is not one of {}".format(method, ", ".join(METHODS)))
    return table[key]


class _Slice(ReaderBase):  # type: ignore
    """At most `count` items of another reader, the first one already taken from it."""

    def __init__(self, first: Dict[str, np.ndarray], reader: Any, count: int, tick: Callable[[], None]) -> None:
        self.pending: List[Dict[str, np.ndarray]] = [first]
        self.reader, self.left, self.tick = reader, count, tick

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self.left <= 0:
            return None
        item = self.pending.pop() if self.pending else self.reader.get_next()
        if item is not None:
            self.left -= 1
            self.tick()
        return item


def compute_ranges(onnx_path: str, reader: Any, method: str = "mse", providers: Optional[Sequence[str]] = None,
                   calibrator_options: Optional[Dict[str, Any]] = None, chunk: int = 1,
                   max_entropy_bins: int = MAX_ENTROPY_BINS, log: Log = print) -> Ranges:
    """Per-tensor (lowest, highest) ranges of every float tensor of the model by one `method`: see
    `compute_ranges_by_method`."""
    return compute_ranges_by_method(onnx_path, reader, (method,), providers, calibrator_options, chunk,
                                    max_entropy_bins, log)[method.lower()]


def compute_ranges_by_method(onnx_path: str, reader: Any, methods: Sequence[str] = AUTO_METHODS,
                             providers: Optional[Sequence[str]] = None,
                             calibrator_options: Optional[Dict[str, Any]] = None, chunk: int = 1,
                             max_entropy_bins: int = MAX_ENTROPY_BINS, log: Log = print) -> Dict[str, Ranges]:
    """Per-tensor (lowest, highest) ranges of every float tensor of the model (op_types_to_calibrate None)
    for each of `methods` (one, or several histogram methods: one pass feeds them all), from ONNX Runtime's
    calibrator fed by `reader`, `chunk` images per collect_data call (so histogram methods keep one image's
    tensors in memory, not all of them). Writes nothing outside a temporary folder (the calibrator's
    augmented model and shape-inferred copy go there)."""
    quantization = import_quantization()
    methods = [m.lower() for m in methods]
    for name in methods:
        calibration_method(name)  # validates it
    if len(methods) > 1 and not set(methods) <= set(HISTOGRAM_METHODS):
        raise ConfigError("methods {} cannot share one calibration pass (histogram methods only)".format(methods))
    calibrator_class = "entropy" if "entropy" in methods else methods[0]  # entropy's own settings (128 bins)
    total = len(reader) if hasattr(reader, "__len__") else None
    started = time.perf_counter()
    log("collecting {} ranges{} on {} ...".format(
        " and ".join(methods), "" if total is None else " over {} image(s)".format(total),
        ", ".join(providers) if providers else "CPUExecutionProvider"))
    bar = Progress("img", description="calibrating", total=total)
    seen = [0]

    def tick() -> None:
        seen[0] += 1
        bar.advance()

    quiet = io.StringIO()  # the calibrators print progress notes of their own to stdout
    with tempfile.TemporaryDirectory(prefix="edgeseg-calib-") as work:
        model_copy = os.path.join(work, "model.onnx")
        shutil.copyfile(onnx_path, model_copy)
        options = dict(calibrator_options or {})
        arguments = collectors.kwargs_for(quantization.create_calibrator, {
            "op_types_to_calibrate": None, "augmented_model_path": os.path.join(work, "augmented.onnx"),
            "calibrate_method": calibration_method(calibrator_class),
            "providers": list(providers) if providers else None,
            "extra_options": options})
        try:
            with contextlib.redirect_stdout(quiet):
                calibrator = quantization.create_calibrator(model_copy, **arguments)
                if providers and "providers" not in arguments:
                    calibrator.set_execution_providers(list(providers))
            fed = {m: collectors.histogram_collector(calibrator, m) for m in methods if m in HISTOGRAM_METHODS}
            if fed:
                calibrator.collector = collectors.Collectors(fed)
            while True:
                first = reader.get_next()
                if not first:
                    break
                with contextlib.redirect_stdout(quiet):
                    calibrator.collect_data(_Slice(first, reader, max(1, chunk), tick))
            if seen[0] == 0:
                raise SourceError("{}: the calibration reader gave no data".format(onnx_path))
            results: Dict[str, Any] = {}
            with contextlib.redirect_stdout(quiet):
                for name in methods:
                    collector = fed.get(name)
                    collectors.cap_entropy_histograms(collector, max_entropy_bins)
                    results[name] = calibrator.compute_data() if collector is None else \
                        collector.ranges() if name == "mse" else collector.compute_collection_result()
        finally:
            bar.close()
        by_method = {name: _as_ranges(tensors) for name, tensors in results.items()}
        del calibrator
    log("ranges of {} tensors from {} image(s) in {:.1f} s".format(
        len(by_method[methods[0]]), seen[0], time.perf_counter() - started))
    return by_method


def _as_ranges(tensors: Any) -> Ranges:
    """Ranges from what a calibrator or collector computed (TensorsData, or name -> (low, high, ...))."""
    ranges: Ranges = {}
    items = tensors.items() if hasattr(tensors, "items") else tensors.data.items()
    for name, value in items:
        low, high = value.range_value if hasattr(value, "range_value") else value[:2]
        ranges[str(name)] = (float(np.float32(np.asarray(low).reshape(-1)[0])),
                             float(np.float32(np.asarray(high).reshape(-1)[0])))
    return dict(sorted(ranges.items()))


def save_ranges(path: str, ranges: Ranges, method: str, model_sha256: str = "",
                extra: Optional[Dict[str, Any]] = None) -> None:
    """Write ranges as JSON (float32 values round-trip exactly through JSON doubles)."""
    record: Dict[str, Any] = {"format": "edgeseg-ranges-1", "method": method, "model_sha256": model_sha256}
    record.update(extra or {})
    record["tensors"] = {name: [float(lo), float(hi)] for name, (lo, hi) in sorted(ranges.items())}
    write_json_atomic(path, record)


def load_ranges(path: str, model_path: Optional[str] = None) -> Tuple[Ranges, Dict[str, Any]]:
    """Ranges saved by `save_ranges` and the file's other fields; with `model_path`, ArtifactError
    when they were computed for another model."""
    try:
        with open(path) as f:
            record = json.load(f)
        ranges = {str(k): (float(v[0]), float(v[1])) for k, v in record["tensors"].items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ArtifactError("{}: not a ranges file written by edgeseg calibrate ({})".format(path, exc))
    if model_path is not None and record.get("model_sha256") and record["model_sha256"] != file_sha256(model_path):
        raise ArtifactError("{}: these ranges were computed for another model than {} (hash differs); "
                            "calibrate this model".format(path, model_path))
    meta = {k: v for k, v in record.items() if k != "tensors"}
    return ranges, meta
