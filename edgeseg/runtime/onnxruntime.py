"""ONNX Runtime backend: TensorRT EP → CUDA EP → CPU EP, whichever are installed."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import ArtifactError, ConfigError
from .base import Backend, TensorSpec

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")

_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
}


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("onnxruntime is not installed; `pip install edgeseg[device]` (on a Jetson, NVIDIA's "
                          "onnxruntime-gpu wheel: docs/jetson.md)")
    return onnxruntime


def best_providers() -> List[str]:
    """The installed execution providers in edgeseg's order of preference."""
    available = set(import_onnxruntime().get_available_providers())
    return [p for p in PREFERRED_PROVIDERS if p in available]


def _spec(node) -> TensorSpec:
    shape = [d if isinstance(d, int) else -1 for d in node.shape]
    return TensorSpec(node.name, tuple(shape), _ONNX_DTYPES.get(node.type, np.float32))


def describe_io(path: str) -> Dict[str, List[Dict[str, Any]]]:
    """Every input and output of an ONNX model as TensorSpec records (read by a CPU session)."""
    session = OnnxRuntimeBackend(path, providers=["CPUExecutionProvider"], spinning=False).open()._session
    return {"inputs": [_spec(node).to_dict() for node in session.get_inputs()],
            "outputs": [_spec(node).to_dict() for node in session.get_outputs()]}


class OnnxRuntimeBackend(Backend):
    """An ONNX model in an `onnxruntime.InferenceSession`.

    `threads` sets intra-op threads (0: ONNX Runtime's default); `spinning=False` stops idle
    worker threads from busy-waiting, which matters when several sessions share two cores.
    No phase timing (`time_phases` is False): one `run` call copies, computes and copies back (on the CUDA
    and TensorRT EPs too), so `edgeseg bench` reports its time as compute, with no H2D or D2H.
    """

    name = "onnxruntime"

    def __init__(
        self,
        path: str,
        providers: Optional[Sequence[str]] = None,
        threads: int = 0,
        spinning: bool = True,
    ) -> None:
        super().__init__(path)
        self.providers = list(providers) if providers else None
        self.threads = threads
        self.spinning = spinning
        self._session: Any = None

    def open(self) -> "OnnxRuntimeBackend":
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        if not self.spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(self.path, options, providers=self.providers or best_providers())
        except Exception as exc:  # ORT raises its own pybind exception types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(
                "{}: ONNX Runtime cannot load this model ({}); re-export it with `edgeseg export`".format(
                    self.path, reason[:300]))
        self.input_count = len(self._session.get_inputs())
        self.input_spec = _spec(self._session.get_inputs()[0])
        self.output_spec = _spec(self._session.get_outputs()[0])
        self._input_name = self.input_spec.name
        self._output_names = [self.output_spec.name]
        return self

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(self._output_names, {self._input_name: batch})[0]

    def close(self) -> None:
        self._session = None

    def describe(self) -> str:
        providers = self._session.get_providers() if self._session else (self.providers or best_providers())
        return "onnxruntime {} ({})".format(import_onnxruntime().__version__, providers[0])
