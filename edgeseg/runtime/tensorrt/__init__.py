"""TensorRT behind the runtime interface: `runner` (an engine run with pycuda), `builder` (an ONNX model built
into an engine) and `compat` (what differs between TensorRT 8.5 and 11.x, detected from the API)."""
from .builder import build_engine, dla_core_count
from .runner import TensorRTBackend, check_engine_compatible, environment, tensorrt_available

__all__ = ["TensorRTBackend", "build_engine", "check_engine_compatible", "dla_core_count", "environment",
           "tensorrt_available"]
