"""TensorRT backend and engine builder (TensorRT 8.5 on JetPack 5.1 through TensorRT 10.x).

`tensorrt` and `pycuda` are imported inside functions, so this module imports anywhere. API
differences between TensorRT versions are detected with `hasattr`, never from version strings.
"""
import collections
import os
import threading
import time
from typing import Any, Dict, List, MutableSequence, Optional, Tuple

import numpy as np

from ..artifacts import require_file, write_bytes_atomic
from ..errors import ArtifactError, ConfigError
from .base import Backend, TensorSpec

PRECISIONS = ("fp32", "fp16")
REBUILD = "rebuild it on this device with `edgeseg build MODEL.onnx`"
SEVERITIES = ("INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE")  # trt.ILogger.Severity, by value
Shape = Tuple[int, ...]


def _import_trt():
    try:
        import tensorrt
    except Exception:  # ImportError, or its native libraries fail to load
        raise ConfigError("TensorRT is not installed; on a Jetson it comes with JetPack (python3-libnvinfer)")
    return tensorrt


def _import_cuda():
    try:
        import pycuda.driver
    except Exception:
        raise ConfigError("pycuda is not installed or finds no CUDA driver; `pip install pycuda` on the device")
    return pycuda.driver


def tensorrt_available() -> bool:
    """True when both TensorRT and pycuda import."""
    try:
        _import_trt()
        _import_cuda()
    except ConfigError:
        return False
    return True


def environment() -> Dict[str, Optional[str]]:
    """TensorRT and pycuda versions, CUDA device 0's name and compute capability; None when absent."""
    keys = ("tensorrt_version", "pycuda_version", "cuda_device", "compute_capability")
    env = {key: None for key in keys}  # type: Dict[str, Optional[str]]
    try:
        env["tensorrt_version"] = _import_trt().__version__
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


def _logger(trt, lines: MutableSequence[str], min_severity):
    """A TensorRT logger that appends "[SEVERITY] message" to `lines` for `min_severity` and worse."""
    floor = int(min_severity)

    class CapturingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity, msg) -> None:
            if int(severity) <= floor:
                lines.append("[{}] {}".format(SEVERITIES[int(severity)], msg))

    return CapturingLogger()


def _last_error(lines: MutableSequence[str]) -> str:
    errors = [line for line in lines if line.startswith(("[ERROR]", "[INTERNAL_ERROR]"))]
    return " ".join(errors[-1].split()) if errors else "no error message"


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

    Every CUDA call pushes that context and pops it afterwards, so any thread may call `infer`
    (calls are serialized by a lock). Buffers are allocated once per input shape.
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
        self._named = False  # named-tensor API (TensorRT >= 8.5) rather than binding indices
        self._tensors = []  # type: List[Tuple[str, bool, Shape, np.dtype]]
        self._input = self._output = 0  # indices into _tensors
        self._device = []  # type: List[Any]
        self._host_input = self._host_output = None  # type: Optional[np.ndarray]
        self._bound_shape = None  # type: Optional[Shape]
        self._description = self.name

    def open(self) -> "TensorRTBackend":
        require_file(self.path, "TensorRT engine", "build one with `edgeseg build MODEL.onnx`")
        trt, cuda = _import_trt(), _import_cuda()
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
        logger = _logger(trt, self._log, trt.ILogger.Severity.WARNING)
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
                    self.path, trt.__version__, built, _last_error(self._log), REBUILD))
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise ArtifactError("{}: cannot create an execution context ({}); free GPU memory and retry".format(
                self.path, _last_error(self._log)))
        self._named = hasattr(self._engine, "num_io_tensors") and hasattr(self._context, "execute_async_v3")
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
        """(name, is_input, engine shape, numpy dtype) of every I/O tensor, in binding order."""
        engine = self._engine
        if self._named:
            names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
            return [(n, engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT, tuple(engine.get_tensor_shape(n)),
                     np.dtype(trt.nptype(engine.get_tensor_dtype(n)))) for n in names]
        return [(engine.get_binding_name(i), engine.binding_is_input(i), tuple(engine.get_binding_shape(i)),
                 np.dtype(trt.nptype(engine.get_binding_dtype(i)))) for i in range(engine.num_bindings)]

    def _context_shape(self, index: int) -> Shape:
        if self._named:
            return tuple(self._context.get_tensor_shape(self._tensors[index][0]))
        return tuple(self._context.get_binding_shape(index))

    def _allocate(self, shape: Shape) -> None:
        """Set the input shape (dynamic engines) and (re)allocate every buffer for it."""
        if self.input_spec.is_dynamic:
            ok = (self._context.set_input_shape(self.input_spec.name, shape) if self._named
                  else self._context.set_binding_shape(self._input, shape))
            if not ok:
                raise ConfigError("{}: input shape {} is outside the engine's optimization profile; rebuild it "
                                  "with `edgeseg build MODEL.onnx` for that size".format(self.path, list(shape)))
        self._free_buffers()
        shapes = [tuple(shape) if i == self._input else self._context_shape(i) for i in range(len(self._tensors))]
        for (name, _, _, dtype), tensor_shape in zip(self._tensors, shapes):
            if any(d < 0 for d in tensor_shape):
                raise ArtifactError("{}: tensor {} has a data-dependent shape {}; edgeseg cannot run it".format(
                    self.path, name, list(tensor_shape)))
            self._device.append(self._cuda.mem_alloc(max(1, int(np.prod(tensor_shape)) * dtype.itemsize)))
            if self._named:
                self._context.set_tensor_address(name, int(self._device[-1]))
        self._host_input = self._cuda.pagelocked_empty(shapes[self._input], self.input_spec.dtype)
        self._host_output = self._cuda.pagelocked_empty(shapes[self._output], self.output_spec.dtype)
        self._bound_shape = shapes[self._input]

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
                np.copyto(self._host_input, batch, casting="same_kind")
                cuda.memcpy_htod_async(self._device[self._input], self._host_input, self._stream)
                if self._named:
                    ok = self._context.execute_async_v3(self._stream.handle)
                else:
                    ok = self._context.execute_async_v2([int(d) for d in self._device], self._stream.handle)
                if not ok:
                    raise RuntimeError("{}: TensorRT execution failed ({})".format(self.path, _last_error(self._log)))
                cuda.memcpy_dtoh_async(self._host_output, self._device[self._output], self._stream)
                self._stream.synchronize()
                return self._host_output.copy()
            finally:
                cuda.Context.pop()

    def _free_buffers(self) -> None:
        for allocation in self._device:
            allocation.free()
        self._device = []
        self._host_input = self._host_output = None
        self._bound_shape = None

    def close(self) -> None:
        """Free buffers, stream, context and engine inside the CUDA context, then release it."""
        if self._cuda_context is None:
            return
        with self._lock:
            self._cuda_context.push()
            try:
                self._free_buffers()
                self._stream = self._context = self._engine = self._runtime = None
            finally:
                self._cuda.Context.pop()
            self._cuda_context.detach()
            self._cuda_context = None

    def describe(self) -> str:
        return self._description


def _parser_errors(parser, lines: List[str]) -> str:
    errors = [parser.get_error(i) for i in range(parser.num_errors)]
    text = "; ".join("node {}: {}".format(e.node(), e.desc()) for e in errors) or _last_error(lines)
    return " ".join(text.split())


def _add_profile(builder, network, config, onnx_path: str,
                 input_shapes: Optional[Dict[str, Tuple[Shape, Shape, Shape]]]) -> Dict[str, List[List[int]]]:
    """An optimization profile for the dynamic inputs; returns the shapes used."""
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
    return used


def build_engine(onnx_path: str, engine_path: str, precision: str = "fp16", workspace_mb: int = 1024,
                 input_shapes: Optional[Dict[str, Tuple[Shape, Shape, Shape]]] = None,
                 log_path: Optional[str] = None) -> Dict[str, object]:
    """Build `onnx_path` into a serialized engine at `engine_path`; returns facts for its sidecar."""
    if precision not in PRECISIONS:
        raise ConfigError("precision {!r} is not supported yet; use {}".format(precision, " or ".join(PRECISIONS)))
    if int(workspace_mb) <= 0:
        raise ConfigError("workspace must be a positive number of MiB, got {}".format(workspace_mb))
    require_file(onnx_path, "ONNX model", "export one with `edgeseg export`")
    trt = _import_trt()
    lines = []  # type: List[str]
    logger = _logger(trt, lines, trt.ILogger.Severity.INFO)
    started = time.monotonic()
    try:
        trt.init_libnvinfer_plugins(logger, "")
        builder = trt.Builder(logger)
        flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
        network = builder.create_network(0 if flag is None else 1 << int(flag))
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(os.path.abspath(onnx_path)):
            raise ArtifactError("{}: TensorRT {} cannot parse this model ({}); re-export it with opset <= 17 "
                                "and supported ops".format(onnx_path, trt.__version__, _parser_errors(parser, lines)))
        config = builder.create_builder_config()
        if hasattr(config, "set_memory_pool_limit"):
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
        else:
            config.max_workspace_size = int(workspace_mb) << 20
        enabled = "fp32"
        fast_fp16 = getattr(builder, "platform_has_fast_fp16", False) and hasattr(trt.BuilderFlag, "FP16")
        if precision == "fp16" and fast_fp16:
            config.set_flag(trt.BuilderFlag.FP16)
            enabled = "fp16"
        elif precision == "fp16":
            lines.append("[WARNING] edgeseg: no fast FP16 on this GPU (or TensorRT); building FP32")
        if enabled == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
            config.clear_flag(trt.BuilderFlag.TF32)  # on by default (Ampere+); fp32 means full fp32
        shapes = _add_profile(builder, network, config, onnx_path, input_shapes)
        if hasattr(builder, "build_serialized_network"):
            serialized = builder.build_serialized_network(network, config)
        else:
            engine = builder.build_engine(network, config)
            serialized = engine.serialize() if engine is not None else None
        if serialized is None:
            raise ArtifactError("{}: TensorRT build failed ({}){}; try a larger workspace".format(
                onnx_path, _last_error(lines), "; log in " + log_path if log_path else ""))
        write_bytes_atomic(engine_path, bytes(serialized))
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
    }  # type: Dict[str, object]
    if shapes:
        record["input_shapes"] = shapes
    return record
