"""`edgeseg calibrate`: INT8 calibration with ONNX Runtime, once, for every INT8 consumer.

One pass over a calibration subset gives per-tensor ranges; from those same ranges come

- `<stem>_int8_qdq_trt.onnx`   TensorRT's explicit-INT8 model: Q/DQ around Conv/Gemm/MatMul inputs only,
                           int8 symmetric activations and per-channel symmetric int8 weights (float
                           weights -> QuantizeLinear -> DequantizeLinear, as NVIDIA's QAT toolkit
                           writes them), biases left in float, zero points 0, no uint8, opset
                           unchanged (17), standard ONNX domain only;
- `<stem>_int8_qdq_ort.onnx`   ONNX Runtime's CPU model: QDQ with uint8 activations and per-channel int8
                           weights (fuses to QLinearConv: faster than FP32 on x86 with VNNI);
- `<stem>_<method>.cache`  TensorRT's calibration cache (text, edgeseg/trt_cache.py; implicit INT8, the
                           DLA path) with scale = max(|min|, |max|) / 127 per tensor;

plus `ranges.json` (re-quantize with other excluded nodes without calibrating again) and a
`manifest.json` that records the model, the images and their hashes, seed, method and outputs,
in `calibration/<stem>_<method>_n<N>/`.

Device-side module: numpy, OpenCV, onnx and onnxruntime only (onnx and onnxruntime.quantization are
imported where needed). Python 3.8.
"""
import contextlib
import copy
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import cv2
import numpy as np

from . import __version__, collectors, method_choice, qdq_placement, trt_cache
from .artifacts import file_sha256, new_artifact, read_sidecar, require_file, write_json_atomic
from .data.pairs import resolve_listed
from .fusion_lint import WEIGHTED as TRT_WEIGHTED
from .errors import ArtifactError, ConfigError, EdgesegError, SourceError
from .preprocess import PreprocessSpec, Preprocessor
from .trt_cache import Ranges

try:  # the base class the calibrators expect; absent where onnx is not installed
    from onnxruntime.quantization import CalibrationDataReader as _ReaderBase
except ImportError:  # pragma: no cover - exercised on device interpreters without onnx
    _ReaderBase = object  # type: ignore

__all__ = [
    "METHODS", "OP_TYPES", "Ranges",
    "select_subset", "read_image_bgr", "ImageCalibrationReader", "check_model_input", "compute_ranges",
    "save_ranges", "load_ranges", "quantizable_nodes", "quantize_model", "quantize_from_ranges",
    "check_cache_matches", "calibrate", "read_manifest", "requantize",
]


METHODS = ("auto", "mse", "entropy", "percentile", "minmax")
HISTOGRAM_METHODS = ("mse", "entropy", "percentile")  # from histograms: several can share one calibration pass
AUTO_METHODS = ("mse", "entropy")  # each the best on one measured network: `auto` keeps the better on the user's
WEIGHT_SCALES = ("channel", "tensor")  # one scale per output channel (default), or per weight tensor
OP_TYPES = ("Conv", "Gemm", "MatMul")  # quantized for ONNX Runtime
# non-weighted ops TensorRT runs in INT8 when their inputs come through Q/DQ (its "quantizable operators"):
# the pooling of squeeze-excitation and attention blocks, their gating Mul, and the decoders' Resize
TRT_QUANTIZABLE = ("GlobalAveragePool", "AveragePool", "Mul", "Resize")
TRT_OP_TYPES = TRT_WEIGHTED + TRT_QUANTIZABLE  # what the TensorRT model quantizes
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
LABEL_DIR_NAMES = ("labels", "label", "masks", "annotations", "gtFine")  # skipped in image folders
CLASS_WINDOW = 8          # candidates per group looked at when preferring images with new classes
MAX_ENTROPY_BINS = 256    # cap on histogram bins before ONNX Runtime's (pure Python) entropy search

Log = Callable[..., None]


# ----------------------------------------------------------------------------------------- subset


class _Item(object):
    """One candidate calibration image: its path, group, and (lazily) the classes its label shows."""

    __slots__ = ("path", "group", "_classes", "_label")

    def __init__(self, path: str, group: str = "", label: Optional[Callable[[], Set[int]]] = None) -> None:
        self.path = path
        self.group = group
        self._label = label
        self._classes = None  # type: Optional[Set[int]]

    def classes(self) -> Set[int]:
        if self._classes is None:
            try:
                self._classes = self._label() if self._label is not None else set()
            except (EdgesegError, OSError, ValueError):
                self._classes = set()  # a bad label only loses the class-spread hint
        return self._classes


def _raw_label_classes(path: str, ignore: int = 255) -> Set[int]:
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        return set()
    if label.ndim == 3:  # colour-coded labels: one class per distinct colour
        label = label[:, :, :3].astype(np.int32)
        packed = (label[:, :, 0] << 16) | (label[:, :, 1] << 8) | label[:, :, 2]
        return set(int(v) for v in np.unique(packed))
    return set(int(v) for v in np.unique(label) if int(v) != ignore)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _scan_folder(folder: str) -> List[str]:
    """Image files under `folder`, recursively, sorted; label folders and hidden entries skipped."""
    found = []  # type: List[str]
    errors = []  # type: List[OSError]

    def on_error(exc: OSError) -> None:
        errors.append(exc)

    for root, dirs, files in os.walk(folder, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in LABEL_DIR_NAMES)
        found.extend(os.path.join(root, f) for f in sorted(files) if _is_image(f))
    if errors and not found:
        raise SourceError("{}: cannot read this folder ({})".format(folder, errors[0].strerror or errors[0]))
    return found


def _from_list_file(path: str) -> List[Tuple[str, Optional[str]]]:
    root = os.path.dirname(os.path.abspath(path))
    entries = []  # type: List[Tuple[str, Optional[str]]]
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError("{}: cannot read list file ({})".format(path, exc))
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) > 2:
            raise SourceError("{}:{}: expected 'image [label]', got {!r}".format(path, number, line.strip()))
        image = resolve_listed(fields[0], root)
        if not os.path.isfile(image):
            raise SourceError("{}:{}: image {} not found".format(path, number, image))
        label = resolve_listed(fields[1], root) if len(fields) == 2 else None
        entries.append((image, label if label and os.path.isfile(label) else None))
    return entries


def _labelled_items(data: str) -> Optional[Tuple[List[_Item], str]]:
    """Items of a labelled dataset `open_dataset` understands (its images, with class presence from
    its labels), or None when `data` is not one."""
    from .data.datasets import FileDataset, open_dataset
    from .data.pairs import find_pairs

    try:
        dataset = open_dataset(data)
    except ConfigError:  # a pairs folder without class names: raw label values stand for classes
        try:
            pairs = find_pairs(data)
        except SourceError:
            return None
        return [_Item(image, label=(lambda p=label: _raw_label_classes(p))) for image, label in pairs], data
    except SourceError:
        return None
    if not isinstance(dataset, FileDataset):
        return None
    ignore = dataset.ignore_index

    def classes(i: int) -> Set[int]:
        return set(int(v) for v in np.unique(dataset.label(i)) if int(v) != ignore)

    items = [_Item(image, label=(lambda i=i: classes(i))) for i, (image, _) in enumerate(dataset.pairs)]
    return items, dataset.root


def _assign_groups(items: List[_Item], root: str) -> None:
    """Group = sub-folder when the images span several, else the file-name prefix before the first
    `_` (CamVid's sequences: 0001TP_006690.png, Seq05VD_f00000.png)."""
    folders = [os.path.relpath(os.path.dirname(os.path.abspath(item.path)), os.path.abspath(root))
               for item in items]
    if len(set(folders)) > 1:
        for item, folder in zip(items, folders):
            item.group = folder
        return
    for item in items:
        name = os.path.basename(item.path)
        item.group = name.split("_", 1)[0] if "_" in name else ""


def _collect_items(data: str) -> Tuple[List[_Item], str]:
    """Candidate images of `data` and the root their paths are recorded against."""
    if data.startswith("synthetic:"):
        raise ConfigError("calibration needs image files, not {!r}; write scenes to disk first with "
                          "`python -m edgeseg.data.synthetic images OUT_DIR --count N`".format(data))
    if os.path.isfile(data):
        entries = _from_list_file(data)
        items = [_Item(image, label=(None if label is None else (lambda p=label: _raw_label_classes(p))))
                 for image, label in entries]
        root = os.path.dirname(os.path.abspath(data))
        if not items:
            raise SourceError("{}: list file names no images".format(data))
    elif os.path.isdir(data):
        labelled = _labelled_items(data)
        if labelled is not None:
            items, root = labelled
        else:
            items, root = [_Item(path) for path in _scan_folder(data)], data
        if not items:
            raise SourceError("{}: no images found (looked for {} files, recursively)".format(
                data, ", ".join(IMAGE_EXTENSIONS)))
    else:
        raise SourceError("{}: no such folder or list file".format(data))
    _assign_groups(items, root)
    return items, root


def _spread(items: List[_Item], num: int, seed: int) -> List[_Item]:
    """Round-robin over the groups (group order and order within each group shuffled by `seed`);
    from each group take, among its next CLASS_WINDOW candidates, the one whose label adds the most
    classes not yet covered (the first on ties; plain order where there are no labels)."""
    rng = random.Random(seed)
    groups = {}  # type: Dict[str, List[_Item]]
    for item in sorted(items, key=lambda it: it.path):
        groups.setdefault(item.group, []).append(item)
    order = sorted(groups)
    rng.shuffle(order)
    queues = []
    for name in order:
        queue = list(groups[name])
        rng.shuffle(queue)
        queues.append(queue)
    covered = set()  # type: Set[int]
    chosen = []  # type: List[_Item]
    while len(chosen) < num and any(queues):
        for queue in queues:
            if not queue or len(chosen) >= num:
                continue
            best = 0
            if queue[0]._label is not None:
                window = queue[:CLASS_WINDOW]
                gains = [len(item.classes() - covered) for item in window]
                best = gains.index(max(gains))
            item = queue.pop(best)
            covered |= item.classes() if item._label is not None else set()
            chosen.append(item)
    return chosen


def _select(data: str, num: int, seed: int, log: Log) -> Tuple[List[_Item], List[_Item], str]:
    """(chosen items, all candidates, the root paths are recorded against)."""
    if num < 1:
        raise ConfigError("the calibration subset needs at least 1 image, not {}".format(num))
    items, root = _collect_items(data)
    if len(items) < num:
        log("warning: {} has only {} image(s), fewer than the {} asked for; calibrating on all of them".format(
            data, len(items), num))
    return _spread(items, num, seed), items, root


def select_subset(data: str, num: int = 500, seed: int = 0, log: Log = print) -> List[str]:
    """`num` image paths from `data`: a folder of images (searched recursively), a list file of
    'image [label]' lines, or a labelled dataset root that `open_dataset` understands (its images).

    The choice is spread round-robin over the dataset's groups (sub-folders, or CamVid-style file-name
    prefixes) and, where labels exist, towards images that show classes not yet covered;
    deterministic for a given seed. Fewer than `num` images: all of them, with a warning line."""
    return [item.path for item in _select(data, num, seed, log)[0]]


# ----------------------------------------------------------------------------------------- reader


def read_image_bgr(path: str) -> np.ndarray:
    """An image file as HxWx3 uint8 BGR, whatever it holds: grayscale, gray+alpha, BGRA, 16-bit or
    float samples are converted (16-bit scaled by 1/257, floats in 0..1 by 255). SourceError if
    it cannot be read."""
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise SourceError("{}: cannot read image (missing, unreadable or not an image)".format(path))
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64, np.float16):
        data = np.nan_to_num(image.astype(np.float32))
        data = data * 255.0 if data.size and float(data.max()) <= 1.0 else data
        image = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    elif image.dtype == np.int8:
        image = (image.astype(np.int16) + 128).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise SourceError("{}: unsupported sample type {} for a calibration image".format(path, image.dtype))
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    channels = image.shape[2]
    if channels == 2:  # gray + alpha
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, 0]), cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if channels == 3:
        return image
    raise SourceError("{}: image has {} channels; calibration takes gray, BGR or BGRA images".format(path, channels))


class ImageCalibrationReader(_ReaderBase):  # type: ignore
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
        return {self.input_name: self.preprocess(read_image_bgr(path))}

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


# ------------------------------------------------------------------------------------------ model


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError("calibration needs the onnx package; `pip install onnx`")
    return onnx


def _import_quantization():
    try:
        from onnxruntime import quantization
    except ImportError as exc:
        raise ConfigError("calibration needs onnxruntime with its quantization tools and onnx "
                          "(`pip install onnxruntime onnx`): {}".format(exc))
    return quantization


def _load_model(path: str):
    onnx = _import_onnx()
    require_file(path, "model", "check the path, or export one with `edgeseg export`")
    try:
        return onnx.load(path)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ArtifactError("{}: not a readable ONNX model ({})".format(path, str(exc).splitlines()[0][:200]))


def _graph_inputs(model) -> List[Any]:
    initializers = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in initializers]


def check_model_input(model_or_path: Any, name: str = "") -> Tuple[str, List[int]]:
    """The model's one input (name, shape with -1 for dynamic dims); ConfigError naming the file
    unless it is a 4-D NCHW float32 tensor with 3 channels."""
    onnx = _import_onnx()
    model = _load_model(model_or_path) if isinstance(model_or_path, str) else model_or_path
    name = name or (model_or_path if isinstance(model_or_path, str) else "model")
    inputs = _graph_inputs(model)
    if len(inputs) != 1:
        raise ConfigError("{}: calibration takes models with one image input; this one has {} ({})".format(
            name, len(inputs), ", ".join(i.name for i in inputs) or "none"))
    value = inputs[0]
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    elem = onnx.TensorProto.DataType.Name(tensor.elem_type) if tensor.elem_type else "unknown"
    if tensor.elem_type != onnx.TensorProto.FLOAT or len(dims) != 4 or dims[1] != 3 or dims[0] not in (1, -1):
        raise ConfigError("{}: input {!r} is {} {}; calibration needs an NCHW float32 image input "
                          "(1 x 3 x H x W, or a dynamic batch)".format(name, value.name, elem.lower(), dims))
    return value.name, dims


def _model_tensor_names(model) -> Set[str]:
    names = set(v.name for v in model.graph.input) | set(v.name for v in model.graph.output)
    for node in model.graph.node:
        names.update(n for n in node.input if n)
        names.update(n for n in node.output if n)
    return names


def quantizable_nodes(onnx_path: str, op_types: Sequence[str] = OP_TYPES) -> List[str]:
    """Names of the nodes the INT8 models quantize (Conv, Gemm, MatMul): candidates for exclusion."""
    model = _load_model(onnx_path)
    return [node.name for node in model.graph.node if node.op_type in op_types]


# ----------------------------------------------------------------------------------------- ranges


def _calibration_method(method: str):
    quantization = _import_quantization()
    key = method.lower()
    table = {"minmax": quantization.CalibrationMethod.MinMax, "entropy": quantization.CalibrationMethod.Entropy,
             "percentile": quantization.CalibrationMethod.Percentile,
             "mse": quantization.CalibrationMethod.Percentile}  # its histogram calibrator, our collector
    if key not in table:
        raise ConfigError("calibration method {!r} is not one of {}".format(method, ", ".join(METHODS)))
    return table[key]


class _Slice(_ReaderBase):  # type: ignore
    """At most `count` items of another reader, the first one already taken from it."""

    def __init__(self, first: Dict[str, np.ndarray], reader: Any, count: int, tick: Callable[[], None]) -> None:
        self.pending = [first]  # type: List[Dict[str, np.ndarray]]
        self.reader, self.left, self.tick = reader, count, tick

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self.left <= 0:
            return None
        item = self.pending.pop() if self.pending else self.reader.get_next()
        if item is not None:
            self.left -= 1
            self.tick()
        return item


def _progress_bar(total: Optional[int], desc: str) -> Any:
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False)


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
    quantization = _import_quantization()
    methods = [m.lower() for m in methods]
    for name in methods:
        _calibration_method(name)  # validates it
    if len(methods) > 1 and not set(methods) <= set(HISTOGRAM_METHODS):
        raise ConfigError("methods {} cannot share one calibration pass (histogram methods only)".format(methods))
    calibrator_class = "entropy" if "entropy" in methods else methods[0]  # entropy's own settings (128 bins)
    total = len(reader) if hasattr(reader, "__len__") else None
    started = time.perf_counter()
    log("collecting {} ranges{} on {} ...".format(
        " and ".join(methods), "" if total is None else " over {} image(s)".format(total),
        ", ".join(providers) if providers else "CPUExecutionProvider"))
    bar = _progress_bar(total, "calibrating")
    seen = [0]

    def tick() -> None:
        seen[0] += 1
        if bar is not None:
            bar.update(1)

    quiet = io.StringIO()  # the calibrators print progress notes of their own to stdout
    with tempfile.TemporaryDirectory(prefix="edgeseg-calib-") as work:
        model_copy = os.path.join(work, "model.onnx")
        shutil.copyfile(onnx_path, model_copy)
        options = dict(calibrator_options or {})
        arguments = collectors.kwargs_for(quantization.create_calibrator, {
            "op_types_to_calibrate": None, "augmented_model_path": os.path.join(work, "augmented.onnx"),
            "calibrate_method": _calibration_method(calibrator_class),
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
            results = {}  # type: Dict[str, Any]
            with contextlib.redirect_stdout(quiet):
                for name in methods:
                    collector = fed.get(name)
                    collectors.cap_entropy_histograms(collector, max_entropy_bins)
                    results[name] = calibrator.compute_data() if collector is None else \
                        collector.ranges() if name == "mse" else collector.compute_collection_result()
        finally:
            if bar is not None:
                bar.close()
        by_method = {name: _as_ranges(tensors) for name, tensors in results.items()}
        del calibrator
    log("ranges of {} tensors from {} image(s) in {:.1f} s".format(
        len(by_method[methods[0]]), seen[0], time.perf_counter() - started))
    return by_method


def _as_ranges(tensors: Any) -> Ranges:
    """Ranges from what a calibrator or collector computed (TensorsData, or name -> (low, high, ...))."""
    ranges = {}  # type: Ranges
    items = tensors.items() if hasattr(tensors, "items") else tensors.data.items()
    for name, value in items:
        low, high = value.range_value if hasattr(value, "range_value") else value[:2]
        ranges[str(name)] = (float(np.float32(np.asarray(low).reshape(-1)[0])),
                             float(np.float32(np.asarray(high).reshape(-1)[0])))
    return dict(sorted(ranges.items()))


def save_ranges(path: str, ranges: Ranges, method: str, model_sha256: str = "",
                extra: Optional[Dict[str, Any]] = None) -> None:
    """Write ranges as JSON (float32 values round-trip exactly through JSON doubles)."""
    record = {"format": "edgeseg-ranges-1", "method": method, "model_sha256": model_sha256}
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


# ------------------------------------------------------------------------------------- quantizing


def _tensors_data(ranges: Ranges, method: str) -> Any:
    """Ranges in the form the installed ONNX Runtime's quantizer takes."""
    from onnxruntime.quantization import calibrate as calibrate_module

    if hasattr(calibrate_module, "TensorsData") and hasattr(calibrate_module, "TensorData"):
        data = {name: calibrate_module.TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32))
                for name, (lo, hi) in ranges.items()}
        return calibrate_module.TensorsData(_calibration_method(method), data)
    return {name: (np.float32(lo), np.float32(hi)) for name, (lo, hi) in ranges.items()}  # ORT < 1.17


TARGETS = {
    # TensorRT explicit INT8: what its ONNX parser takes (int8 only, zero points 0, 3-input Q/DQ) and
    # what NVIDIA's QAT toolkit writes: Q/DQ in front of Conv inputs only (no output Q/DQ: the next
    # layer's input Q/DQ quantizes there), a dedicated pair per consumer, float weights with their
    # own Q/DQ pair, biases left in float (TensorRT refuses an int32 bias behind a DequantizeLinear).
    "tensorrt": {
        "activation": "QInt8",
        "op_types": TRT_OP_TYPES,
        "extra": {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                  "AddQDQPairToWeight": True, "DedicatedQDQPair": True,
                  "OpTypesToExcludeOutputQuantization": list(TRT_OP_TYPES)},
        "record": {"format": "QDQ", "activations": "int8 symmetric (zero point 0)",
                   "weights": "int8 symmetric per-channel (float weights -> Q -> DQ)", "per_channel": True,
                   "bias": "float", "target": "TensorRT explicit INT8 (BuilderFlag.INT8 with Q/DQ)"},
    },
    # ONNX Runtime CPU: uint8 activations, int8 weights; fuses to QLinearConv (measured 0.67x FP32).
    "onnxruntime": {
        "activation": "QUInt8",
        "op_types": OP_TYPES,
        "extra": {"WeightSymmetric": True},
        "record": {"format": "QDQ", "activations": "uint8 asymmetric", "weights": "int8 symmetric per-channel",
                   "per_channel": True, "bias": "int32", "target": "ONNX Runtime CPU (QLinearConv)"},
    },
}


def _int32_bias_overflow(model: Any, op_types: Sequence[str]) -> List[str]:
    """Nodes whose int32-quantized bias hit the int32 limits (an overflow, not a value)."""
    from onnx import numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    dequantized = {node.output[0]: node for node in model.graph.node if node.op_type == "DequantizeLinear"}
    limits = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)
    bad = []
    for node in model.graph.node:
        if node.op_type not in op_types or len(node.input) < 3 or node.input[2] not in dequantized:
            continue
        source = initializers.get(dequantized[node.input[2]].input[0])
        if source is not None and source.data_type == 6:  # TensorProto.INT32
            values = numpy_helper.to_array(source)
            if values.size and (values.min() <= limits[0] or values.max() >= limits[1]):
                bad.append(node.name)
    return bad


def quantize_model(onnx_path: str, ranges: Ranges, output: str, target: str = "tensorrt",
                   nodes_to_exclude: Sequence[str] = (), op_types: Optional[Sequence[str]] = None,
                   method: str = "minmax", per_channel: bool = True) -> Dict[str, Any]:
    """Quantize `onnx_path` into the file `output` (a pending artifact's, which the caller commits) with
    precomputed `ranges`, for `target` "tensorrt" (int8 symmetric QDQ, placed as TensorRT fuses: see
    `qdq_placement`) or "onnxruntime" (uint8/int8 QDQ). `op_types` defaults to the target's;
    weights are quantized per output channel unless `per_channel` is False (one scale per tensor). Nodes
    named in `nodes_to_exclude` stay float. Returns what was done (for the sidecar)."""
    onnx = _import_onnx()
    quantization = _import_quantization()
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer

    if target not in TARGETS:
        raise ConfigError("quantization target {!r} is not one of {}".format(target, ", ".join(TARGETS)))
    settings = TARGETS[target]
    op_types = tuple(op_types or settings["op_types"])
    model = _load_model(onnx_path)
    opsets = {o.domain: o.version for o in model.opset_import}
    known = {node.name for node in model.graph.node}
    unknown = [n for n in nodes_to_exclude if n not in known]
    if unknown:
        raise ConfigError("{}: no node named {} to exclude from quantization".format(
            onnx_path, ", ".join(repr(n) for n in unknown[:5])))
    excluded = list(nodes_to_exclude)
    extra = copy.deepcopy(settings["extra"])
    if target == "tensorrt":  # TensorRT's deconvolution kernels take no per-output-channel weight scales, ONNX
        # Runtime's default for ConvTranspose, and compute wrong with them (NVIDIA/TensorRT#1694, #2380): one scale
        # per kernel (per input channel, axis 0, trips ONNX Runtime's int32-bias check when the layer has a bias)
        initializers = {t.name for t in model.graph.initializer}
        extra["TensorQuantOverrides"] = {n.input[1]: [{"symmetric": True}] for n in model.graph.node
                                         if n.op_type == "ConvTranspose" and len(n.input) > 1 and n.input[1] in initializers}
    overflowed = []  # type: List[str]
    while True:
        arguments = collectors.kwargs_for(QDQQuantizer.__init__, {
            "model": copy.deepcopy(model), "per_channel": per_channel, "reduce_range": False,
            "mode": quantization.QuantizationMode.QLinearOps, "static": True,  # ORT < 1.17 wants these
            "weight_qType": quantization.QuantType.QInt8,
            "activation_qType": getattr(quantization.QuantType, settings["activation"]),
            "tensors_range": _tensors_data(ranges, method), "nodes_to_quantize": [],
            "nodes_to_exclude": list(excluded), "op_types_to_quantize": list(op_types),
            "extra_options": copy.deepcopy(extra)})
        quantizer = QDQQuantizer(**arguments)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ORT < 1.20 casts overflowing biases silently
            quantized = quantizer.quantize_model()
        # ONNX Runtime before 1.20 does not widen weight scales when input scale x weight scale is too
        # small for an int32 bias (a near-constant input): the bias wraps to -2^31 and the layer's output
        # is garbage. Keep such layers float (once; newer versions never get here).
        overflow = [name for name in _int32_bias_overflow(quantized, op_types) if name not in excluded]
        if not overflow or overflowed:
            break
        overflowed, excluded = overflow, excluded + overflow
    if target == "tensorrt":
        _check_deconvolution_axis(quantized, onnx_path)
    weighted = [op for op in op_types if op in TRT_WEIGHTED]
    tail = qdq_placement.tail_nodes(quantized.graph, weighted)
    branches, float_inputs = [], []  # type: List[str], List[str]
    if target == "tensorrt":
        branches = qdq_placement.quantize_residual_branches(quantized, ranges, weighted, excluded)
        float_inputs = qdq_placement.quantize_float_inputs(quantized, ranges, weighted, excluded, tail)
    kept_float = qdq_placement.give_float_inputs(quantized, qdq_placement.position_nodes(quantized.graph) | tail)
    # Leave the graph as a plain ONNX model: no quantizer bookkeeping, the original opsets.
    props = [p for p in quantized.metadata_props if p.key != "onnx.infer"]
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(props)
    # The quantizer raises the opset only for types int8 does not use (16-bit, 4-bit, float8); should a
    # version do it anyway, put back the model's own opset (TensorRT 8.5 parses up to 17) when that
    # still allows per-channel Q/DQ (13+), else refuse; and drop domains no node uses.
    used = {node.domain for node in quantized.graph.node}
    for entry in list(quantized.opset_import):
        if entry.domain in ("", "ai.onnx") and entry.version != opsets.get(entry.domain, entry.version):
            if opsets[entry.domain] < 13:
                raise ConfigError("{}: opset {} is too old for per-channel INT8 (13+); re-export it at opset 17".format(
                    onnx_path, opsets[entry.domain]))
            entry.version = opsets[entry.domain]
        elif entry.domain not in ("", "ai.onnx") and entry.domain not in opsets and entry.domain not in used:
            quantized.opset_import.remove(entry)
    quantizer.model.save_model_to_file(output, False)
    final = onnx.load(output, load_external_data=False)
    dequantized = {n.output[0] for n in final.graph.node if n.op_type == "DequantizeLinear"}
    int8_nodes = [n.name for n in final.graph.node if n.op_type in weighted and n.input and n.input[0] in dequantized]
    float_nodes = [n.name for n in final.graph.node if n.op_type in weighted and n.name not in set(int8_nodes)]
    others = [n.name for n in final.graph.node if n.op_type in op_types and n.op_type not in weighted
              and n.input and n.input[0] in dequantized]
    record = dict(settings["record"])
    if not per_channel:
        record.update(per_channel=False, weights=record["weights"].replace("per-channel", "per-tensor"))
    record.update({
        "op_types": list(op_types), "method": method, "excluded_nodes": list(nodes_to_exclude),
        "float_for_int32_bias_overflow": overflowed, "residual_branches_quantized": len(branches),
        "float_inputs_quantized": len(float_inputs),
        "float_inputs_kept": kept_float,
        "quantized_nodes": len(int8_nodes), "float_nodes": float_nodes, "quantized_other_nodes": len(others),
        "opset": {o.domain or "ai.onnx": o.version for o in final.opset_import},
        "domains": sorted({n.domain or "ai.onnx" for n in final.graph.node}),
        "onnxruntime": _ort_version(),
    })
    return record


def _check_deconvolution_axis(model: Any, onnx_path: str) -> None:
    """ConfigError when a ConvTranspose's weights are quantized per output channel (an onnxruntime without
    TensorQuantOverrides): TensorRT would compute that layer wrong."""
    producer = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        dequantize = producer.get(node.input[1]) if node.op_type == "ConvTranspose" and len(node.input) > 1 else None
        per_channel = dequantize is not None and dequantize.op_type == "DequantizeLinear" and \
            _scale_size(model, dequantize.input[1]) > 1
        axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1) if per_channel else 0
        if axis != 0:
            raise ConfigError("{}: this onnxruntime ({}) quantizes ConvTranspose {} per output channel, which TensorRT "
                              "computes wrong; upgrade onnxruntime (1.18 or newer)".format(
                                  onnx_path, _ort_version(), node.name))


def _scale_size(model: Any, name: str) -> int:
    """How many values the initializer `name` holds (1 for a per-tensor scale)."""
    for tensor in model.graph.initializer:
        if tensor.name == name:
            return int(np.prod(tensor.dims)) if tensor.dims else 1
    return 1


def _ort_version() -> str:
    try:
        import onnxruntime
        return onnxruntime.__version__
    except ImportError:  # pragma: no cover
        return "absent"


# ------------------------------------------------------------------------------ TensorRT's cache


def check_cache_matches(cache_path: str, onnx_path: str) -> Dict[str, float]:
    """The cache's scales, or ArtifactError when its tensors are not this model's (a calibration
    cache from another model). Names TensorRT makes up itself ("(Unnamed Layer* 12) ...") are allowed."""
    scales = trt_cache.read(cache_path).scales
    tensors = _model_tensor_names(_load_model(onnx_path))
    foreign = [name for name in scales if name not in tensors and not trt_cache.INTERNAL_NAME.match(name)]
    known = [name for name in scales if name in tensors]
    if foreign or not known:
        examples = ", ".join(repr(n) for n in foreign[:3]) or "no tensor names at all"
        raise ArtifactError("{}: a calibration cache from another model (refused): {} of its {} tensors are not "
                            "in {} ({}); calibrate this model with `edgeseg calibrate`".format(
                                cache_path, len(foreign), len(scales), os.path.basename(onnx_path), examples))
    return scales


# ------------------------------------------------------------------------------------ the stage


def _model_stem(onnx_path: str) -> str:
    name = os.path.basename(onnx_path)
    return name[:-len(".onnx")] if name.lower().endswith(".onnx") else os.path.splitext(name)[0]


def _spec_for(onnx_path: str, sidecar: Optional[Dict[str, Any]], spec: Optional[PreprocessSpec],
              dims: List[int]) -> PreprocessSpec:
    recorded = None
    if sidecar is not None and sidecar.get("preprocess"):
        try:
            recorded = PreprocessSpec.from_dict(sidecar["preprocess"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError("{}: sidecar's preprocess record is incomplete ({}); re-export the model".format(
                onnx_path, exc))
    if recorded is not None and spec is not None and spec != recorded:
        raise ConfigError("{}: its sidecar fixes the preprocessing ({}); do not pass another".format(
            onnx_path, recorded.to_dict()))
    chosen = recorded or spec
    if chosen is None:
        raise ConfigError("{}: no sidecar ({}.json) says how images are preprocessed for this model; pass "
                          "the preprocessing (size, mean, std, colour order) it was trained with".format(
                              onnx_path, os.path.basename(onnx_path)))
    height, width = dims[2], dims[3]
    if height > 0 and width > 0 and tuple(chosen.size) != (width, height):
        raise ConfigError("{}: preprocessing size {}x{} differs from the model's input {}x{}".format(
            onnx_path, chosen.size[0], chosen.size[1], width, height))
    return chosen


def _bare_sidecar(model: Any, input_name: str, dims: List[int], spec: PreprocessSpec) -> Dict[str, Any]:
    """What a sidecar would say of a model exported elsewhere: enough for `open_artifact`."""
    onnx = _import_onnx()
    from .palettes import palette_for

    output = model.graph.output[0]
    tensor = output.type.tensor_type
    out_dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    logits = tensor.elem_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    record = {"model": None, "input_name": input_name,
              "input_shape": [d if d > 0 else 1 for d in dims[:2]] + [spec.size[1], spec.size[0]],
              "output_name": output.name, "output_kind": "logits" if logits else "classmap",
              "preprocess": spec.to_dict()}
    if logits and len(out_dims) == 4 and out_dims[1] > 0:
        palette = palette_for(out_dims[1], None)
        record.update(num_classes=out_dims[1], classes=list(palette.names), palette=[list(c) for c in palette.colors])
    return record


_NOT_COPIED = ("sidecar_version", "file", "sha256", "size_bytes", "parity", "created", "stage", "precision",
               "onnx_ops", "parent", "quantization", "runtime")


def _int8_meta(model_file: str, parent: str, parent_meta: Dict[str, Any], parent_sha: str,
               record: Dict[str, Any], calibration: Dict[str, Any]) -> Dict[str, Any]:
    """The sidecar fields of an INT8 model written to `model_file`."""
    onnx = _import_onnx()
    meta = {k: v for k, v in parent_meta.items() if k not in _NOT_COPIED}
    quantization = dict(record)
    quantization.update(calibration)
    saved = onnx.load(model_file, load_external_data=False)
    versions = dict(meta.get("versions") or {})
    versions.update(edgeseg=__version__, onnxruntime=_ort_version(), onnx=onnx.__version__)
    meta.update({
        "stage": "calibrate",
        "precision": "int8",
        "runtime": "tensorrt" if record.get("target", "").startswith("TensorRT") else "onnxruntime",
        "quantization": quantization,
        "onnx_ops": sorted({node.op_type for node in saved.graph.node}),
        "opset": next((o.version for o in saved.opset_import if o.domain in ("", "ai.onnx")), meta.get("opset")),
        "versions": versions,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "parent": {"file": os.path.basename(parent), "sha256": parent_sha},
    })
    return meta


def _relative(path: str, start: str) -> str:
    try:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(start))
    except ValueError:  # another drive (Windows)
        return os.path.abspath(path)


def _parent_meta(onnx_path: str, model: Any, spec: Optional[PreprocessSpec]) -> Tuple[Dict[str, Any], PreprocessSpec]:
    input_name, dims = check_model_input(model, onnx_path)
    sidecar = read_sidecar(onnx_path)
    chosen = _spec_for(onnx_path, sidecar, spec, dims)
    meta = dict(sidecar) if sidecar is not None else _bare_sidecar(model, input_name, dims, chosen)
    meta["input_name"] = input_name
    meta["preprocess"] = chosen.to_dict()
    return meta, chosen


def quantize_from_ranges(onnx_path: str, ranges: Ranges, out_trt: Optional[str], out_ort: Optional[str],
                         nodes_to_exclude: Sequence[str] = (), method: str = "minmax",
                         spec: Optional[PreprocessSpec] = None, calibration: Optional[Dict[str, Any]] = None,
                         log: Log = print, per_channel: bool = True) -> Dict[str, Dict[str, Any]]:
    """Both INT8 models (either may be None to skip it) from precomputed ranges, each committed with its
    sidecar as a pair, after both are written; no calibration. `calibration` adds fields to each sidecar's
    `quantization` record (image count, manifest); `per_channel` False quantizes weights per tensor.
    Returns the sidecars by target."""
    model = _load_model(onnx_path)
    parent_meta, _ = _parent_meta(onnx_path, model, spec)
    parent_sha = file_sha256(onnx_path)
    jobs = [(target, path) for target, path in (("tensorrt", out_trt), ("onnxruntime", out_ort)) if path]
    with contextlib.ExitStack() as stack:  # both models are written before either is committed
        pending = {target: stack.enter_context(new_artifact(path)) for target, path in jobs}
        metas = {}
        for target, path in jobs:
            started = time.perf_counter()
            record = quantize_model(onnx_path, ranges, pending[target].tmp, target, nodes_to_exclude, method=method,
                                    per_channel=per_channel)
            if record.get("float_for_int32_bias_overflow"):
                log("warning: {} kept float in the {} model: their int32 bias would overflow with this "
                    "onnxruntime {} (input range near 0); newer versions widen the weight scale instead".format(
                        ", ".join(record["float_for_int32_bias_overflow"]), target, _ort_version()))
            log("quantized for {}: {} ({} nodes int8{}, {:.1f} MB) in {:.1f} s".format(
                "TensorRT" if target == "tensorrt" else "ONNX Runtime CPU", os.path.basename(path),
                record["quantized_nodes"], ", {} kept float".format(len(nodes_to_exclude)) if nodes_to_exclude else "",
                os.path.getsize(pending[target].tmp) / 1e6, time.perf_counter() - started))
            metas[target] = _int8_meta(pending[target].tmp, onnx_path, parent_meta, parent_sha, record,
                                       dict(calibration or {}))
        return {target: pending[target].commit(metas[target]) for target, _ in jobs}


def _fusion_lint(trt_model: str, log: Log) -> Dict[str, Any]:
    """The fusion lint of the TensorRT Q/DQ model (edgeseg/fusion_lint.py), printed; its manifest record."""
    from . import fusion_lint

    report = fusion_lint.lint(_load_model(trt_model))
    log(fusion_lint.summary_line(report))
    return fusion_lint.record(report)


def _image_records(images: Sequence[str], root: str) -> List[Dict[str, str]]:
    records = []
    for path in images:
        relative = _relative(path, root)
        records.append({"path": relative if not relative.startswith("..") else os.path.abspath(path),
                        "sha256": file_sha256(path)})
    return records


def calibrate(onnx_path: str, data: str, num: int = 500, seed: int = 0, method: str = "auto",
              out_dir: str = "calibration", nodes_to_exclude: Sequence[str] = (),
              log: Log = print, spec: Optional[PreprocessSpec] = None, providers: Optional[Sequence[str]] = None,
              trt_version: str = trt_cache.DEFAULT_VERSION,
              calibrator_options: Optional[Dict[str, Any]] = None, weight_scales: str = "channel") -> Dict[str, Any]:
    """Calibrate once, write every INT8 artifact, return the manifest.

    Picks `num` images from `data` (see `select_subset`), computes the ranges of every float tensor
    by `method` (mse, entropy, percentile, minmax; auto: mse and entropy in one pass, keeping those whose TensorRT
    model agrees better with FP32 on the calibration images, see `method_choice`) with the model's own
    preprocessing, and writes, all in this
    calibration's own folder `<out_dir>/<stem>_<method>_n<N>_<id>/` (`id`: a hash of the model, images, seed,
    method and options, so two different calibrations never share a file): `<stem>_int8_qdq_trt.onnx`
    (TensorRT) and `<stem>_int8_qdq_ort.onnx` (ONNX Runtime CPU) with sidecars, `<stem>_<method>.cache`
    (TensorRT), `ranges.json` and `manifest.json`, which names each output (a file in that folder) with its
    SHA-256. Nodes in `nodes_to_exclude` stay float; `weight_scales` "tensor" gives each weight tensor one
    scale instead of one per output channel. Nothing is written until the ranges exist, and a failure
    removes what this call wrote."""
    method = method.lower()
    if method != "auto":
        _calibration_method(method)  # validates the name
    if weight_scales not in WEIGHT_SCALES:
        raise ConfigError("weight scales {!r}: use {}".format(weight_scales, " or ".join(WEIGHT_SCALES)))
    model = _load_model(onnx_path)
    parent_meta, chosen = _parent_meta(onnx_path, model, spec)
    input_name = parent_meta["input_name"]
    known = {node.name for node in model.graph.node}
    missing = [n for n in nodes_to_exclude if n not in known]
    if missing:
        raise ConfigError("{}: no node named {} to exclude from quantization".format(
            onnx_path, ", ".join(repr(n) for n in missing[:5])))
    del model

    chosen_items, items, root = _select(data, num, seed, log)
    images = [item.path for item in chosen_items]
    groups = len({item.group for item in chosen_items})
    covered = set()  # type: Set[int]
    for item in chosen_items:
        covered |= item.classes() if item._label is not None else set()
    log("calibration subset: {} of {} image(s) from {} ({} group(s){})".format(
        len(images), len(items), data, groups,
        ", {} class(es) present".format(len(covered)) if covered else ""))

    stem = _model_stem(onnx_path)
    model_sha = file_sha256(onnx_path)
    image_records = _image_records(images, root)
    identity = json.dumps([model_sha, [r["sha256"] for r in image_records], seed, method, list(nodes_to_exclude),
                           trt_version, chosen.to_dict(), calibrator_options or {}]
                          + ([weight_scales] if weight_scales != "channel" else []), sort_keys=True)
    folder = os.path.join(out_dir, "{}_{}_n{}_{}".format(stem, method, len(images),
                                                        hashlib.sha256(identity.encode()).hexdigest()[:8]))
    out_trt = os.path.join(folder, stem + "_int8_qdq_trt.onnx")
    out_ort = os.path.join(folder, stem + "_int8_qdq_ort.onnx")
    ranges_path = os.path.join(folder, "ranges.json")
    manifest_path = os.path.join(folder, "manifest.json")

    reader = ImageCalibrationReader(images, chosen, input_name)
    by_method = compute_ranges_by_method(onnx_path, reader, AUTO_METHODS if method == "auto" else (method,),
                                         providers=providers, calibrator_options=calibrator_options, log=log)
    used, choice = method, {}  # type: str, Dict[str, Any]
    if method == "auto":
        used, choice = _choose_method(onnx_path, by_method, images, chosen, input_name, nodes_to_exclude,
                                      weight_scales == "channel", log)
    ranges = by_method[used]
    cache_path = os.path.join(folder, "{}_{}.cache".format(stem, used))

    created = [folder] if not os.path.isdir(folder) else []
    existed = {p for p in (out_trt, out_trt + ".json", out_ort, out_ort + ".json", cache_path, ranges_path,
                            manifest_path) if os.path.exists(p)}
    written = []  # type: List[str]
    try:
        calibration = {"calibration_images": len(images), "calibration_seed": seed, "manifest": "manifest.json"}
        quantize_from_ranges(onnx_path, ranges, out_trt, out_ort, nodes_to_exclude, used, chosen,
                             calibration, log, per_channel=weight_scales == "channel")
        written.extend([out_trt, out_trt + ".json", out_ort, out_ort + ".json"])
        lint = _fusion_lint(out_trt, log)
        save_ranges(ranges_path, ranges, used, model_sha, {"model": os.path.basename(onnx_path)})
        written.append(ranges_path)
        trt_cache.write(cache_path, trt_cache.scales_from_ranges(ranges), trt_version)
        written.append(cache_path)
        check_cache_matches(cache_path, onnx_path)
        log("TensorRT calibration cache: {} ({} tensors, {}; `edgeseg build` re-tags it for the TensorRT that "
            "builds)".format(cache_path, len(ranges), trt_cache.header_for(trt_version)))
        manifest = {
            "stage": "calibrate",
            "model": {"file": os.path.basename(onnx_path), "path": _relative(onnx_path, folder),
                      "sha256": model_sha},
            "data": data,
            "data_root": os.path.abspath(root),
            "images": image_records,
            "seed": seed,
            "num": num,
            "count": len(images),
            "method": used,
            "method_choice": choice,
            "weight_scales": weight_scales,
            "op_types": list(OP_TYPES),
            "nodes_to_exclude": list(nodes_to_exclude),
            "preprocess": chosen.to_dict(),
            "input_name": input_name,
            "ranges": {"file": "ranges.json", "tensors": len(ranges), "sha256": file_sha256(ranges_path)},
            "outputs": _output_records(folder, {"tensorrt_qdq": out_trt, "onnxruntime_int8": out_ort,
                                                "tensorrt_cache": cache_path}),
            "trt_cache_header": trt_cache.header_for(trt_version),
            "fusion_lint": lint,
            "versions": {"edgeseg": __version__, "onnxruntime": _ort_version(), "numpy": np.__version__,
                         "opencv": cv2.__version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json_atomic(manifest_path, manifest)
        written.append(manifest_path)
    except BaseException:
        for path in written:  # what this call added; a file of the same calibration before stays
            if os.path.exists(path) and path not in existed:
                os.remove(path)
        for made in created:
            if os.path.isdir(made) and not os.listdir(made):
                os.rmdir(made)
        raise
    log("manifest: {}".format(manifest_path))
    return dict(manifest, path=manifest_path)


def _choose_method(onnx_path: str, by_method: Dict[str, Ranges], images: Sequence[str], spec: PreprocessSpec,
                   input_name: str, nodes_to_exclude: Sequence[str], per_channel: bool,
                   log: Log) -> Tuple[str, Dict[str, Any]]:
    """`--method auto`: the method whose TensorRT model agrees best with FP32 on the first calibration images,
    and what the manifest records of the choice."""
    shown = images[:method_choice.FIDELITY_IMAGES]
    batches = list(ImageCalibrationReader(shown, spec, input_name))

    def trial(ranges: Ranges, path: str) -> None:
        quantize_model(onnx_path, ranges, path, "tensorrt", nodes_to_exclude, per_channel=per_channel)

    used, scores = method_choice.choose(onnx_path, by_method, batches, trial)
    log("method auto: {} of pixels differ from FP32 on {} calibration image(s) with the TensorRT model -> {}".format(
        ", ".join("{} {:.2%}".format(m, scores[m]) for m in by_method), len(shown), used))
    return used, {"requested": "auto", "images": len(shown), "disagreement": scores, "model": "tensorrt_qdq"}


def _output_records(folder: str, paths: Dict[str, str]) -> Dict[str, Dict[str, str]]:
    """A manifest's outputs: each a file name in the manifest's folder, with its SHA-256."""
    return {key: {"file": os.path.relpath(path, folder), "sha256": file_sha256(path)} for key, path in paths.items()}


def read_manifest(manifest_path: str) -> Dict[str, Any]:
    """A calibration manifest with its outputs checked and resolved to paths: each must be a plain file name in
    the manifest's own folder (no folder, no `..`) whose SHA-256 is the recorded one; the TensorRT cache must
    be a TensorRT calibration cache. Returns the manifest with `outputs` as paths and `folder` added; one
    ArtifactError (or ConfigError) line otherwise."""
    require_file(manifest_path, "calibration manifest", "run `edgeseg calibrate MODEL.onnx --data DIR` first")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
        outputs = manifest["outputs"]
        valid = (manifest.get("stage") == "calibrate" and isinstance(manifest["model"], dict) and
                 all(isinstance(o, dict) and {"file", "sha256"} <= set(o) for o in outputs.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise ArtifactError("{}: not a calibration manifest of this edgeseg (run `edgeseg calibrate` again to write "
                            "one)".format(manifest_path))
    folder = os.path.dirname(os.path.abspath(manifest_path))
    resolved = {}
    for key, record in outputs.items():
        name = str(record["file"])
        if not name or os.path.isabs(name) or os.path.basename(name) != name or name in (".", ".."):
            raise ArtifactError("{}: output {!r} is not a file in the manifest's folder; edgeseg reads only those: "
                                "calibrate again".format(manifest_path, name))
        path = os.path.join(folder, name)
        require_file(path, "output of " + manifest_path, "calibrate again")
        if file_sha256(path) != record["sha256"]:
            raise ArtifactError("{}: changed since {} was written (its hash differs); calibrate again".format(
                path, os.path.basename(manifest_path)))
        resolved[key] = path
    if "tensorrt_cache" in resolved:
        trt_cache.read(resolved["tensorrt_cache"])  # proved to be a TensorRT calibration cache
    return dict(manifest, outputs=resolved, folder=folder)


def requantize(manifest_path: str, nodes_to_exclude: Sequence[str] = (), suffix: str = "",
               log: Log = print) -> Dict[str, Dict[str, Any]]:
    """Both INT8 models again from a manifest's saved ranges with other nodes kept float (for an accuracy
    guard): no calibration, into the manifest's folder. Without `suffix` they replace the manifest's models and
    the manifest is rewritten to name them; with one, they are new files `<stem>_int8<suffix>...` beside
    them. Returns the new sidecars by target."""
    manifest = read_manifest(manifest_path)
    folder = manifest["folder"]
    try:
        model_path = os.path.normpath(os.path.join(folder, manifest["model"]["path"]))
        ranges_path = os.path.join(folder, manifest["ranges"]["file"])
        method = manifest["method"]
    except (KeyError, TypeError) as exc:
        raise ArtifactError("{}: not a calibration manifest ({})".format(manifest_path, exc))
    require_file(model_path, "model named by the manifest", "calibrate again")
    ranges, _ = load_ranges(ranges_path, model_path)
    stem = _model_stem(model_path)
    spec = PreprocessSpec.from_dict(manifest["preprocess"])
    calibration = {"calibration_images": manifest.get("count"), "calibration_seed": manifest.get("seed"),
                   "manifest": os.path.basename(manifest_path)}
    out_trt = os.path.join(folder, "{}_int8{}_qdq_trt.onnx".format(stem, suffix))
    out_ort = os.path.join(folder, "{}_int8{}_qdq_ort.onnx".format(stem, suffix))
    sidecars = quantize_from_ranges(model_path, ranges, out_trt, out_ort, nodes_to_exclude, method,
                                    spec if read_sidecar(model_path) is None else None, calibration, log,
                                    per_channel=manifest.get("weight_scales", "channel") == "channel")
    if not suffix:
        with open(manifest_path) as f:
            record = json.load(f)
        record["outputs"].update(_output_records(folder, {"tensorrt_qdq": out_trt, "onnxruntime_int8": out_ort}))
        record["nodes_to_exclude"] = list(nodes_to_exclude)
        record["fusion_lint"] = _fusion_lint(out_trt, log)
        record.pop("accuracy", None)  # measured on the models just replaced (the guard records it anew)
        write_json_atomic(manifest_path, record)
    return sidecars
