"""The TensorRT runner: an engine deserialized and run with pycuda (TensorRT 8.5 on JetPack 5.1 through 10.x and
11.x). `tensorrt` and `pycuda` are imported inside functions, so this module imports anywhere; what differs between
TensorRT versions lives in `compat`, detected from the API, never from version strings."""
import collections
import threading
from typing import Any, Dict, List, MutableSequence, Optional, Tuple

import numpy as np

from ...artifacts import require_file
from ...errors import ArtifactError, ConfigError
from ..base import IN_FLIGHT, Backend, PhaseTimes, TensorSpec
from .compat import capturing_logger, import_tensorrt, last_error, numpy_dtype

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
    env: Dict[str, Optional[str]] = {key: None for key in keys}
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


def _phases(events: List[Any]) -> PhaseTimes:
    """(start, end) in ms since the zero event of each phase the events (zero, start, after H2D, after
    execution, after D2H; all reached) bracket."""
    marks = [events[0].time_till(e) for e in events[1:]]
    return {"h2d": (marks[0], marks[1]), "compute": (marks[1], marks[2]), "d2h": (marks[2], marks[3])}


class TensorRTBackend(Backend):
    """A serialized TensorRT engine run through pycuda on CUDA device 0's primary context.

    Every CUDA call pushes that context and pops it afterwards, so any thread may call `infer` or
    `close` (calls are serialized by a lock). Buffers are allocated once per input shape. The input is copied to
    the device straight from a page-locked buffer that `input_buffer` handed out (else once into one),
    and the output is returned in the next of a ring of IN_FLIGHT page-locked buffers, without a copy.
    With `time_phases()` on, CUDA events on the stream time the H2D copy, the execution and the D2H copy.
    """

    name = "tensorrt"

    def __init__(self, path: str, sidecar: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(path)
        self.sidecar = sidecar
        self._lock = threading.Lock()
        self._log: MutableSequence[str] = collections.deque(maxlen=100)
        self._cuda: Any = None  # pycuda.driver, once open
        self._cuda_context: Any = None
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._tensors: List[Tuple[str, bool, Shape, np.dtype]] = []
        self._input = self._output = 0  # indices into _tensors
        self._device: List[Any] = []
        self._host_input: Any = None  # page-locked (pycuda), once open
        self._host_outputs: List[np.ndarray] = []  # a ring: infer returns the next one
        self._next_output = 0
        self._given_inputs: List[np.ndarray] = []  # page-locked buffers from input_buffer
        self._bound_shape: Optional[Shape] = None
        self._events: Optional[List[Any]] = None  # while timing: zero, start, after H2D, after execution, after D2H
        self._phases: PhaseTimes = {}
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
                                          "the engine".format(self.path, list(self._bound_shape or ()),
                                                              list(batch.shape)))
                    self._allocate(batch.shape)
                source = batch
                if not any(batch is given for given in self._given_inputs):  # not page-locked: copy it once
                    np.copyto(self._host_input, batch, casting="same_kind")
                    source = self._host_input
                events = self._events
                if events:
                    events[1].record(self._stream)
                cuda.memcpy_htod_async(self._device[self._input], source, self._stream)
                if events:
                    events[2].record(self._stream)
                if not self._context.execute_async_v3(self._stream.handle):
                    raise RuntimeError("{}: TensorRT execution failed ({})".format(self.path, last_error(self._log)))
                if events:
                    events[3].record(self._stream)
                output = self._host_outputs[self._next_output]
                self._next_output = (self._next_output + 1) % len(self._host_outputs)
                cuda.memcpy_dtoh_async(output, self._device[self._output], self._stream)
                if events:
                    events[4].record(self._stream)
                self._stream.synchronize()
                if events:
                    self._phases = _phases(events)
                return output
            finally:
                cuda.Context.pop()

    def time_phases(self, on: bool = True) -> bool:
        """Opt-in phase timing: while on, `infer` records CUDA events around its H2D copy, execution and D2H
        copy, and `phase_times()` gives them in ms since this call turned it on (pycuda's Event.time_till)."""
        if self._context is None:
            raise ConfigError("{}: backend is not open; call open() first".format(self.path))
        with self._lock:
            self._cuda_context.push()
            try:
                self._events = [self._cuda.Event() for _ in range(5)] if on else None
                if self._events:
                    self._events[0].record(self._stream)
                self._phases = {}
            finally:
                self._cuda.Context.pop()
        return True

    def phase_times(self) -> PhaseTimes:
        return dict(self._phases)

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
                self._events = self._stream = self._context = self._engine = self._runtime = None
            finally:
                self._cuda_context.detach()  # releases it and pops it off this thread's context stack
                self._cuda_context = None

    def describe(self) -> str:
        return self._description
