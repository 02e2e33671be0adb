"""The static fusion lint on Q/DQ graphs whose INT8 layers, fused Adds and float islands are known by
construction, and on a real TensorRT Q/DQ model that `edgeseg calibrate` wrote."""
import os

import numpy as np
import onnx
import pytest
from conftest import PROBE_SIZE
from onnx import TensorProto, helper, numpy_helper

from edgeseg import quantize as cal
from edgeseg.artifacts import read_sidecar
from edgeseg.errors import ConfigError
from edgeseg.probe_model import write_probe_dataset
from edgeseg.quantize.lint import lint, summary_line

C = 4


def qdq(name, tensor, nodes, inits):
    """tensor -> QuantizeLinear -> DequantizeLinear; returns the dequantized name."""
    inits.append(numpy_helper.from_array(np.array(0.05, np.float32), name + "_s"))
    inits.append(numpy_helper.from_array(np.array(0, np.int8), name + "_z"))
    nodes.append(helper.make_node("QuantizeLinear", [tensor, name + "_s", name + "_z"], [name + "_q"],
                                  name=name + "_Q"))
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
    assert report["int8_layers"] == 1 and report["weighted_not_int8"] == ["blur"]  # blur reads the image: float
    assert manifest["fusion_lint"]["int8_layers"] == 1  # calibrate records it
    assert manifest["fusion_lint"]["float_islands"] == report["float_islands"]


def minmax_ranges(path, batches):
    """calibrate.compute_ranges over `batches` fed to input "x"."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"x": b} for b in batches])

        def get_next(self):
            return next(self.items, None)

        def __len__(self):
            return len(batches)

    return cal.compute_ranges(path, Reader(), method="minmax")


def residual_float_model(path):
    """x -> Conv -> Relu -> Conv (+ Tanh(x)) -> Relu -> ConvTranspose (stride 2): a residual block whose branch
    nothing else quantizes (ONNX Runtime's quantizer reuses a quantized tensor's DequantizeLinear for an Add),
    and an upsampler."""
    rng = np.random.RandomState(7)
    inits = [numpy_helper.from_array(rng.randn(C, C, 3, 3).astype(np.float32) * 0.3, "w1"),
             numpy_helper.from_array(rng.randn(C, C, 3, 3).astype(np.float32) * 0.3, "w2"),
             numpy_helper.from_array(rng.randn(C, C, 2, 2).astype(np.float32) * 0.3, "w3")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Tanh", ["x"], ["t"], name="tanh"),
             helper.make_node("Add", ["c2", "t"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["r2"], name="relu2"),
             helper.make_node("ConvTranspose", ["r2", "w3"], ["y"], name="up", strides=[2, 2])]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, C, 16, 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def test_tensorrt_placement_quantizes_residual_branches_and_deconvolutions(tmp_path):
    """The TensorRT model gets Q/DQ on the Add's residual branch (scale = the branch's range / 127, as
    TensorRT's) and on ConvTranspose; the lint then finds no float island; the graph still runs and stays
    close to FP32. ONNX Runtime's model keeps its own placement."""
    import onnxruntime as ort

    path = residual_float_model(tmp_path / "residual.onnx")
    rng = np.random.RandomState(8)
    batches = [rng.randn(1, C, 8, 8).astype(np.float32) for _ in range(6)]
    ranges = minmax_ranges(path, batches)
    out = str(tmp_path / "trt.onnx")
    record = cal.quantize_model(path, ranges, out, target="tensorrt")
    assert record["residual_branches_quantized"] == 1 and "ConvTranspose" in record["op_types"]
    model = onnx.load(out)
    report = lint(model)
    assert report["int8_layers"] == 2 and report["weighted_not_int8"] == ["conv1"]  # conv2, the deconvolution; conv1
    # reads the network's input and stays float
    assert report["adds_with_branch_quantized"] == 1 and report["float_islands"] == 0  # tanh feeds no INT8 layer
    deconvolution_weights = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] ==
                                 "w3_QuantizeLinear_Output")
    deconvolution_scale = next(t for t in model.graph.initializer if t.name == deconvolution_weights.input[1])
    assert list(deconvolution_scale.dims) == []  # one scale per kernel: TensorRT takes no per-output-channel ones
    branch_q = next(n for n in model.graph.node if n.name == "add_branch_QuantizeLinear")
    scale = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == branch_q.input[1]))
    low, high = ranges["t"]
    assert scale == np.float32(np.float32(max(-low, high)) / np.float32(127))
    fp32 = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    int8 = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    reference, quantized = fp32.run(None, {"x": batches[0]})[0], int8.run(None, {"x": batches[0]})[0]
    assert np.abs(reference - quantized).max() < 0.1 * np.abs(reference).max()
    ort_model = str(tmp_path / "ort.onnx")
    record = cal.quantize_model(path, ranges, ort_model, target="onnxruntime")
    assert record["residual_branches_quantized"] == 0 and "ConvTranspose" not in record["op_types"]


def test_weights_per_tensor_on_request(probe_onnx, tmp_path):
    """quantize_from_ranges(per_channel=False): one scale per weight tensor in both models, said so in the sidecar."""
    data = write_probe_dataset(str(tmp_path / "scenes"), 4, PROBE_SIZE, seed=83)
    manifest = cal.calibrate(probe_onnx, data, num=4, method="minmax", out_dir=str(tmp_path / "c"), log=lambda *_: None)
    ranges, _ = cal.load_ranges(os.path.join(os.path.dirname(manifest["path"]), "ranges.json"), probe_onnx)
    paths = [str(tmp_path / "t.onnx"), str(tmp_path / "o.onnx")]
    sidecars = cal.quantize_from_ranges(probe_onnx, ranges, paths[0], paths[1], method="minmax", log=lambda *_: None,
                                        per_channel=False)
    assert sidecars["tensorrt"]["quantization"]["per_channel"] is False
    assert "per-tensor" in sidecars["onnxruntime"]["quantization"]["weights"]
    for path in paths:
        model = onnx.load(path)
        weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
        dequantize = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.output[0] in weights]
        scales = {t.name: list(t.dims) for t in model.graph.initializer}
        assert dequantize and all(scales[n.input[1]] == [] for n in dequantize), path


@pytest.mark.parametrize("quantized", [True, False])
def test_a_quantizable_op_with_quantized_inputs_runs_int8(quantized):
    """conv1 -> Relu -> (Q/DQ) -> AveragePool -> conv2: TensorRT fuses DQ -> AveragePool -> Q into an INT8 pool."""
    nodes, inits = [], []
    a = conv("conv1", "x", nodes, inits)
    nodes.append(helper.make_node("Relu", [a], ["r"], name="relu"))
    pooled_input = qdq("pool_in", "r", nodes, inits) if quantized else "r"
    nodes.append(helper.make_node("AveragePool", [pooled_input], ["p"], name="pool", kernel_shape=[3, 3],
                                  pads=[1, 1, 1, 1]))
    report = lint(model(nodes, inits, conv("conv2", "p", nodes, inits)))
    assert report["int8_layers"] == 2
    assert [i["nodes"] for i in report["islands"]] == ([] if quantized else [["pool"]])


def test_calibrate_takes_weight_scales_per_tensor_and_keeps_them_on_requantize(probe_onnx, tmp_path):
    data = write_probe_dataset(str(tmp_path / "scenes"), 4, PROBE_SIZE, seed=84)
    manifest = cal.calibrate(probe_onnx, data, num=4, method="minmax", out_dir=str(tmp_path / "c"),
                             log=lambda *_: None, weight_scales="tensor")
    assert manifest["weight_scales"] == "tensor" and "_n4_" in manifest["path"]
    default = cal.calibrate(probe_onnx, data, num=4, method="minmax", out_dir=str(tmp_path / "c"), log=lambda *_: None)
    assert os.path.dirname(default["path"]) != os.path.dirname(manifest["path"])  # another calibration, another folder
    cal.requantize(manifest["path"], ["blur"], log=lambda *_: None)
    outputs = cal.read_manifest(manifest["path"])["outputs"]
    for key in ("tensorrt_qdq", "onnxruntime_int8"):
        assert read_sidecar(outputs[key])["quantization"]["per_channel"] is False, key
    with pytest.raises(ConfigError, match="weight scales 'layer'"):
        cal.calibrate(probe_onnx, data, num=4, out_dir=str(tmp_path / "c"), log=lambda *_: None, weight_scales="layer")


def quantized_for_tensorrt(nodes, inits, stem, rng):
    """A 1 x C x 8 x 8 graph of `nodes` saved as STEM.onnx, calibrated (minmax) on 4 random batches and
    quantized for TensorRT into STEM_trt.onnx: (fp32 path, int8 path, the batches, quantize_model's record)."""
    graph = helper.make_graph(nodes, stem.name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, C, 8, 8])], inits)
    fp32 = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    fp32.ir_version = 8
    path, out = str(stem) + ".onnx", str(stem) + "_trt.onnx"
    onnx.save(fp32, path)
    batches = [rng.randn(1, C, 8, 8).astype(np.float32) for _ in range(4)]
    record = cal.quantize_model(path, minmax_ranges(path, batches), out, target="tensorrt")
    return path, out, batches, record


def test_tensorrt_placement_quantizes_a_squeeze_excitation_block(tmp_path):
    """conv -> [GlobalAveragePool -> conv -> Sigmoid] x-> Mul -> conv: the pooling and the gating Mul take
    Q/DQ inputs in the TensorRT model (TensorRT's quantizable operators), so no float island is left."""
    import onnxruntime as ort

    rng = np.random.RandomState(9)
    inits = [numpy_helper.from_array(rng.randn(C, C, 1, 1).astype(np.float32), name) for name in ("w1", "w2", "w3")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1"),
             helper.make_node("GlobalAveragePool", ["a"], ["pooled"], name="pool"),
             helper.make_node("Conv", ["pooled", "w2"], ["squeezed"], name="conv2"),
             helper.make_node("Sigmoid", ["squeezed"], ["gate"], name="sigmoid"),
             helper.make_node("Mul", ["a", "gate"], ["gated"], name="mul"),
             helper.make_node("Conv", ["gated", "w3"], ["y"], name="conv3")]
    path, out, batches, record = quantized_for_tensorrt(nodes, inits, tmp_path / "se", rng)
    assert record["quantized_nodes"] == 2 and record["quantized_other_nodes"] == 2  # the pool and the Mul
    assert record["float_image_layers"] == ["conv1"]  # it reads the network's input
    report = lint(onnx.load(out))
    assert report["int8_layers"] == 2 and report["float_islands"] == 0
    reference = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": batches[0]})[0]
    quantized = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"x": batches[0]})[0]
    assert np.abs(reference - quantized).max() < 0.1 * np.abs(reference).max()


def test_tensorrt_placement_quantizes_float_fed_pooling_and_two_branch_adds(tmp_path):
    """An AveragePool fed by a convolution's output and an Add of two non-weighted branches (attention blocks)
    are left float by ONNX Runtime's quantizer; the TensorRT model gives their inputs Q/DQ pairs, so TensorRT
    runs them in INT8 and the lint finds no float island."""
    import onnxruntime as ort

    rng = np.random.RandomState(10)
    inits = [numpy_helper.from_array(rng.randn(C, C, 1, 1).astype(np.float32), name) for name in ("w1", "w2", "w3")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1"),
             helper.make_node("AveragePool", ["a"], ["p"], name="pool", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x", "w2"], ["b"], name="conv2"),
             helper.make_node("Sigmoid", ["b"], ["s"], name="sigmoid"),
             helper.make_node("Add", ["p", "s"], ["t"], name="add"),
             helper.make_node("Conv", ["t", "w3"], ["y"], name="conv3")]
    path, out, batches, record = quantized_for_tensorrt(nodes, inits, tmp_path / "attention", rng)
    assert record["float_inputs_quantized"] == 2  # the pool and the Add
    model = onnx.load(out)
    producer = {o: n for n in model.graph.node for o in n.output}
    for node in (n for n in model.graph.node if n.name in ("pool", "add")):
        assert all(producer[name].op_type == "DequantizeLinear" for name in node.input), node.name
    report = lint(model)
    assert report["int8_layers"] == 1 and report["float_islands"] == 0  # conv1 and conv2 read the network's input
    reference = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": batches[0]})[0]
    quantized = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"x": batches[0]})[0]
    assert np.abs(reference - quantized).max() < 0.1 * np.abs(reference).max()


def image_model(path):
    """An image [0, 1] normalized by constants (Sub, Div) into a 1x1 convolution "stem" scoring class 0 by the red
    channel and class 1 by the green, -> ArgMax; and the same image through a MaxPool into a convolution "pooled"
    (a second output) that reads no image values as they are."""
    weights = np.zeros((2, 3, 1, 1), np.float32)
    weights[0, 0] = weights[1, 1] = 1.0
    inits = [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(weights.copy(), "w_pooled"),
             numpy_helper.from_array(np.zeros((1, 3, 1, 1), np.float32), "mean"),
             numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "std")]
    nodes = [helper.make_node("Sub", ["image", "mean"], ["centred"], name="sub"),
             helper.make_node("Div", ["centred", "std"], ["normalized"], name="div"),
             helper.make_node("Conv", ["normalized", "w"], ["scores"], name="stem"),
             helper.make_node("ArgMax", ["scores"], ["classes"], name="argmax", axis=1, keepdims=1),
             helper.make_node("MaxPool", ["image"], ["pooled"], name="pool", kernel_shape=[1, 1]),
             helper.make_node("Conv", ["pooled", "w_pooled"], ["pooled_scores"], name="pooled")]
    graph = helper.make_graph(nodes, "image", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                            [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("classes", TensorProto.INT64, [1, 1, 4, 4]),
                               helper.make_tensor_value_info("pooled_scores", TensorProto.FLOAT, [1, 2, 4, 4])],
                              inits)
    fp32 = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    fp32.ir_version = 8
    onnx.save(fp32, str(path))
    return str(path)


@pytest.mark.parametrize("target", ["tensorrt", "onnxruntime"])
def test_layers_reading_the_image_stay_float_in_the_tensorrt_model(target, tmp_path):
    """An 8-bit image scaled to [0, 1] has 256 levels; int8 symmetric gives it 127 steps, so two neighbouring
    pixel values often become one. Green one level above red must win class 1 everywhere: the TensorRT model
    keeps the layer that reads the image (through constant normalization) float and gets it right; ONNX
    Runtime's uint8 holds every level and quantizes it. A convolution behind a MaxPool is not an image layer."""
    import onnxruntime as ort

    from edgeseg.quantize import placement

    path = image_model(tmp_path / "image.onnx")
    assert placement.image_layers(onnx.load(path).graph, ["Conv"]) == ["stem"]
    levels = np.random.default_rng(5).integers(0, 255, (1, 1, 4, 4))
    image = np.concatenate([levels, levels + 1, levels], axis=1).astype(np.float32) / 255
    ranges = {name: (0.0, 1.0) for name in ("image", "centred", "normalized", "pooled")}
    ranges.update(scores=(0.0, 1.0), pooled_scores=(0.0, 1.0))
    out = str(tmp_path / "{}.onnx".format(target))
    record = cal.quantize_model(path, ranges, out, target=target)
    graph = onnx.load(out).graph
    made = {o: n.op_type for n in graph.node for o in n.output}
    quantized = [n.name for n in graph.node if n.op_type == "Conv" and made.get(n.input[0]) == "DequantizeLinear"]
    if target == "tensorrt":
        assert record["float_image_layers"] == ["stem"] and quantized == ["pooled"]
    else:
        assert record["float_image_layers"] == [] and sorted(quantized) == ["pooled", "stem"]
    classes = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(["classes"], {"image": image})[0]
    assert np.all(classes == 1)
