"""Where the TensorRT INT8 model's Q/DQ pairs go beyond what ONNX Runtime's quantizer places, and which inputs
both INT8 models keep in float: the rules of docs/int8_placement.md that edit the quantized graph in place."""
from typing import Any, Dict, List, Sequence, Set

import numpy as np

from . import trt_cache
from .lint import QDQ
from .trt_cache import Ranges


class QdqInserter(object):
    """Puts int8 symmetric Q/DQ pairs (zero point 0, scale max(|min|, |max|) / 127 of the tensor's calibrated range,
    as in TensorRT's calibration cache) in front of chosen node inputs, all at once in `apply()`."""

    def __init__(self, model: Any, ranges: Ranges) -> None:
        self.graph = model.graph
        self.scales = trt_cache.scales_from_ranges(ranges)
        self.before: Dict[str, List[Any]] = {}  # node name -> the Q, DQ nodes to put in front of it

    def quantizable(self, tensor: str, producer: Dict[str, Any], initializers: Set[str]) -> bool:
        """An activation with a calibrated range that does not already come through a DequantizeLinear."""
        feeder = producer.get(tensor)
        return tensor not in initializers and tensor in self.scales and \
            not (feeder is not None and feeder.op_type in ("DequantizeLinear", "Constant"))

    def quantize_input(self, node: Any, index: int, stem: str) -> None:
        from onnx import helper, numpy_helper

        tensor = node.input[index]
        self.graph.initializer.extend([
            numpy_helper.from_array(np.array(self.scales[tensor], np.float32), stem + "_scale"),
            numpy_helper.from_array(np.array(0, np.int8), stem + "_zero_point")])
        self.before.setdefault(node.name, []).extend([
            helper.make_node("QuantizeLinear", [tensor, stem + "_scale", stem + "_zero_point"], [stem + "_quantized"],
                             name=stem + "_QuantizeLinear"),
            helper.make_node("DequantizeLinear", [stem + "_quantized", stem + "_scale", stem + "_zero_point"],
                             [stem + "_dequantized"], name=stem + "_DequantizeLinear")])
        node.input[index] = stem + "_dequantized"

    def apply(self) -> List[str]:
        """Insert the pairs (each right before its node, so the graph stays sorted); the nodes changed."""
        nodes = [new for node in self.graph.node for new in self.before.get(node.name, []) + [node]]
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        return sorted(self.before)


def quantize_residual_branches(model: Any, ranges: Ranges, op_types: Sequence[str],
                                excluded: Sequence[str]) -> List[str]:
    """TensorRT fuses a quantized weighted layer and the Add that takes its output into one INT8 kernel
    only when the Add's other input (the residual branch) comes through Q/DQ too (developer guide, "Q/DQ
    layer placement"; NVIDIA/TensorRT#1992); otherwise the Add runs in float between reformats. Put an
    int8 Q/DQ pair on each such branch, in place. Returns the Adds whose branch it quantized."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    initializers = {t.name for t in graph.initializer}
    inserter = QdqInserter(model, ranges)
    for node in graph.node:
        if node.op_type != "Add" or len(node.input) != 2 or node.name in excluded:
            continue
        for index in (0, 1):
            source = producer.get(node.input[index])
            if source is None or source.op_type not in op_types:
                continue
            data = producer.get(source.input[0])
            if data is not None and data.op_type == "DequantizeLinear" and \
                    inserter.quantizable(node.input[1 - index], producer, initializers):
                inserter.quantize_input(node, 1 - index, "{}_branch".format(node.name or node.input[1 - index]))
            break
    return inserter.apply()


# non-weighted ops TensorRT runs in INT8 when their data inputs come through Q/DQ, and which of their inputs
# are data (the rest: Resize's roi/scales/sizes, ReduceMean's axes)
TRT_INPUT_QUANTIZED = {"GlobalAveragePool": (0,), "AveragePool": (0,), "ReduceMean": (0,), "Resize": (0,),
                       "Mul": (0, 1), "Add": (0, 1)}


def quantize_float_inputs(model: Any, ranges: Ranges, weighted: Sequence[str], excluded: Sequence[str],
                           tail: Set[str]) -> List[str]:
    """Rule 4 where ONNX Runtime's quantizer stops: it quantizes a pooling, Resize or Mul input only when that
    tensor is quantized already, so one fed by a weighted layer's output (which TensorRT quantizes by fusing
    the Q into that layer) stays float, as do ReduceMean and Adds of two non-weighted branches (attention
    blocks). Put an int8 Q/DQ pair on each such data input, in place, as ModelOpt does. An Add with a
    weighted layer's output is left to the residual rule (TensorRT fuses it into that layer); nodes in
    `excluded`, and those in `tail` (after the last weighted layers: the logits' upsampling before ArgMax;
    int8 logits make argmax ties, 1.2% to 4.5% of BiSeNetV2's pixels changed), stay float. Returns the
    nodes changed."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    initializers = {t.name for t in graph.initializer}
    inserter = QdqInserter(model, ranges)
    for node in graph.node:
        inputs = TRT_INPUT_QUANTIZED.get(node.op_type, ())
        if not inputs or node.name in excluded or node.name in tail or (node.op_type == "Add" and any(
                producer.get(name) is not None and producer[name].op_type in weighted for name in node.input)):
            continue
        for index in inputs:
            if index < len(node.input) and inserter.quantizable(node.input[index], producer, initializers):
                inserter.quantize_input(node, index, "{}_input{}".format(node.name or node.output[0], index))
    return inserter.apply()


# ops that carry the network's input to its first weighted layers value for value (layout, type, padding,
# crop, resize, normalization by constants)
IMAGE_PATH_OPS = ("Cast", "Transpose", "Reshape", "Identity", "Pad", "Slice", "Resize", "Sub", "Div", "Mul", "Add")


def image_layers(graph: Any, weighted: Sequence[str]) -> List[str]:
    """Weighted layers that read the network's input: directly, or through ops that only re-lay it out,
    cast, pad, crop, resize or normalize it with constants. int8 symmetric cannot hold an 8-bit image: an
    input scaled to [0, 1] gets 127 steps for 256 values (two pixel values per step), one normalized by
    ImageNet's mean and std about 1.2 pixel values a step; the TensorRT model keeps these layers float (FP16
    in the engine), which costs little: a 3-channel convolution is a sliver of the network's work and gains
    little from INT8. On ENet CamVid it took the pixels changed from 1.48% to 1.38%."""
    initializers = {t.name for t in graph.initializer}
    constants = initializers | {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    consumers: Dict[str, List[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found: List[str] = []
    seen: Set[str] = set()
    pending = [tensor.name for tensor in graph.input if tensor.name not in initializers]
    while pending:
        tensor = pending.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        for node in consumers.get(tensor, []):
            if node.op_type in weighted:
                if node.input[0] == tensor and node.name not in found:
                    found.append(node.name)
            elif node.op_type in IMAGE_PATH_OPS and all(
                    name in constants or name == tensor or not name for name in node.input):
                pending.extend(node.output[:1])
    return found


INDEX_OPS = ("MaxPool", "ArgMax", "ArgMin", "TopK")  # ops whose output can name positions


def position_nodes(graph: Any) -> Set[str]:
    """Nodes that output positions: MaxPool with its indices (for MaxUnpool), ArgMax, ArgMin, TopK."""
    return {node.name for node in graph.node if node.op_type in INDEX_OPS and
            (node.op_type != "MaxPool" or (len(node.output) > 1 and bool(node.output[1])))}


def tail_nodes(graph: Any, weighted: Sequence[str]) -> Set[str]:
    """Nodes between the last weighted layers and the graph's outputs: the logits' upsampling, ArgMax."""
    producer = {out: node for node in graph.node for out in node.output}
    tail: Set[str] = set()
    pending: List[str] = [output.name for output in graph.output]
    while pending:
        source = producer.get(pending.pop())
        if source is not None and source.op_type not in weighted and source.name not in tail:
            tail.add(source.name)
            pending.extend(source.input)
    return tail


def give_float_inputs(model: Any, names: Set[str]) -> List[str]:
    """Feed the nodes named in `names` the float tensors where the quantizer gave them an activation's Q/DQ
    output, in place; Q/DQ pairs left without a consumer go, with their scales and zero points. Returns the
    nodes changed. For positions (rounding makes ties, ties move the indices: ENet's and SegNet's unpooled
    values land elsewhere, an argmax changes class) and the logits after the last weighted layers."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    initializers = {t.name for t in graph.initializer}
    changed = []
    for node in graph.node:
        if node.name not in names:
            continue
        for index, name in enumerate(node.input):
            dequantize = producer.get(name)
            quantize = producer.get(dequantize.input[0]) if dequantize is not None and \
                dequantize.op_type == "DequantizeLinear" else None
            if quantize is not None and quantize.op_type == "QuantizeLinear" and quantize.input[0] not in initializers:
                node.input[index] = quantize.input[0]
                if node.name not in changed:
                    changed.append(node.name)
    removed: Set[str] = set()  # inputs of the Q/DQ nodes dropped
    while True:
        consumed = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        unused = [n for n in graph.node if n.op_type in QDQ
                  and not any(out in consumed for out in n.output)]
        if not unused:
            break
        for node in unused:
            removed.update(node.input)
            graph.node.remove(node)
    for tensor in [t for t in graph.initializer if t.name in removed - consumed]:
        graph.initializer.remove(tensor)  # their scales and zero points
    return changed
