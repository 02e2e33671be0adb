"""What differs between ONNX Runtime versions' quantizers: the form ranges are passed in (before 1.17), int32 biases
that overflow (before 1.20), and ConvTranspose weights quantized per output channel (before 1.18)."""
from typing import Any, List, Sequence

import numpy as np

from ..errors import ConfigError
from .onnx_model import ort_version
from .ranges import calibration_method
from .trt_cache import Ranges


def tensors_data(ranges: Ranges, method: str) -> Any:
    """Ranges in the form the installed ONNX Runtime's quantizer takes."""
    from onnxruntime.quantization import calibrate as calibrate_module

    if hasattr(calibrate_module, "TensorsData") and hasattr(calibrate_module, "TensorData"):
        data = {name: calibrate_module.TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32))
                for name, (lo, hi) in ranges.items()}
        return calibrate_module.TensorsData(calibration_method(method), data)
    return {name: (np.float32(lo), np.float32(hi)) for name, (lo, hi) in ranges.items()}  # ORT < 1.17


def int32_bias_overflow(model: Any, op_types: Sequence[str]) -> List[str]:
    """Nodes whose int32-quantized bias hit the int32 limits (an overflow, not a value)."""
    from onnx import numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    dequantized = {node.output[0]: node for node in model.graph.node if node.op_type == "DequantizeLinear"}
    limits = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)
    bad = []
    for node in model.graph.node:
        if node.op_type not in op_types or len(node.input) < 3 or node.input[2] not in dequantized:
            continue
        source = initializers.get(dequantized[node.input[2]].input[0])
        if source is not None and source.data_type == 6:  # TensorProto.INT32
            values = numpy_helper.to_array(source)
            if values.size and (values.min() <= limits[0] or values.max() >= limits[1]):
                bad.append(node.name)
    return bad


def check_deconvolution_axis(model: Any, onnx_path: str) -> None:
    """ConfigError when a ConvTranspose's weights are quantized per output channel (an onnxruntime without
    TensorQuantOverrides): TensorRT would compute that layer wrong."""
    producer = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        dequantize = producer.get(node.input[1]) if node.op_type == "ConvTranspose" and len(node.input) > 1 else None
        per_channel = dequantize is not None and dequantize.op_type == "DequantizeLinear" and \
            _scale_size(model, dequantize.input[1]) > 1
        axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1) if per_channel and dequantize else 0
        if axis != 0:
            raise ConfigError("{}: this onnxruntime ({}) quantizes ConvTranspose {} per output channel, which TensorRT "
                              "computes wrong; upgrade onnxruntime (1.18 or newer)".format(
                                  onnx_path, ort_version(), node.name))


def _scale_size(model: Any, name: str) -> int:
    """How many values the initializer `name` holds (1 for a per-tensor scale)."""
    for tensor in model.graph.initializer:
        if tensor.name == name:
            return int(np.prod(tensor.dims)) if tensor.dims else 1
    return 1
