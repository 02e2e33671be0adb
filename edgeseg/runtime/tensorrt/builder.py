"""The TensorRT engine builder: ONNX parsed, FP32/FP16/INT8 (explicit Q/DQ or implicit with a calibration cache),
GPU or DLA, a timing cache, and the engine inspector's per-layer report beside the engine."""
import json
import os
import time
from typing import Any, Dict, List, Optional, Tuple

from ...artifacts import file_sha256, require_file, write_bytes_atomic, write_json_atomic
from ...errors import ArtifactError, ConfigError
from ...jetson import board
from ...quantize import trt_cache
from ...quantize.lint import QDQ as QDQ_OPS
from ..base import PRECISIONS, Shape, TensorSpec
from .compat import (
    cache_calibrator,
    capturing_logger,
    import_tensorrt,
    last_error,
    network_flags,
    numpy_dtype,
    strongly_typed_only,
)
from .runner import environment


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
    entry: Dict[str, Any] = {"name": layer.get("Name"), "type": layer.get("LayerType")}
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
    lines: List[str] = []
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
    placement: Dict[str, int] = {}
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
                assert cache is not None  # implicit-cache mode is chosen only with a cache
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
        if timing is not None and timing_cache:
            write_bytes_atomic(timing_cache, bytes(config.get_timing_cache().serialize()))
        if report_path:
            try:
                engine = trt.Runtime(logger).deserialize_cuda_engine(bytes(serialized))
                facts: Dict[str, Any] = {"engine": os.path.basename(engine_path), "tensorrt_version": trt.__version__,
                         "precision": enabled, "dla_core": dla_core}
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
    record: Dict[str, object] = {
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
    }
    if int8_mode:
        record["int8_mode"] = int8_mode
    if int8_mode == "implicit-cache" and cache is not None and calibration_cache is not None:
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
