"""`edgeseg build`: a TensorRT engine where TensorRT is installed, else an ONNX Runtime artifact."""
import os
import time
from typing import Any, Dict, Optional, Tuple

from .. import __version__
from ..artifacts import file_sha256, new_artifact, partial_path, read_sidecar, require_file
from ..errors import ConfigError, EdgesegError
from ..preprocess import PreprocessSpec
from ..sidecar import derive
from . import tensorrt as trt_backend
from .base import PRECISIONS, Shape
from .pixel_graph import edit_for_build

PREPROCESS_CHOICES = ("auto", "graph", "host")


def _default_output(onnx_path: str, precision: str, engine: bool) -> str:
    stem = os.path.splitext(onnx_path)[0]
    return "{}_{}{}".format(stem, precision, ".engine" if engine else ".ort.onnx")


def _build_onnxruntime(onnx_path: str, target: str) -> Dict[str, Any]:
    """Save ONNX Runtime's graph-optimised model (level 'extended': portable across CPUs) to `target` (a
    pending artifact's file)."""
    from .onnxruntime import import_onnxruntime

    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.log_severity_level = 3
    started = time.perf_counter()
    options.optimized_model_filepath = target
    try:
        ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        folder = os.path.dirname(os.path.abspath(target))
        disk = os.statvfs(folder)
        if disk.f_bavail * disk.f_frsize < 2 * os.path.getsize(onnx_path):  # ONNX Runtime's error would not say
            raise ConfigError("{}: no room to write the artifact ({:.1f} MB free, it needs about {:.1f} MB); free "
                              "space or build elsewhere with -o".format(
                                  folder, disk.f_bavail * disk.f_frsize / 1e6, os.path.getsize(onnx_path) / 1e6))
        raise ConfigError("{}: ONNX Runtime cannot load this model ({}); re-export it".format(
            onnx_path, str(exc).strip().splitlines()[0][:300]))
    return {
        "runtime": "onnxruntime",
        "onnxruntime_version": ort.__version__,
        "graph_optimization": "extended",
        "build_seconds": time.perf_counter() - started,
    }


def read_calibration(manifest_path: str, onnx_path: str) -> Dict[str, Any]:
    """A calibration manifest of `onnx_path` (see `calibrate.read_manifest`: outputs in its own folder, hashes
    checked), with its outputs as paths; refuses another model's."""
    from ..quantize import read_manifest

    manifest = read_manifest(manifest_path)
    if manifest["model"].get("sha256") not in (None, file_sha256(onnx_path)):
        raise ConfigError("{}: calibrated for {}, not for {}; calibrate this model".format(
            manifest_path, manifest["model"].get("file"), onnx_path))
    return manifest


def _pixel_edits(parent: Dict[str, Any], use_tensorrt: bool, keep_scores: bool,
                 preprocess: str) -> Tuple[bool, bool]:
    """(fold the preprocessing into the graph, append ArgMax): by default ArgMax wherever the model outputs
    scores, and the preprocessing where TensorRT runs it on the GPU. On ONNX Runtime's CPU the folded
    preprocessing measured slower than the host's (benchmarks/host_budget.py), so there it stays on the host."""
    if preprocess not in PREPROCESS_CHOICES:
        raise ConfigError("--preprocess takes {}, not {!r}".format(", ".join(PREPROCESS_CHOICES), preprocess))
    described = "preprocess" in parent
    if preprocess == "graph" and not described:
        raise ConfigError("the model has no sidecar with its preprocessing to fold into the graph; use "
                          "--preprocess host (and give the preprocessing to `run`/`eval`/`bench` as flags)")
    folded = bool((parent.get("pixel_graph") or {}).get("input"))  # an artifact built before, built again
    fold = not folded and (preprocess == "graph" or (preprocess == "auto" and use_tensorrt and described))
    return fold, not keep_scores and parent.get("output_kind", "logits") != "classmap"


def build(onnx_path: str, output: Optional[str] = None, precision: str = "fp16", workspace_mb: int = 1024,
          calibration: Optional[str] = None, dla_core: Optional[int] = None,
          timing_cache: Optional[str] = None, keep_scores: bool = False,
          preprocess: str = "auto") -> Tuple[str, Dict[str, Any], Optional[str]]:
    """Build `onnx_path`; returns (artifact path, its sidecar, a note for the user or None).

    int8 needs `calibration` (the manifest `edgeseg calibrate` wrote): TensorRT builds the Q/DQ model
    (explicit INT8) on the GPU, or the FP32 model with the calibration cache (implicit INT8) on a DLA
    core; ONNX Runtime takes the u8/s8 Q/DQ model.

    The artifact returns a class map (ArgMax appended, uint8) unless `keep_scores` or the model already
    outputs one. `preprocess` "graph" folds the preprocessing into it (it then takes the frame resized,
    uint8 NHWC BGR), "host" leaves it to the host, "auto" folds for TensorRT only (see `pixel_graph`).
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
    fold, argmax = _pixel_edits(parent, use_tensorrt, keep_scores, preprocess)
    output = output or _default_output(onnx_path, precision, use_tensorrt)
    source = onnx_path  # DLA INT8: the FP32 model with the calibration cache
    if precision == "int8" and calibrated is not None and not use_tensorrt:
        source = calibrated["outputs"]["onnxruntime_int8"]
    elif precision == "int8" and calibrated is not None and dla_core is None:
        source = calibrated["outputs"]["tensorrt_qdq"]
    if not use_tensorrt and output.lower().endswith((".engine", ".plan", ".trt")):
        output = os.path.splitext(output)[0] + ".ort.onnx"
    if os.path.abspath(output) in (os.path.abspath(onnx_path), os.path.abspath(source)):
        raise ConfigError("{}: the output would overwrite its source; choose another -o".format(output))
    with new_artifact(output) as pending:
        edits: Dict[str, Any] = {"input": None, "output": None}
        edited = partial_path(output + ".pixel.onnx") if fold or argmax else None
        try:
            if edited:
                spec = PreprocessSpec.from_dict(parent["preprocess"]) if fold else None
                edits = edit_for_build(source, edited, spec, "tensorrt" if use_tensorrt else "onnxruntime", fold,
                                       argmax)
            edits = {key: edits[key] or (parent.get("pixel_graph") or {}).get(key) for key in ("input", "output")}
            try:
                record, note = _build_runtime(edited or source, output, pending.tmp, precision, workspace_mb,
                                              calibrated, dla_core, timing_cache, _static_shapes(parent, edits),
                                              use_tensorrt)
            except EdgesegError as exc:  # about the model: name the user's file, not the edited scratch copy
                if edited and edited in str(exc):
                    raise type(exc)(str(exc).replace(edited, source)) from None
                raise
            if edited and "onnx_sha256" in record:  # the edited copy is gone: name the source and `pixel_graph`
                record["onnx_sha256"] = file_sha256(source)
        finally:
            if edited and os.path.exists(edited):
                os.remove(edited)
        meta = derive(parent, "build", onnx_path, parent.get("sha256") or file_sha256(onnx_path), **record)
        quantization = (read_sidecar(source) or {}).get("quantization")
        if quantization:
            meta["quantization"] = quantization
        if edits["input"]:
            width, height = parent["preprocess"]["size"]
            meta.update(input_name=edits["input"]["name"], input_shape=[1, height, width, 3])
        if edits["output"]:
            meta.update(output_name=edits["output"]["name"], output_kind="classmap")
        if calibrated and precision == "int8":
            meta["int8_accuracy"] = _int8_accuracy(calibrated, use_tensorrt, dla_core)
        meta["parent"]["built_from"] = os.path.basename(source)
        meta.update(requested_precision=precision, calibration=calibration, pixel_graph=edits,
                    edgeseg_version=__version__)
        return output, pending.commit(meta), note


def _int8_accuracy(calibrated: Dict[str, Any], use_tensorrt: bool, dla_core: Optional[int]) -> Dict[str, Any]:
    """What `calibrate --val` measured for the INT8 model this build uses (none for the DLA's implicit INT8,
    which only TensorRT can run)."""
    model = "onnxruntime_int8" if not use_tensorrt else "tensorrt_qdq" if dla_core is None else "tensorrt_cache"
    accuracy = calibrated.get("accuracy") or {}
    measured = (accuracy.get("models") or {}).get(model)
    if not measured:
        why = "implicit INT8 runs only in TensorRT" if model == "tensorrt_cache" else \
            "calibrate with --val LABELLED_DATA to measure it"
        return {"model": model, "measured": False, "why": why}
    return {"model": model, "measured": True, "val": accuracy.get("val"), "fp32_miou": accuracy.get("fp32_miou"),
            "miou": measured["miou"], "drop_points": measured["drop_points"],
            "drop_interval_points": measured.get("drop_interval_points"), "max_drop": accuracy.get("max_drop"),
            "passed": measured["drop_points"] <= accuracy.get("max_drop", float("inf"))}


def _static_shapes(parent: Dict[str, Any], edits: Dict[str, Any]) -> Optional[Dict[str, Tuple[Shape, Shape, Shape]]]:
    """A dynamic model's TensorRT optimization profile: its input at the exported size, batch 1."""
    if not parent.get("dynamic"):
        return None
    width, height = parent["preprocess"]["size"]
    if edits["input"]:  # the frame input, folded now or in the build this artifact came from
        return {edits["input"]["name"]: ((1, height, width, 3),) * 3}
    return {parent.get("input_name", "input"): ((1, 3, height, width),) * 3}


def _build_runtime(source: str, output: str, target: str, precision: str, workspace_mb: int,
                   calibrated: Optional[Dict[str, Any]], dla_core: Optional[int], timing_cache: Optional[str],
                   shapes: Optional[Dict[str, Tuple[Shape, Shape, Shape]]],
                   use_tensorrt: bool) -> Tuple[Dict[str, Any], Optional[str]]:
    """Build `source` into `target`, the pending file of `output` (a TensorRT engine, else an ONNX Runtime
    artifact): (runtime facts, note)."""
    note = None
    record: Dict[str, Any]
    if use_tensorrt:
        cache = calibrated["outputs"]["tensorrt_cache"] if calibrated and precision == "int8" and dla_core is not None \
            else None
        record = trt_backend.build_engine(source, output, precision, workspace_mb, shapes, log_path=output + ".log",
                                          calibration_cache=cache, dla_core=dla_core, timing_cache=timing_cache,
                                          engine_file=target)
    else:
        record = _build_onnxruntime(source, target)
        record["precision"] = "int8" if precision == "int8" else "fp32"
        missing = {"fp16": "; fp16 needs TensorRT", "int8": " u8/s8 Q/DQ"}.get(precision, "")
        note = "TensorRT not found: built an ONNX Runtime artifact ({}, graph-optimised {}{}{}) instead of an " \
               "engine".format(output, record["precision"].upper(), missing,
                               "; DLA needs TensorRT" if dla_core is not None else "")
    return record, note
