"""A static "fusion lint" of a Q/DQ model: what TensorRT can run in INT8, standing in for its layer report.

TensorRT's explicit INT8 runs a weighted layer (Conv, ConvTranspose, Gemm, MatMul) in INT8 when its data
input and its weights come through QuantizeLinear -> DequantizeLinear; it fuses into that layer the
pointwise activations right after it (Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh) and a
residual Add whose other input (the branch) is quantized too (TensorRT developer guide, "Q/DQ layer
placement"; NVIDIA/TensorRT#1992); it runs a non-weighted op (pooling, element-wise, Resize...) in INT8
when every activation input comes through Q/DQ ("quantizable operators"); and it moves a QuantizeLinear
backward across a MaxPool, which then runs in INT8. What is left between INT8 layers runs in FP16/FP32, with reformat
layers around it: a float island. This lint reports, from the graph alone:
- per weighted layer, whether its input and its weights are quantized;
- per Add fed by a weighted layer, whether the other branch is quantized (Conv+Add fuse in INT8);
- the float islands between INT8 layers: how many, their sizes (nodes) and op types.
It reads the ONNX graph only (the `onnx` package), and needs no TensorRT. `scripts/jetson_selftest.sh`
compares it with the engine inspector's real per-layer precisions where TensorRT exists.
"""
from typing import Any, Dict, List, Set

WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
EPILOGUES = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "BatchNormalization")
QDQ = ("QuantizeLinear", "DequantizeLinear")
COMMUTING = ("MaxPool",)  # TensorRT moves Q backward and DQ forward across these
SHAPE_OPS = ("Shape", "Constant", "ConstantOfShape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice",
             "Range", "Reshape")  # ops that, fed only by initializers or shapes, compute no activation


def lint(model: Any) -> Dict[str, Any]:
    """The lint of an onnx.ModelProto (see the module docstring); nodes without a name are named after
    their first output in a copy."""
    if any(not node.name for node in model.graph.node):
        model = type(model).FromString(model.SerializeToString())
        for node in model.graph.node:
            node.name = node.name or "{}:{}".format(node.op_type, node.output[0] if node.output else "")
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: Dict[str, List[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def dequantized(name: str) -> bool:
        node = producer.get(name)
        return node is not None and node.op_type == "DequantizeLinear"

    shape_nodes: Set[str] = set()  # Shape and what computes on shapes only: not activations
    for node in graph.node:
        feeds = [producer.get(name) for name in node.input if name and name not in initializers]
        if node.op_type == "Shape" or (node.op_type in SHAPE_OPS and feeds and
                                       all(f is not None and f.name in shape_nodes for f in feeds)):
            shape_nodes.add(node.name)

    known: Dict[str, bool] = {}

    def constant(name: str) -> bool:
        """An initializer, or computed from initializers only (shape arithmetic, a Q/DQ'd weight)."""
        if name not in known:
            known[name] = _computed_from_constants(name)
        return known[name]

    def _computed_from_constants(name: str) -> bool:
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current in seen or current in initializers or not current:
                continue
            seen.add(current)
            node = producer.get(current)
            if node is not None and node.name in shape_nodes:
                continue
            if node is None or node.op_type not in SHAPE_OPS + QDQ:
                return False
            todo.extend(node.input)
        return True

    layers = []
    int8: Set[str] = set()
    for node in graph.node:
        if node.op_type not in WEIGHTED or len(node.input) < 2:
            continue
        entry = {"node": node.name, "op": node.op_type, "input_quantized": dequantized(node.input[0]),
                 "weights_quantized": dequantized(node.input[1])}
        layers.append(entry)
        if entry["input_quantized"] and entry["weights_quantized"]:
            int8.add(node.name)
    fused = set(int8)  # INT8 layers and what fuses into them
    adds = []
    for node in graph.node:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        sources = [producer.get(name) for name in node.input]
        for index, source in enumerate(sources):
            if source is not None and source.op_type in WEIGHTED and not constant(node.input[1 - index]):
                branch = node.input[1 - index]
                entry = {"node": node.name, "weighted": source.name, "branch": branch,
                         "branch_quantized": dequantized(branch)}
                adds.append(entry)
                if entry["branch_quantized"] and source.name in int8:
                    fused.add(node.name)
                break
    for node in graph.node:  # a quantizable op (pooling, element-wise...) whose every activation input is quantized
        activations = [name for name in node.input if name and not constant(name)]
        if node.op_type not in WEIGHTED + QDQ and activations and all(dequantized(name) for name in activations):
            fused.add(node.name)
    for node in graph.node:  # a MaxPool whose output is only quantized runs INT8: Q propagates backward across it
        if node.op_type in COMMUTING and node.output and consumers.get(node.output[0]) and \
                all(c.op_type == "QuantizeLinear" for c in consumers[node.output[0]]):
            fused.add(node.name)
    for node in graph.node:  # pointwise epilogues right after an INT8 layer (single consumer chains)
        source = producer.get(node.input[0]) if node.input else None
        if node.op_type in EPILOGUES and source is not None and source.name in fused and \
                len(consumers.get(node.input[0], [])) == 1:
            fused.add(node.name)
    islands = _islands(graph, producer, consumers, fused, int8, constant)
    return {
        "weighted_layers": layers,
        "int8_layers": len(int8),
        "weighted_not_int8": [r["node"] for r in layers if r["node"] not in int8],
        "adds_after_weighted": adds,
        "adds_with_branch_quantized": sum(r["branch_quantized"] for r in adds),
        "float_islands": len(islands),
        "float_island_nodes": sum(len(i["nodes"]) for i in islands),
        "islands": islands,
    }


def _islands(graph: Any, producer: Dict[str, Any], consumers: Dict[str, List[Any]], fused: Set[str],
             int8: Set[str], constant: Any) -> List[Dict[str, Any]]:
    """Connected groups of float compute nodes that an INT8 layer feeds and that feed an INT8 layer."""
    float_nodes = {node.name: node for node in graph.node
                   if node.name not in fused and node.op_type not in QDQ and node.op_type != "Shape"
                   and not all(constant(name) for name in node.input if name)}

    def neighbours(node: Any) -> List[Any]:
        found = [producer[name] for name in node.input if name in producer]
        found += [c for name in node.output for c in consumers.get(name, [])]
        return [n for n in found if n.name in float_nodes]

    def touches(group: List[Any], downstream: bool) -> bool:
        """Whether an INT8 layer feeds the group (upstream, through DQ/Q or directly) or is fed by it."""
        for node in group:
            todo = list(node.output) if downstream else list(node.input)
            seen: Set[str] = set()
            while todo:
                name = todo.pop()
                if name in seen:
                    continue
                seen.add(name)
                nexts = consumers.get(name, []) if downstream else [producer[name]] if name in producer else []
                for other in nexts:
                    if other.name in int8 or (other.name in fused and other.name not in float_nodes):
                        return True
                    if other.op_type in QDQ:
                        todo.extend(other.output if downstream else other.input)
        return False

    islands: List[Dict[str, Any]] = []
    assigned: Set[str] = set()
    for name, node in float_nodes.items():
        if name in assigned:
            continue
        group, todo = [], [node]
        while todo:
            current = todo.pop()
            if current.name in assigned:
                continue
            assigned.add(current.name)
            group.append(current)
            todo.extend(neighbours(current))
        if touches(group, downstream=False) and touches(group, downstream=True):
            islands.append({"nodes": sorted(n.name for n in group), "ops": sorted({n.op_type for n in group})})
    return sorted(islands, key=lambda island: -len(island["nodes"]))


def summary_line(report: Dict[str, Any]) -> str:
    """One line for the console."""
    layers = report["weighted_layers"]
    return ("fusion lint: {} of {} weighted layers INT8; {} of {} Adds after a weighted layer with the branch "
            "quantized; {} float island(s) between INT8 layers ({} nodes{})".format(
                report["int8_layers"], len(layers), report["adds_with_branch_quantized"],
                len(report["adds_after_weighted"]), report["float_islands"], report["float_island_nodes"],
                ", largest {}".format(len(report["islands"][0]["nodes"])) if report["islands"] else ""))


def record(report: Dict[str, Any], islands: int = 5) -> Dict[str, Any]:
    """What a manifest keeps of a lint: the counts and the largest islands."""
    return {"int8_layers": report["int8_layers"], "weighted_layers": len(report["weighted_layers"]),
            "weighted_not_int8": report["weighted_not_int8"],
            "adds_after_weighted": len(report["adds_after_weighted"]),
            "adds_with_branch_quantized": report["adds_with_branch_quantized"],
            "float_islands": report["float_islands"], "float_island_nodes": report["float_island_nodes"],
            "largest_islands": report["islands"][:islands]}
