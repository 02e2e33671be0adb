"""TensorRT backend and engine builder (TensorRT 8.5 on JetPack 5.1 through 10.x and 11.x).

`tensorrt` and `pycuda` are imported inside functions, so this module imports anywhere. What differs
between TensorRT versions lives in trt_compat.py and is detected from the API, never from version strings.
"""
import collections
import json
import os
import threading
import time
from typing import Any, Dict, List, MutableSequence, Optional, Tuple

import numpy as np

from .. import trt_cache
from ..artifacts import file_sha256, require_file, write_bytes_atomic, write_json_atomic
from ..errors import ArtifactError, ConfigError
from ..jetson import board
from .base import IN_FLIGHT, Backend, TensorSpec
from .trt_compat import (cache_calibrator, capturing_logger, import_tensorrt, last_error, network_flags,
                         numpy_dtype, strongly_typed_only)

PRECISIONS = ("fp32", "fp16", "int8")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
REBUILD = "rebuild it on this device with `edgeseg build MODEL.onnx`"
Shape = Tuple[int, ...]


def _import_cuda():
    try:
        import pycuda.driver
    except Exception:
        raise ConfigError("pycuda is not installed or finds no CUDA driver; `pip install pycuda` on the device")
    return pycuda.driver


def tensorrt_available() -> bool:
    """True when both TensorRT and pycuda import, False when either does not; ConfigError (saying what to
    upgrade) for a TensorRT too old for edgeseg, which must not pass for "no TensorRT here"."""
    try:
        import tensorrt  # noqa: F401
        _import_cuda()
    except Exception:  # ImportError, ConfigError, or native libraries that fail to load
        return False
    import_tensorrt()
    return True


def environment() -> Dict[str, Optional[str]]:
    """TensorRT and pycuda versions, CUDA device 0's name and compute capability; None when absent."""
    keys = ("tensorrt_version", "pycuda_version", "cuda_device", "compute_capability")
    env = {key: None for key in keys}  # type: Dict[str, Optional[str]]
    try:
        import tensorrt

        env["tensorrt_version"] = tensorrt.__version__
    except Exception:
        pass
    try:
        cuda = _import_cuda()
        import pycuda

        env["pycuda_version"] = pycuda.VERSION_TEXT
        cuda.init()
        device = cuda.Device(0)
        env["cuda_device"] = device.name()
        env["compute_capability"] = "{}.{}".format(*device.compute_capability())
    except Exception:  # no pycuda, no driver, no device
        pass
    return env


def _device_text(version: Optional[str], gpu: Optional[str], capability: Optional[str]) -> str:
    cc = " (sm_{})".format(capability.replace(".", "")) if capability else ""
    return "TensorRT {} on {}{}".format(version or "(unknown version)", gpu or "an unknown GPU", cc)


def check_engine_compatible(sidecar: Dict[str, Any], engine_path: str) -> None:
    """Raise ArtifactError when the sidecar says the engine was built for another TensorRT or GPU."""
    env = environment()
    built = (sidecar.get("tensorrt_version"), sidecar.get("gpu_name"), sidecar.get("compute_capability"))
    here = (env["tensorrt_version"], env["cuda_device"], env["compute_capability"])

    def differs(i: int) -> bool:
        return bool(built[i] and here[i] and built[i] != here[i])

    if differs(0) or differs(2) or (not (built[2] and here[2]) and differs(1)):
        raise ArtifactError("{}: engine was built with {}, but this device has {}; {}".format(
            engine_path, _device_text(*built), _device_text(*here), REBUILD))


class TensorRTBackend(Backend):
    """A serialized TensorRT engine run through pycuda on CUDA device 0's primary context.

    Every CUDA call pushes that context and pops it afterwards, so any thread may call `infer` or
    `close` (calls are serialized by a lock). Buffers are allocated once per input shape. The input is copied to
    the device straight from a page-locked buffer that `input_buffer` handed out (else once into one),
    and the output is returned in the next of a ring of IN_FLIGHT page-locked buffers, without a copy.
    """

    name = "tensorrt"

    def __init__(self, path: str, sidecar: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(path)
        self.sidecar = sidecar
        self._lock = threading.Lock()
        self._log = collections.deque(maxlen=100)  # type: MutableSequence[str]
        self._cuda = None  # pycuda.driver, once open
        self._cuda_context = None
        self._runtime = self._engine = self._context = self._stream = None
        self._tensors = []  # type: List[Tuple[str, bool, Shape, np.dtype]]
        self._input = self._output = 0  # indices into _tensors
        self._device = []  # type: List[Any]
        self._host_input = None  # type: Optional[np.ndarray]
        self._host_outputs = []  # type: List[np.ndarray]  # a ring: infer returns the next one
        self._next_output = 0
        self._given_inputs = []  # type: List[np.ndarray]  # page-locked buffers from input_buffer
        self._bound_shape = None  # type: Optional[Shape]
        self._description = self.name

    def open(self) -> "TensorRTBackend":
        require_file(self.path, "TensorRT engine", "build one with `edgeseg build MODEL.onnx`")
        trt, cuda = import_tensorrt(), _import_cuda()
        if self.sidecar:
            check_engine_compatible(self.sidecar, self.path)
        env = environment()
        self._description = _device_text(trt.__version__, env["cuda_device"], env["compute_capability"])
        cuda.init()
        self._cuda = cuda
        self._cuda_context = cuda.Device(0).retain_primary_context()
        self._cuda_context.push()
        try:
            self._load(trt)
        except BaseException:
            cuda.Context.pop()
            self.close()
            raise
        cuda.Context.pop()
        return self

    def _load(self, trt) -> None:
        logger = capturing_logger(trt, self._log, trt.ILogger.Severity.WARNING)
        trt.init_libnvinfer_plugins(logger, "")
        self._runtime = trt.Runtime(logger)
        with open(self.path, "rb") as f:
            self._engine = self._runtime.deserialize_cuda_engine(f.read())
        if self._engine is None:
            built = ""
            if self.sidecar:
                built = " (its sidecar says {})".format(_device_text(
                    self.sidecar.get("tensorrt_version"), self.sidecar.get("gpu_name"),
                    self.sidecar.get("compute_capability")))
            raise ArtifactError(
                "{}: TensorRT {} cannot load this engine: it is corrupt or was built for another TensorRT "
                "version or GPU{}; TensorRT says: {}; {}".format(
                    self.path, trt.__version__, built, last_error(self._log), REBUILD))
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise ArtifactError("{}: cannot create an execution context ({}); free GPU memory and retry".format(
                self.path, last_error(self._log)))
        self._tensors = self._io_tensors(trt)
        inputs = [i for i, t in enumerate(self._tensors) if t[1]]
        outputs = [i for i, t in enumerate(self._tensors) if not t[1]]
        if len(inputs) != 1 or not outputs:
            raise ArtifactError("{}: engine has {} inputs and {} outputs; edgeseg runs one-input models".format(
                self.path, len(inputs), len(outputs)))
        self._input, self._output = inputs[0], outputs[0]
        (in_name, _, in_shape, in_dtype), (out_name, _, out_shape, out_dtype) = (
            self._tensors[self._input], self._tensors[self._output])
        self.input_spec = TensorSpec(in_name, in_shape, in_dtype)
        self.output_spec = TensorSpec(out_name, out_shape, out_dtype)
        self._stream = self._cuda.Stream()
        if not self.input_spec.is_dynamic:
            self._allocate(self.input_spec.shape)

    def _io_tensors(self, trt) -> List[Tuple[str, bool, Shape, np.dtype]]:
        """(name, is_input, engine shape, numpy dtype) of every I/O tensor, in the engine's order."""
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        return [(n, engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT, tuple(engine.get_tensor_shape(n)),
                 numpy_dtype(trt, engine.get_tensor_dtype(n), n, self.path)) for n in names]

    def _allocate(self, shape: Shape) -> None:
        """Set the input shape (dynamic engines) and (re)allocate every buffer for it."""
        if self.input_spec.is_dynamic and not self._context.set_input_shape(self.input_spec.name, tuple(shape)):
            raise ConfigError("{}: input shape {} is outside the engine's optimization profile; rebuild it "
                              "with `edgeseg build MODEL.onnx` for that size".format(self.path, list(shape)))
        self._free_buffers()
        shapes = [tuple(shape) if i == self._input else tuple(self._context.get_tensor_shape(t[0]))
                  for i, t in enumerate(self._tensors)]
        for (name, _, _, dtype), tensor_shape in zip(self._tensors, shapes):
            if any(d < 0 for d in tensor_shape):
                raise ArtifactError("{}: tensor {} has a data-dependent shape {}; edgeseg cannot run it".format(
                    self.path, name, list(tensor_shape)))
            self._device.append(self._cuda.mem_alloc(max(1, int(np.prod(tensor_shape)) * dtype.itemsize)))
            if not self._context.set_tensor_address(name, int(self._device[-1])):
                raise ArtifactError("{}: TensorRT refused the device address of tensor {!r} ({}); {}".format(
                    self.path, name, last_error(self._log), REBUILD))
        self._host_input = self._cuda.pagelocked_empty(shapes[self._input], self.input_spec.dtype)
        self._host_outputs = [self._cuda.pagelocked_empty(shapes[self._output], self.output_spec.dtype)
                              for _ in range(IN_FLIGHT)]
        self._bound_shape = shapes[self._input]

    def input_buffer(self, shape: Shape) -> np.ndarray:
        """A page-locked host array of `shape` that `infer` copies to the device directly."""
        if self._context is None:
            raise ConfigError("{}: backend is not open; call open() first".format(self.path))
        with self._lock:
            self._cuda_context.push()
            try:
                buffer = self._cuda.pagelocked_empty(tuple(shape), self.input_spec.dtype)
            finally:
                self._cuda.Context.pop()
            self._given_inputs.append(buffer)
        return buffer

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if self._context is None:
            raise ConfigError("{}: backend is not open; call open() first".format(self.path))
        cuda, batch = self._cuda, np.asarray(batch)
        with self._lock:
            self._cuda_context.push()
            try:
                if batch.shape != self._bound_shape:
                    if not self.input_spec.is_dynamic:
                        raise ConfigError("{}: engine takes input shape {}, got {}; resize the input or rebuild "
                                          "the engine".format(self.path, list(self._bound_shape), list(batch.shape)))
                    self._allocate(batch.shape)
                source = batch
                if not any(batch is given for given in self._given_inputs):  # not page-locked: copy it once
                    np.copyto(self._host_input, batch, casting="same_kind")
                    source = self._host_input
                cuda.memcpy_htod_async(self._device[self._input], source, self._stream)
                if not self._context.execute_async_v3(self._stream.handle):
                    raise RuntimeError("{}: TensorRT execution failed ({})".format(self.path, last_error(self._log)))
                output = self._host_outputs[self._next_output]
                self._next_output = (self._next_output + 1) % len(self._host_outputs)
                cuda.memcpy_dtoh_async(output, self._device[self._output], self._stream)
                self._stream.synchronize()
                return output
            finally:
                cuda.Context.pop()

    def _free_buffers(self) -> None:
        for allocation in self._device:
            allocation.free()
        self._device = []
        self._host_input = None
        self._host_outputs = []
        self._bound_shape = None

    def close(self) -> None:
        """Free buffers, stream, context and engine inside the CUDA context, then release it.

        The release is pycuda's `detach()` while the context is current here: detached from any other
        state, real pycuda either skips the release (closed from a thread other than the opener's) or
        pushes the context and leaves it current (tests/trt_double/pycuda/driver.py follows it)."""
        if self._cuda_context is None:
            return
        with self._lock:
            self._cuda_context.push()
            try:
                self._free_buffers()
                self._given_inputs = []
                self._stream = self._context = self._engine = self._runtime = None
            finally:
                self._cuda_context.detach()  # releases it and pops it off this thread's context stack
                self._cuda_context = None

    def describe(self) -> str:
        return self._description


def _parser_errors(parser, lines: List[str]) -> str:
    errors = [parser.get_error(i) for i in range(parser.num_errors)]
    text = "; ".join("node {}: {}".format(e.node(), e.desc()) for e in errors) or last_error(lines)
    return " ".join(text.split())


def _add_profile(builder, network, config, onnx_path: str,
                 input_shapes: Optional[Dict[str, Tuple[Shape, Shape, Shape]]]) -> Dict[str, List[List[int]]]:
    """An optimization profile for the dynamic inputs (also the calibration profile); returns the shapes used."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    given = dict(input_shapes or {})
    unknown = sorted(set(given) - {t.name for t in inputs})
    if unknown:
        raise ConfigError("{}: input_shapes names {}, but the model's inputs are {}".format(
            onnx_path, unknown, [t.name for t in inputs]))
    profile, used = builder.create_optimization_profile(), {}
    for tensor in inputs:
        if all(d >= 0 for d in tuple(tensor.shape)):
            continue
        if tensor.name not in given:
            raise ConfigError("{}: input {} has dynamic shape {}; give its (min, opt, max) shapes in "
                              "input_shapes".format(onnx_path, tensor.name, list(tuple(tensor.shape))))
        low, opt, high = (tuple(int(d) for d in s) for s in given[tensor.name])
        profile.set_shape(tensor.name, low, opt, high)
        used[tensor.name] = [list(low), list(opt), list(high)]
    if used:
        config.add_optimization_profile(profile)
        if hasattr(config, "set_calibration_profile"):  # implicit INT8 on a dynamic model needs one
            config.set_calibration_profile(profile)
    return used


def _network_io(trt, network, profile_shapes: Dict[str, List[List[int]]],
                onnx_path: str) -> Dict[str, List[Dict[str, Any]]]:
    """The network's I/O tensors as TensorSpec records (a dynamic input at its profile's opt shape), so
    tools without TensorRT (Triton and DeepStream exports) know an engine's interface from its sidecar."""

    def record(tensor, shape) -> Dict[str, Any]:
        return TensorSpec(tensor.name, tuple(shape), numpy_dtype(trt, tensor.dtype, tensor.name, onnx_path)).to_dict()

    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    return {
        "inputs": [record(t, profile_shapes[t.name][1] if t.name in profile_shapes else tuple(t.shape))
                   for t in inputs],
        "outputs": [record(t, tuple(t.shape)) for t in (network.get_output(i) for i in range(network.num_outputs))],
    }


# --- INT8, DLA, timing cache and layer report ------------------------------------------------------


def _onnx_has_qdq(onnx_path: str) -> Optional[bool]:
    """Whether the ONNX graph (or a subgraph) has QuantizeLinear/DequantizeLinear nodes; None without `onnx`."""
    try:
        import onnx
    except Exception:
        return None
    try:
        model = onnx.load(onnx_path, load_external_data=False)
    except Exception:  # not readable here; TensorRT's parser reports it, then the network is scanned
        return None
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            if node.op_type in QDQ_OPS:
                return True
            for attribute in node.attribute:
                graphs.extend([attribute.g] if attribute.HasField("g") else [])
                graphs.extend(attribute.graphs)
    return any(node.op_type in QDQ_OPS for function in model.functions for node in function.node)


def _network_has_qdq(trt, network) -> bool:
    """Whether the parsed network has Quantize/Dequantize layers (when `onnx` is not importable)."""
    kinds = (trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE)
    return any(network.get_layer(i).type in kinds for i in range(network.num_layers))


def _int8_mode(onnx_path: str, precision: str, qdq: bool, has_cache: bool, dla_core: Optional[int],
               lines: List[str]) -> Optional[str]:
    """"explicit-qdq", "implicit-cache" or None (not int8); raises ConfigError for what cannot be built."""
    if qdq and dla_core is not None:
        raise ConfigError("{}: model has QuantizeLinear/DequantizeLinear nodes (explicit INT8), but DLA takes "
                          "implicit INT8 only; for DLA build the FP32 model with its TensorRT calibration cache "
                          "(`edgeseg calibrate MODEL.onnx --data DIR` writes both), or drop the DLA core to run "
                          "this model on the GPU".format(onnx_path))
    if qdq and precision != "int8":
        raise ConfigError("{}: model is quantized (QuantizeLinear/DequantizeLinear nodes); build it with "
                          "precision int8, or build the FP32 model for {}".format(onnx_path, precision))
    if precision != "int8":
        return None
    if qdq:
        if has_cache:
            lines.append("[WARNING] edgeseg: the model has Q/DQ nodes (explicit INT8); the calibration cache "
                         "is not used")
        return "explicit-qdq"
    if has_cache:
        return "implicit-cache"
    raise ConfigError("{}: int8 needs a quantized model (QuantizeLinear/DequantizeLinear nodes) or a TensorRT "
                      "calibration cache; {}".format(onnx_path, trt_cache.CALIBRATE))


def dla_core_count() -> int:
    """How many DLA cores TensorRT sees here (Xavier NX: 2; desktop GPUs and Orin Nano: 0)."""
    trt = import_tensorrt()
    builder = trt.Builder(capturing_logger(trt, [], trt.ILogger.Severity.ERROR))
    return int(builder.num_DLA_cores)


def _check_dla_core(builder, dla_core: int) -> None:
    cores = int(builder.num_DLA_cores)
    if dla_core >= cores:
        raise ConfigError("DLA core {} does not exist: this device has {} DLA core{}; {}".format(
            dla_core, cores, "" if cores == 1 else "s",
            "use 0 to {}".format(cores - 1) if cores > 1 else "use 0" if cores else "build for the GPU (no DLA core)"))


def _dla_placement(config, network) -> Dict[str, int]:
    """How many network layers TensorRT says can run on the DLA, and how many fall back to the GPU."""
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    on_dla = sum(1 for layer in layers if config.can_run_on_DLA(layer))
    return {"dla_layers": on_dla, "gpu_fallback_layers": len(layers) - on_dla}


def _use_timing_cache(config, path: str, lines: List[str]):
    """Load `path` (when it exists) into the build; returns (the cache, whether the file was used)."""
    previous = b""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            previous = f.read()
    cache = config.create_timing_cache(previous) if previous else None
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False) is not False:
        return cache, True
    if previous:
        lines.append("[WARNING] edgeseg: timing cache {} is corrupt or from another TensorRT/GPU; starting a "
                     "new one".format(path))
    cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache, False


def _format_precision(text: str) -> Optional[str]:
    lowered = text.lower()
    for word, precision in (("int8", "int8"), ("fp16", "fp16"), ("half", "fp16"), ("fp32", "fp32"),
                            ("float", "fp32")):
        if word in lowered:
            return precision
    return None


def _layer_summary(layer: Any, dla: bool) -> Dict[str, Any]:
    """Name, type, output precision and (DLA builds) device of one inspector layer entry."""
    if not isinstance(layer, dict):  # profiling verbosity LAYER_NAMES_ONLY: just the name
        return {"name": str(layer)}
    entry = {"name": layer.get("Name"), "type": layer.get("LayerType")}  # type: Dict[str, Any]
    tensors = layer.get("Outputs") or layer.get("Inputs") or []
    text = tensors[0].get("Format/Datatype", "") if tensors and isinstance(tensors[0], dict) else ""
    if text:
        entry["format"] = text
        entry["precision"] = _format_precision(text)
    if dla:  # TensorRT names a DLA subgraph {ForeignNode[first...last]}, but a GPU (Myelin) subgraph too, and
        # a reformat into one "Reformatting CopyNode ... to {ForeignNode[...]}" (tests/data/README.md)
        name, kind = str(entry["name"] or ""), str(entry["type"] or "").lower()
        foreign = name.startswith("{ForeignNode[") and kind != "myelin"
        entry["device"] = "DLA" if foreign or "dla" in kind else "GPU"
    return entry


def _write_layer_report(trt, engine, path: str, extra: Dict[str, Any], dla: bool) -> bool:
    """Write the engine inspector's per-layer information to `path`; False when there is no engine."""
    if engine is None:
        return False
    inspector = engine.create_engine_inspector()
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    layers = info.get("Layers", []) if isinstance(info, dict) else []
    report = dict(extra)
    report.update(layers=[_layer_summary(layer, dla) for layer in layers],
                  bindings=info.get("Bindings", []) if isinstance(info, dict) else [], engine_information=info)
    write_json_atomic(path, report)
    return True


def build_engine(onnx_path: str, engine_path: str, precision: str = "fp16", workspace_mb: int = 1024,
                 input_shapes: Optional[Dict[str, Tuple[Shape, Shape, Shape]]] = None,
                 log_path: Optional[str] = None, calibration_cache: Optional[str] = None,
                 dla_core: Optional[int] = None, timing_cache: Optional[str] = None,
                 layer_report: bool = True, engine_file: Optional[str] = None) -> Dict[str, object]:
    """Build `onnx_path` into a serialized engine at `engine_path`; returns facts for its sidecar.

    precision int8 builds explicit INT8 when the model has Q/DQ nodes, else implicit INT8 from
    `calibration_cache`. `dla_core` builds for that DLA core with GPU fallback (fp16 or int8; implicit
    INT8 only). `timing_cache` is loaded when it exists and saved after the build. With `layer_report`,
    the engine inspector's per-layer information goes to `engine_path + ".layers.json"`. `engine_file`
    (a pending artifact's file, which the caller commits to `engine_path`) receives the engine instead.
    """
    if precision not in PRECISIONS:
        raise ConfigError("precision {!r} is not supported; use {}".format(precision, ", ".join(PRECISIONS)))
    if int(workspace_mb) <= 0:
        raise ConfigError("workspace must be a positive number of MiB, got {}".format(workspace_mb))
    if dla_core is not None:
        if isinstance(dla_core, bool) or not isinstance(dla_core, int) or dla_core < 0:
            raise ConfigError("DLA core must be a core number (0, 1, ...), got {!r}".format(dla_core))
        if precision == "fp32":
            raise ConfigError("DLA runs FP16 or INT8 only; build with precision fp16 or int8 for DLA core {} "
                              "(layers the DLA cannot run fall back to the GPU)".format(dla_core))
    if calibration_cache is not None and precision != "int8":
        raise ConfigError("a calibration cache is used only with precision int8, not {}".format(precision))
    require_file(onnx_path, "ONNX model", "export one with `edgeseg export`")
    cache = trt_cache.read(calibration_cache) if calibration_cache is not None else None
    lines = []  # type: List[str]
    qdq = _onnx_has_qdq(onnx_path)  # None without `onnx`: the parsed network is scanned instead
    int8_mode = None
    if qdq is not None:
        int8_mode = _int8_mode(onnx_path, precision, qdq, cache is not None, dla_core, lines)
    trt = import_tensorrt()
    if precision == "fp16" and strongly_typed_only(trt):
        raise ConfigError("{}: TensorRT {} builds strongly typed networks only (it has no FP16 builder flag), so "
                          "fp16 would silently build FP32; build fp32, or int8 from the Q/DQ model `edgeseg "
                          "calibrate` writes, or use TensorRT 10 for fp16".format(onnx_path, trt.__version__))
    logger = capturing_logger(trt, lines, trt.ILogger.Severity.INFO)
    started = time.monotonic()
    placement = {}  # type: Dict[str, int]
    report_path = engine_path + ".layers.json" if layer_report else None
    timing_loaded = False
    try:
        trt.init_libnvinfer_plugins(logger, "")
        builder = trt.Builder(logger)
        if dla_core is not None:
            _check_dla_core(builder, dla_core)
        network = builder.create_network(network_flags(trt))
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(os.path.abspath(onnx_path)):
            raise ArtifactError("{}: TensorRT {} cannot parse this model ({}); re-export it with opset <= 17 "
                                "and supported ops".format(onnx_path, trt.__version__, _parser_errors(parser, lines)))
        if qdq is None:
            qdq = _network_has_qdq(trt, network)
            int8_mode = _int8_mode(onnx_path, precision, qdq, cache is not None, dla_core, lines)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
        typed = strongly_typed_only(trt)  # TensorRT 11: no FP16/INT8 flags; Q/DQ nodes type the network
        fp16_ok = not typed and (builder.platform_has_fast_fp16 or dla_core is not None)  # DLA computes in FP16
        enabled = "fp32"
        calibrator = None
        if precision == "int8":
            if int8_mode == "implicit-cache":
                if typed:
                    raise ConfigError("{}: TensorRT {} has no implicit INT8 (calibration cache) path; build the "
                                      "Q/DQ model `edgeseg calibrate` wrote (explicit INT8) instead".format(
                                          onnx_path, trt.__version__))
                # tagged for this TensorRT: it skips a cache whose header names another version
                calibrator = cache_calibrator(trt, trt_cache.tagged_for(cache, trt.__version__))
                config.int8_calibrator = calibrator
            if not typed:
                config.set_flag(trt.BuilderFlag.INT8)
                if not builder.platform_has_fast_int8:
                    lines.append("[WARNING] edgeseg: TensorRT reports no fast INT8 on this GPU")
            if fp16_ok:  # layers without INT8 kernels (or scales) run FP16 rather than FP32
                config.set_flag(trt.BuilderFlag.FP16)
            enabled = "int8"
        elif precision == "fp16" and fp16_ok:
            config.set_flag(trt.BuilderFlag.FP16)
            enabled = "fp16"
        elif precision == "fp16":
            lines.append("[WARNING] edgeseg: no fast FP16 on this GPU; building FP32")
        if enabled == "fp32":
            config.clear_flag(trt.BuilderFlag.TF32)  # on by default (Ampere+); fp32 means full fp32
        if dla_core is not None:
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = int(dla_core)
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
            placement = _dla_placement(config, network)
        if report_path:
            config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        timing = None
        if timing_cache:
            timing, timing_loaded = _use_timing_cache(config, timing_cache, lines)
        shapes = _add_profile(builder, network, config, onnx_path, input_shapes)
        io = _network_io(trt, network, shapes, onnx_path)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            hint = "; try a larger workspace"
            if int8_mode == "implicit-cache":
                hint = "; TensorRT takes a calibration cache only for this network (the cache {} names tensors " \
                       "of the model it was calibrated on): recalibrate if the model changed{}".format(
                           calibration_cache, hint)
            raise ArtifactError("{}: TensorRT build failed ({}){}{}".format(
                onnx_path, last_error(lines), "; log in " + log_path if log_path else "", hint))
        if engine_file:
            with open(engine_file, "wb") as f:
                f.write(bytes(serialized))
        else:
            write_bytes_atomic(engine_path, bytes(serialized))
        if timing is not None:
            write_bytes_atomic(timing_cache, bytes(config.get_timing_cache().serialize()))
        if report_path:
            try:
                engine = trt.Runtime(logger).deserialize_cuda_engine(bytes(serialized))
                facts = {"engine": os.path.basename(engine_path), "tensorrt_version": trt.__version__,
                         "precision": enabled, "dla_core": dla_core}  # type: Dict[str, Any]
                facts.update(placement)
                if not _write_layer_report(trt, engine, report_path, facts, dla_core is not None):
                    report_path = None
            except Exception as exc:  # the engine is built; a missing report must not fail it
                lines.append("[WARNING] edgeseg: no layer report ({})".format(exc))
                report_path = None
    finally:
        if log_path:
            write_bytes_atomic(log_path, ("\n".join(lines) + "\n").encode("utf-8"))
    env = environment()
    record = {
        "runtime": "tensorrt",
        "tensorrt_version": trt.__version__,
        "gpu_name": env["cuda_device"],
        "compute_capability": env["compute_capability"],
        "precision": enabled,
        "workspace_mb": int(workspace_mb),
        "build_seconds": round(time.monotonic() - started, 2),
        "onnx_sha256": file_sha256(onnx_path),
        "dla_core": dla_core,
        "timing_cache": timing_cache,
        "layer_report": report_path,
        "io": io,
    }  # type: Dict[str, object]
    if int8_mode:
        record["int8_mode"] = int8_mode
    if int8_mode == "implicit-cache":
        record["calibration_cache"] = calibration_cache
        record["calibration_cache_sha256"] = file_sha256(calibration_cache)
        record["calibration_cache_header"] = trt_cache.header_for(trt.__version__)  # as TensorRT read it
        if cache.header != record["calibration_cache_header"]:
            record["calibration_cache_retagged_from"] = cache.header
    if dla_core is not None:
        record["gpu_fallback"] = True
        record.update(placement)
    if timing_cache:
        record["timing_cache_loaded"] = timing_loaded
    if shapes:
        record["input_shapes"] = shapes
    l4t = board.l4t_release()
    if l4t:
        record.update(l4t=l4t, jetpack=board.jetpack_for_l4t(l4t))
    return record
