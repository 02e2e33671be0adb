"""The two INT8 models from the same ranges: TensorRT's s8/s8 Q/DQ model, placed as TensorRT fuses (see
`placement`), and ONNX Runtime's u8/s8 one."""
import copy
import warnings
from typing import Any, Dict, List, Optional, Sequence

from ..errors import ConfigError
from . import collectors, placement
from .lint import WEIGHTED as TRT_WEIGHTED
from .onnx_model import OP_TYPES, import_onnx, import_quantization, load_model, ort_version
from .ort_compat import check_deconvolution_axis, int32_bias_overflow, tensors_data
from .trt_cache import Ranges

WEIGHT_SCALES = ("channel", "tensor")  # one scale per output channel (default), or per weight tensor
# non-weighted ops TensorRT runs in INT8 when their inputs come through Q/DQ (its "quantizable operators"):
# the pooling of squeeze-excitation and attention blocks, their gating Mul, and the decoders' Resize
TRT_QUANTIZABLE = ("GlobalAveragePool", "AveragePool", "Mul", "Resize")
TRT_OP_TYPES = TRT_WEIGHTED + TRT_QUANTIZABLE  # what the TensorRT model quantizes
TARGETS: Dict[str, Dict[str, Any]] = {
    # TensorRT explicit INT8: what its ONNX parser takes (int8 only, zero points 0, 3-input Q/DQ) and
    # what NVIDIA's QAT toolkit writes: Q/DQ in front of Conv inputs only (no output Q/DQ: the next
    # layer's input Q/DQ quantizes there), a dedicated pair per consumer, float weights with their
    # own Q/DQ pair, biases left in float (TensorRT refuses an int32 bias behind a DequantizeLinear).
    "tensorrt": {
        "activation": "QInt8",
        "op_types": TRT_OP_TYPES,
        "extra": {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                  "AddQDQPairToWeight": True, "DedicatedQDQPair": True,
                  "OpTypesToExcludeOutputQuantization": list(TRT_OP_TYPES)},
        "record": {"format": "QDQ", "activations": "int8 symmetric (zero point 0)",
                   "weights": "int8 symmetric per-channel (float weights -> Q -> DQ)", "per_channel": True,
                   "bias": "float", "target": "TensorRT explicit INT8 (BuilderFlag.INT8 with Q/DQ)"},
    },
    # ONNX Runtime CPU: uint8 activations, int8 weights; fuses to QLinearConv (measured 0.67x FP32).
    "onnxruntime": {
        "activation": "QUInt8",
        "op_types": OP_TYPES,
        "extra": {"WeightSymmetric": True},
        "record": {"format": "QDQ", "activations": "uint8 asymmetric", "weights": "int8 symmetric per-channel",
                   "per_channel": True, "bias": "int32", "target": "ONNX Runtime CPU (QLinearConv)"},
    },
}


def quantize_model(onnx_path: str, ranges: Ranges, output: str, target: str = "tensorrt",
                   nodes_to_exclude: Sequence[str] = (), op_types: Optional[Sequence[str]] = None,
                   method: str = "minmax", per_channel: bool = True) -> Dict[str, Any]:
    """Quantize `onnx_path` into the file `output` (a pending artifact's, which the caller commits) with
    precomputed `ranges`, for `target` "tensorrt" (int8 symmetric QDQ, placed as TensorRT fuses: see
    `placement`) or "onnxruntime" (uint8/int8 QDQ). `op_types` defaults to the target's;
    weights are quantized per output channel unless `per_channel` is False (one scale per tensor). Nodes
    named in `nodes_to_exclude` stay float. Returns what was done (for the sidecar)."""
    onnx = import_onnx()
    quantization = import_quantization()
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer

    if target not in TARGETS:
        raise ConfigError("quantization target {!r} is not one of {}".format(target, ", ".join(TARGETS)))
    settings = TARGETS[target]
    op_types = tuple(op_types or settings["op_types"])
    model = load_model(onnx_path)
    opsets = {o.domain: o.version for o in model.opset_import}
    known = {node.name for node in model.graph.node}
    unknown = [n for n in nodes_to_exclude if n not in known]
    if unknown:
        raise ConfigError("{}: no node named {} to exclude from quantization".format(
            onnx_path, ", ".join(repr(n) for n in unknown[:5])))
    excluded = list(nodes_to_exclude)
    weighted = [op for op in op_types if op in TRT_WEIGHTED]
    image_layers: List[str] = []
    if target == "tensorrt":  # int8 symmetric cannot hold the image: the layers reading it stay float
        image_layers = [n for n in placement.image_layers(model.graph, weighted) if n not in excluded]
        excluded += image_layers
    extra = copy.deepcopy(settings["extra"])
    if target == "tensorrt":  # TensorRT's deconvolution kernels take no per-output-channel weight scales, ONNX
        # Runtime's default for ConvTranspose, and compute wrong with them (NVIDIA/TensorRT#1694, #2380): one scale
        # per kernel (per input channel, axis 0, trips ONNX Runtime's int32-bias check when the layer has a bias)
        initializers = {t.name for t in model.graph.initializer}
        extra["TensorQuantOverrides"] = {n.input[1]: [{"symmetric": True}] for n in model.graph.node
                                         if n.op_type == "ConvTranspose" and len(n.input) > 1
                                         and n.input[1] in initializers}
    overflowed: List[str] = []
    while True:
        arguments = collectors.kwargs_for(QDQQuantizer.__init__, {
            "model": copy.deepcopy(model), "per_channel": per_channel, "reduce_range": False,
            "mode": quantization.QuantizationMode.QLinearOps, "static": True,  # ORT < 1.17 wants these
            "weight_qType": quantization.QuantType.QInt8,
            "activation_qType": getattr(quantization.QuantType, settings["activation"]),
            "tensors_range": tensors_data(ranges, method), "nodes_to_quantize": [],
            "nodes_to_exclude": list(excluded), "op_types_to_quantize": list(op_types),
            "extra_options": copy.deepcopy(extra)})
        quantizer = QDQQuantizer(**arguments)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ORT < 1.20 casts overflowing biases silently
            quantized = quantizer.quantize_model()
        # ONNX Runtime before 1.20 does not widen weight scales when input scale x weight scale is too
        # small for an int32 bias (a near-constant input): the bias wraps to -2^31 and the layer's output
        # is garbage. Keep such layers float (once; newer versions never get here).
        overflow = [name for name in int32_bias_overflow(quantized, op_types) if name not in excluded]
        if not overflow or overflowed:
            break
        overflowed, excluded = overflow, excluded + overflow
    if target == "tensorrt":
        check_deconvolution_axis(quantized, onnx_path)
    tail = placement.tail_nodes(quantized.graph, weighted)
    branches: List[str] = []
    float_inputs: List[str] = []
    if target == "tensorrt":
        branches = placement.quantize_residual_branches(quantized, ranges, weighted, excluded)
        float_inputs = placement.quantize_float_inputs(quantized, ranges, weighted, excluded, tail)
    kept_float = placement.give_float_inputs(quantized, placement.position_nodes(quantized.graph) | tail)
    # Leave the graph as a plain ONNX model: no quantizer bookkeeping, the original opsets.
    props = [p for p in quantized.metadata_props if p.key != "onnx.infer"]
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(props)
    # The quantizer raises the opset only for types int8 does not use (16-bit, 4-bit, float8); should a
    # version do it anyway, put back the model's own opset (TensorRT 8.5 parses up to 17) when that
    # still allows per-channel Q/DQ (13+), else refuse; and drop domains no node uses.
    used = {node.domain for node in quantized.graph.node}
    for entry in list(quantized.opset_import):
        if entry.domain in ("", "ai.onnx") and entry.version != opsets.get(entry.domain, entry.version):
            if opsets[entry.domain] < 13:
                raise ConfigError("{}: opset {} is too old for per-channel INT8 (13+); re-export it at opset 17".format(
                    onnx_path, opsets[entry.domain]))
            entry.version = opsets[entry.domain]
        elif entry.domain not in ("", "ai.onnx") and entry.domain not in opsets and entry.domain not in used:
            quantized.opset_import.remove(entry)
    quantizer.model.save_model_to_file(output, False)
    final = onnx.load(output, load_external_data=False)
    dequantized = {n.output[0] for n in final.graph.node if n.op_type == "DequantizeLinear"}
    int8_nodes = [n.name for n in final.graph.node if n.op_type in weighted and n.input and n.input[0] in dequantized]
    float_nodes = [n.name for n in final.graph.node if n.op_type in weighted and n.name not in set(int8_nodes)]
    others = [n.name for n in final.graph.node if n.op_type in op_types and n.op_type not in weighted
              and n.input and n.input[0] in dequantized]
    record = dict(settings["record"])
    if not per_channel:
        record.update(per_channel=False, weights=record["weights"].replace("per-channel", "per-tensor"))
    record.update({
        "op_types": list(op_types), "method": method, "excluded_nodes": list(nodes_to_exclude),
        "float_for_int32_bias_overflow": overflowed, "residual_branches_quantized": len(branches),
        "float_inputs_quantized": len(float_inputs),
        "float_inputs_kept": kept_float, "float_image_layers": image_layers,
        "quantized_nodes": len(int8_nodes), "float_nodes": float_nodes, "quantized_other_nodes": len(others),
        "opset": {o.domain or "ai.onnx": o.version for o in final.opset_import},
        "domains": sorted({n.domain or "ai.onnx" for n in final.graph.node}),
        "onnxruntime": ort_version(),
    })
    return record
