"""`edgeseg build`: a TensorRT engine where TensorRT is installed, else an ONNX Runtime artifact."""
import os
import time
from typing import Any, Dict, Optional, Tuple

from .. import __version__
from ..artifacts import atomic_path, file_sha256, read_sidecar, require_file, write_sidecar
from ..errors import ConfigError
from . import tensorrt as trt_backend

PRECISIONS = ("fp32", "fp16")


def _default_output(onnx_path: str, precision: str, engine: bool) -> str:
    stem = os.path.splitext(onnx_path)[0]
    return "{}_{}{}".format(stem, precision, ".engine" if engine else ".ort.onnx")


def _build_onnxruntime(onnx_path: str, output: str) -> Dict[str, Any]:
    """Save ONNX Runtime's graph-optimised model (level 'extended': portable across CPUs)."""
    from .onnxruntime import import_onnxruntime

    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.log_severity_level = 3
    started = time.perf_counter()
    with atomic_path(output) as tmp:
        options.optimized_model_filepath = tmp
        try:
            ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ConfigError("{}: ONNX Runtime cannot load this model ({}); re-export it".format(
                onnx_path, str(exc).strip().splitlines()[0][:300]))
    return {
        "runtime": "onnxruntime",
        "onnxruntime_version": ort.__version__,
        "graph_optimization": "extended",
        "build_seconds": time.perf_counter() - started,
    }


def build(onnx_path: str, output: Optional[str] = None, precision: str = "fp32",
          workspace_mb: int = 1024) -> Tuple[str, Dict[str, Any], Optional[str]]:
    """Build `onnx_path`; returns (artifact path, its sidecar, a note for the user or None)."""
    if precision not in PRECISIONS:
        raise ConfigError("precision {!r} is not one of {}".format(precision, ", ".join(PRECISIONS)))
    require_file(onnx_path, "ONNX model", "export one with `edgeseg export`")
    parent = read_sidecar(onnx_path) or {}
    use_tensorrt = trt_backend.tensorrt_available()
    output = output or _default_output(onnx_path, precision, use_tensorrt)
    note = None
    if use_tensorrt:
        shapes = None
        if parent.get("dynamic"):
            width, height = parent["preprocess"]["size"]
            static = (1, 3, height, width)
            shapes = {parent.get("input_name", "input"): (static, static, static)}
        record = trt_backend.build_engine(onnx_path, output, precision, workspace_mb, shapes,
                                          log_path=output + ".log")
    else:
        if output.lower().endswith((".engine", ".plan", ".trt")):
            output = os.path.splitext(output)[0] + ".ort.onnx"
        record = _build_onnxruntime(onnx_path, output)
        record["precision"] = "fp32"
        note = "TensorRT not found: built an ONNX Runtime artifact ({}, graph-optimised FP32{}) instead of an engine".format(
            output, "; fp16 needs TensorRT" if precision == "fp16" else "")
    meta = {k: v for k, v in parent.items() if k not in ("file", "sha256", "size_bytes", "sidecar_version", "parity")}
    meta.update(record)
    meta.update(
        stage="build",
        requested_precision=precision,
        parent={"file": os.path.basename(onnx_path), "sha256": parent.get("sha256") or file_sha256(onnx_path)},
        edgeseg_version=__version__,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    return output, write_sidecar(output, meta), note
