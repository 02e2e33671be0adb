"""`edgeseg build`: a TensorRT engine where TensorRT is installed, else an ONNX Runtime artifact."""
import json
import os
import time
from typing import Any, Dict, Optional, Tuple

from .. import __version__
from ..artifacts import atomic_path, file_sha256, read_sidecar, require_file, write_sidecar
from ..errors import ConfigError
from . import tensorrt as trt_backend

PRECISIONS = ("fp32", "fp16", "int8")


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


def read_calibration(manifest_path: str, onnx_path: str) -> Dict[str, Any]:
    """A calibration manifest for `onnx_path`, with its outputs as paths; refuses another model's."""
    require_file(manifest_path, "calibration manifest", "run `edgeseg calibrate MODEL.onnx --data DIR` first")
    with open(manifest_path) as f:
        manifest = json.load(f)
    if manifest.get("model", {}).get("sha256") not in (None, file_sha256(onnx_path)):
        raise ConfigError("{}: calibrated for {}, not for {}; calibrate this model".format(
            manifest_path, manifest["model"].get("file"), onnx_path))
    folder = os.path.dirname(os.path.abspath(manifest_path))
    outputs = {key: os.path.join(folder, path) for key, path in manifest["outputs"].items()}
    return dict(manifest, outputs=outputs)


def build(onnx_path: str, output: Optional[str] = None, precision: str = "fp16", workspace_mb: int = 1024,
          calibration: Optional[str] = None, dla_core: Optional[int] = None,
          timing_cache: Optional[str] = None) -> Tuple[str, Dict[str, Any], Optional[str]]:
    """Build `onnx_path`; returns (artifact path, its sidecar, a note for the user or None).

    int8 needs `calibration` (the manifest `edgeseg calibrate` wrote): TensorRT builds the Q/DQ model
    (explicit INT8) on the GPU, or the FP32 model with the calibration cache (implicit INT8) on a DLA
    core; ONNX Runtime takes the u8/s8 Q/DQ model.
    """
    if precision not in PRECISIONS:
        raise ConfigError("precision {!r} is not one of {}".format(precision, ", ".join(PRECISIONS)))
    require_file(onnx_path, "ONNX model", "export one with `edgeseg export`")
    parent = read_sidecar(onnx_path) or {}
    calibrated = read_calibration(calibration, onnx_path) if calibration else None
    if precision == "int8" and calibrated is None:
        raise ConfigError("{}: int8 needs a calibration; run `edgeseg calibrate {} --data DIR` and pass "
                          "--calibration MANIFEST".format(onnx_path, onnx_path))
    use_tensorrt = trt_backend.tensorrt_available()
    output = output or _default_output(onnx_path, precision, use_tensorrt)
    note = None
    source = onnx_path
    if use_tensorrt:
        shapes = None
        if parent.get("dynamic"):
            width, height = parent["preprocess"]["size"]
            static = (1, 3, height, width)
            shapes = {parent.get("input_name", "input"): (static, static, static)}
        cache = None
        if precision == "int8" and dla_core is None:
            source = calibrated["outputs"]["tensorrt_qdq"]
        elif precision == "int8":
            cache = calibrated["outputs"]["tensorrt_cache"]
        record = trt_backend.build_engine(source, output, precision, workspace_mb, shapes, log_path=output + ".log",
                                          calibration_cache=cache, dla_core=dla_core, timing_cache=timing_cache)
    else:
        if output.lower().endswith((".engine", ".plan", ".trt")):
            output = os.path.splitext(output)[0] + ".ort.onnx"
        if precision == "int8":
            source = calibrated["outputs"]["onnxruntime_int8"]
        if os.path.abspath(output) == os.path.abspath(source):
            raise ConfigError("{}: the output would overwrite its source; choose another -o".format(output))
        record = _build_onnxruntime(source, output)
        record["precision"] = "int8" if precision == "int8" else "fp32"
        missing = {"fp16": "; fp16 needs TensorRT", "int8": " u8/s8 Q/DQ"}.get(precision, "")
        note = "TensorRT not found: built an ONNX Runtime artifact ({}, graph-optimised {}{}{}) instead of an " \
               "engine".format(output, record["precision"].upper(), missing,
                               "; DLA needs TensorRT" if dla_core is not None else "")
    meta = {k: v for k, v in parent.items() if k not in ("file", "sha256", "size_bytes", "sidecar_version", "parity")}
    if source != onnx_path:
        meta.update({k: v for k, v in (read_sidecar(source) or {}).items() if k in ("quantization",)})
    meta.update(record)
    meta.update(
        stage="build",
        requested_precision=precision,
        calibration=calibration,
        parent={"file": os.path.basename(onnx_path), "sha256": parent.get("sha256") or file_sha256(onnx_path),
                "built_from": os.path.basename(source)},
        edgeseg_version=__version__,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    return output, write_sidecar(output, meta), note
