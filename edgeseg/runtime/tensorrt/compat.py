"""What differs between the TensorRT versions edgeseg supports: 8.5 (JetPack 5.1) through 10.x and 11.x.

Every difference is detected from the API itself, never from a version string. The real surfaces of
8.6.1 (for 8.5.2), 10.3.0, 10.16.1 and 11.4.0 are in tests/trt_double/surfaces; tests/test_trt_surface.py
checks that every name used here and in tensorrt.py either exists in all of them or is guarded.
`tensorrt` is imported inside functions, so this module imports anywhere.
"""
from typing import Any, MutableSequence

import numpy as np

from ...errors import ArtifactError, ConfigError

SUPPORTED = "TensorRT 8.5 (JetPack 5.1) to 11.x"
SEVERITIES = ("INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE")  # trt.ILogger.Severity, by value
# what the engine runner and builder need; TensorRT 8.5 added the named-tensor calls (8.4 lacks them)
REQUIRED = (("ICudaEngine", "num_io_tensors"), ("ICudaEngine", "get_tensor_mode"),
            ("IExecutionContext", "execute_async_v3"), ("IExecutionContext", "set_input_shape"),
            ("IExecutionContext", "set_tensor_address"), ("Builder", "build_serialized_network"),
            ("IBuilderConfig", "set_memory_pool_limit"))


def import_tensorrt():
    """The `tensorrt` module, checked to be a version edgeseg supports (ConfigError otherwise)."""
    try:
        import tensorrt
    except Exception:  # ImportError, or its native libraries fail to load
        raise ConfigError("TensorRT is not installed; on a Jetson it comes with JetPack (python3-libnvinfer)")
    missing = [".".join(pair) for pair in REQUIRED if not hasattr(getattr(tensorrt, pair[0], None), pair[1])]
    if missing:
        raise ConfigError("TensorRT {} is not supported (it lacks {}); edgeseg supports {}: upgrade to JetPack 5.1 "
                          "or newer".format(getattr(tensorrt, "__version__", "(unknown version)"),
                                            ", ".join(missing), SUPPORTED))
    return tensorrt


def network_flags(trt) -> int:
    """`create_network` flags for an ONNX model: EXPLICIT_BATCH where the enum still has it (8.x needs it;
    10.x accepts and ignores it), else 0 (TensorRT 11: every network is explicit-batch and strongly typed)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    return 0 if flag is None else 1 << int(flag)


# what a False strongly_typed_only() guarantees exists (tests/test_trt_surface.py checks it per version)
GUARDS = {"strongly_typed_only": ("FP16", "INT8", "int8_calibrator", "IInt8EntropyCalibrator2",
                                  "set_calibration_profile", "platform_has_fast_fp16", "platform_has_fast_int8")}


def strongly_typed_only(trt) -> bool:
    """True where the builder takes every precision from the network (TensorRT 11 removed the FP16 and
    INT8 builder flags): fp16 cannot be asked for, and INT8 comes only from Q/DQ nodes."""
    return not (hasattr(trt.BuilderFlag, "FP16") and hasattr(trt.BuilderFlag, "INT8"))


def numpy_dtype(trt, dtype: Any, tensor: str, path: str) -> np.dtype:
    """The numpy dtype of a TensorRT tensor; ArtifactError naming the tensor for BF16, FP8, INT4 and the
    other types numpy cannot hold (trt.nptype raises a bare TypeError for them)."""
    try:
        return np.dtype(trt.nptype(dtype))
    except (TypeError, KeyError):
        raise ArtifactError("{}: tensor {!r} is {}, which numpy cannot hold; export the model with float32, "
                            "float16 or integer inputs and outputs (cast inside the model), then rebuild".format(
                                path, tensor, dtype.name))


def capturing_logger(trt, lines: MutableSequence[str], min_severity):
    """A TensorRT logger that appends "[SEVERITY] message" to `lines` for `min_severity` and worse."""
    floor = int(min_severity)

    class CapturingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity, msg) -> None:
            if int(severity) <= floor:
                lines.append("[{}] {}".format(SEVERITIES[int(severity)], msg))

    return CapturingLogger()


def last_error(lines: MutableSequence[str]) -> str:
    """The last error a capturing logger recorded, on one line."""
    errors = [line for line in lines if line.startswith(("[ERROR]", "[INTERNAL_ERROR]"))]
    return " ".join(errors[-1].split()) if errors else "no error message"


def cache_calibrator(trt, cache: bytes):
    """An IInt8EntropyCalibrator2 that hands TensorRT `cache` and no images, so TensorRT takes every scale
    from the cache (get_batch says the data is exhausted) and never recalibrates. `cache` must carry the
    header of the TensorRT that builds (trt_cache.tagged_for), or TensorRT skips it."""
    if not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise ConfigError("TensorRT {} has no calibrators (implicit INT8); build the Q/DQ model `edgeseg "
                          "calibrate` wrote (explicit INT8) instead".format(trt.__version__))

    class CacheCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.reads = 0

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names, *_):
            return None

        def read_calibration_cache(self, *_):
            self.reads += 1
            return cache

        def write_calibration_cache(self, data, *_) -> None:
            return None  # the cache belongs to `edgeseg calibrate`; never rewritten here

    return CacheCalibrator()
