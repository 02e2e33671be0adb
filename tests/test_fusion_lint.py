"""The static fusion lint on Q/DQ graphs whose INT8 layers, fused Adds and float islands are known by
construction, and on a real TensorRT Q/DQ model that `edgeseg calibrate` wrote."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeseg import calibrate as cal
from edgeseg.fusion_lint import lint, summary_line
from edgeseg.probe_model import write_probe_dataset

from conftest import PROBE_SIZE

C = 4


def qdq(name, tensor, nodes, inits):
    """tensor -> QuantizeLinear -> DequantizeLinear; returns the dequantized name."""
    inits.append(numpy_helper.from_array(np.array(0.05, np.float32), name + "_s"))
    inits.append(numpy_helper.from_array(np.array(0, np.int8), name + "_z"))
    nodes.append(helper.make_node("QuantizeLinear", [tensor, name + "_s", name + "_z"], [name + "_q"], name=name + "_Q"))
    nodes.append(helper.make_node("DequantizeLinear", [name + "_q", name + "_s", name + "_z"], [name + "_dq"],
                                  name=name + "_DQ"))
    return name + "_dq"


def conv(name, tensor, nodes, inits, quantize_input=True, quantize_weights=True):
    inits.append(numpy_helper.from_array(np.random.RandomState(len(inits)).randn(C, C, 1, 1).astype(np.float32),
                                         name + "_w"))
    data = qdq(name + "_in", tensor, nodes, inits) if quantize_input else tensor
    weights = qdq(name + "_wq", name + "_w", nodes, inits) if quantize_weights else name + "_w"
    nodes.append(helper.make_node("Conv", [data, weights], [name + "_out"], name=name))
    return name + "_out"


def model(nodes, inits, output):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, 8, 8])],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, C, 8, 8])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    return m


def residual_block(branch_quantized):
    """conv1 -> Relu -> conv2 (+ x, the residual) -> Relu -> Sigmoid -> Mul(own input) -> conv3."""
    nodes, inits = [], []
    a = conv("conv1", "x", nodes, inits)
    nodes.append(helper.make_node("Relu", [a], ["r1"], name="relu1"))
    b = conv("conv2", "r1", nodes, inits)
    branch = qdq("skip", "x", nodes, inits) if branch_quantized else "x"
    nodes.append(helper.make_node("Add", [b, branch], ["sum"], name="add"))
    nodes.append(helper.make_node("Relu", ["sum"], ["r2"], name="relu2"))
    nodes.append(helper.make_node("Sigmoid", ["r2"], ["gate"], name="gate"))  # r2 has two consumers: no fusion
    nodes.append(helper.make_node("Mul", ["r2", "gate"], ["gated"], name="mul"))
    out = conv("conv3", "gated", nodes, inits)
    return model(nodes, inits, out)


def test_a_quantized_residual_branch_fuses_and_what_is_left_is_one_island():
    report = lint(residual_block(branch_quantized=True))
    assert report["int8_layers"] == 3 and report["weighted_not_int8"] == []
    assert report["adds_after_weighted"] == [{"node": "add", "weighted": "conv2", "branch": "skip_dq",
                                              "branch_quantized": True}]
    # add (fused into conv2) -> relu2 (its epilogue); the Sigmoid/Mul gate between INT8 layers stays float
    assert report["float_islands"] == 1 and report["islands"][0]["nodes"] == ["gate", "mul"]
    assert "3 of 3 weighted layers INT8; 1 of 1 Adds" in summary_line(report)


def test_an_unquantized_branch_leaves_the_add_in_float():
    report = lint(residual_block(branch_quantized=False))
    assert report["adds_with_branch_quantized"] == 0 and not report["adds_after_weighted"][0]["branch_quantized"]
    assert report["float_islands"] == 1 and report["islands"][0]["nodes"] == ["add", "gate", "mul", "relu2"]


def test_a_layer_without_quantized_weights_or_input_is_not_int8():
    nodes, inits = [], []
    a = conv("conv1", "x", nodes, inits)
    b = conv("conv2", a, nodes, inits, quantize_weights=False)
    c = conv("conv3", b, nodes, inits, quantize_input=False)
    d = conv("conv4", c, nodes, inits)
    report = lint(model(nodes, inits, d))
    assert report["weighted_not_int8"] == ["conv2", "conv3"]
    assert [(r["input_quantized"], r["weights_quantized"]) for r in report["weighted_layers"]] == [
        (True, True), (True, False), (False, True), (True, True)]
    assert report["float_islands"] == 1 and report["islands"][0]["nodes"] == ["conv2", "conv3"]


def test_the_lint_of_a_real_tensorrt_qdq_model(probe_onnx, tmp_path):
    data = write_probe_dataset(str(tmp_path / "scenes"), 4, PROBE_SIZE, seed=82)
    manifest = cal.calibrate(probe_onnx, data, num=4, method="minmax", out_dir=str(tmp_path / "c"),
                             log=lambda *_: None)
    folder = cal.read_manifest(manifest["path"])
    report = lint(onnx.load(folder["outputs"]["tensorrt_qdq"]))
    assert report["int8_layers"] == 2 and report["weighted_not_int8"] == []  # blur and scores
    assert manifest["fusion_lint"]["int8_layers"] == 2  # calibrate records it
    assert manifest["fusion_lint"]["float_islands"] == report["float_islands"]
