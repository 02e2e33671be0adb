"""The TensorRT glue (build_engine, TensorRTBackend) against a test double of TensorRT and pycuda.

tests/trt_double holds a FAKE of their Python APIs, one flavour per supported TensorRT (8.5 for JetPack
5.1, 10.3 for JetPack 6, the newest 10.x, and 11), each cut to its version's REAL surface
(test_trt_surface.py): it shows the glue takes the right API branch and moves the right bytes, not that
TensorRT works (the tests marked `tensorrt` in test_tensorrt.py do that on a device). The double is put in
sys.modules for one test at a time and removed afterwards, so a real `import tensorrt` elsewhere in
the session is untouched.
"""
import gc
import importlib
import json
import os
import sys

import numpy as np
import pytest
from conftest import PROBE_SIZE

from edgeseg.artifacts import file_sha256
from edgeseg.errors import ArtifactError, ConfigError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

DOUBLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trt_double")
FLAVOURS = {"8.5": "8.5.2.2", "10.3": "10.3.0", "10.16": "10.16.1.11", "11": "11.4.0.106"}
FP16_FLAVOURS = ("8.5", "10.3", "10.16")  # TensorRT 11 builds strongly typed networks only
GPUS = {"8.5": ("Xavier", "72"), "10.3": ("Orin", "87"), "10.16": ("Orin", "87"), "11": ("Thor", "110")}
HEADERS = {"8.5": "TRT-8502-EntropyCalibration2", "10.3": "TRT-100300-EntropyCalibration2",
           "10.16": "TRT-101601-EntropyCalibration2"}  # what each TensorRT writes and reads
CACHE = "TRT-8502-EntropyCalibration2\ninput: 3c010a14\nconv: 3d8a6c2e\nrelu: 3d8a6c2e\n"


def _is_double(name):
    module = sys.modules.get(name)
    return (getattr(module, "__file__", None) or "").startswith(DOUBLE)


def _purge():
    for name in [n for n in list(sys.modules) if n.split(".")[0] in ("tensorrt", "pycuda")]:
        if _is_double(name):
            del sys.modules[name]


@pytest.fixture
def load_double(monkeypatch):
    """load(flavour) -> (tensorrt, pycuda.driver) doubles; real modules come back at teardown."""
    for name in [n for n in list(sys.modules) if n.split(".")[0] in ("tensorrt", "pycuda")]:
        monkeypatch.delitem(sys.modules, name)  # a real TensorRT, if imported, is restored afterwards
    monkeypatch.syspath_prepend(DOUBLE)

    def load(flavour):
        _purge()
        monkeypatch.setenv("EDGESEG_TRT_DOUBLE", flavour)
        trt, cuda = importlib.import_module("tensorrt"), importlib.import_module("pycuda.driver")
        assert trt.__file__.startswith(DOUBLE) and cuda.__file__.startswith(DOUBLE)
        return trt, cuda

    yield load
    _purge()


@pytest.fixture(params=FP16_FLAVOURS)
def double(request, load_double):
    trt, cuda = load_double(request.param)
    return request.param, trt, cuda


def _save(nodes, path, initializers, channels=4):
    graph = helper.make_graph(nodes, "glue", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, channels, 8, 8])],
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def _weights():
    rng = np.random.RandomState(0)
    return [numpy_helper.from_array((rng.randn(4, 3, 3, 3) * 0.3).astype(np.float32), "weight"),
            numpy_helper.from_array((rng.randn(4) * 0.1).astype(np.float32), "bias")]


def conv_relu(path, softmax=False):
    """Conv(3->4) + Relu (+ Softmax, which the double keeps off the DLA)."""
    last = "relu_out" if softmax else "output"
    nodes = [helper.make_node("Conv", ["input", "weight", "bias"], ["conv_out"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv_out"], [last], name="relu")]
    if softmax:
        nodes.append(helper.make_node("Softmax", [last], ["output"], name="softmax", axis=1))
    return _save(nodes, path, _weights())


def qdq_conv(path):
    """Q/DQ on the input, then Conv + Relu: an explicitly quantized (int8, zero point 0) model."""
    scale = [numpy_helper.from_array(np.array(0.02, np.float32), "scale"),
             numpy_helper.from_array(np.array(0, np.int8), "zero")]
    nodes = [helper.make_node("QuantizeLinear", ["input", "scale", "zero"], ["q"], name="quant"),
             helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"], name="dequant"),
             helper.make_node("Conv", ["dq", "weight", "bias"], ["conv_out"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv_out"], ["output"], name="relu")]
    return _save(nodes, path, _weights() + scale)


def write_cache(path, text=CACHE):
    path.write_text(text)
    return str(path)


def reference(onnx_path, batch):
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": batch})[0]


def build(tmp_path, onnx_path, **options):
    from edgeseg.runtime.tensorrt import build_engine

    engine = str(tmp_path / "model.engine")
    return engine, build_engine(onnx_path, engine, workspace_mb=64, log_path=engine + ".log", **options)


def plan(engine_path):
    with open(engine_path) as f:
        return json.load(f)


# --- build_engine ----------------------------------------------------------------------------------


def test_tensorrt_is_available_under_the_double(double):
    from edgeseg.runtime import tensorrt as t

    flavour, trt, _ = double
    assert t.tensorrt_available() is True
    env = t.environment()
    assert env["tensorrt_version"] == FLAVOURS[flavour] and "test double" in env["cuda_device"]
    assert env["compute_capability"].replace(".", "") == GPUS[flavour][1]


def test_fp16_build_takes_this_flavours_api(double, tmp_path):
    flavour, trt, _ = double
    onnx_path = conv_relu(tmp_path / "m.onnx")
    engine, record = build(tmp_path, onnx_path, precision="fp16")
    assert record["precision"] == "fp16" and record["tensorrt_version"] == FLAVOURS[flavour]
    assert record["onnx_sha256"] == file_sha256(onnx_path) and record["dla_core"] is None
    assert "int8_mode" not in record and record["timing_cache"] is None
    assert "set_flag(FP16)" in trt.CALLS and plan(engine)["flags"] == ["FP16"]
    # EXPLICIT_BATCH (value 0 in 8.x and 10.x: 8.x needs it for ONNX, 10.x ignores it), then the named-tensor API
    assert {"Builder.create_network(1)", "set_memory_pool_limit(WORKSPACE)", "Builder.build_serialized_network"} \
        <= set(trt.CALLS)
    assert os.path.getsize(engine + ".log") > 0


def test_layer_report_is_written_from_the_engine_inspector(double, tmp_path):
    _, trt, _ = double
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16")
    assert record["layer_report"] == engine + ".layers.json"
    report = json.loads(open(record["layer_report"]).read())
    assert [(x["name"], x["type"], x["precision"]) for x in report["layers"]] == [
        ("conv", "Convolution", "fp16"), ("relu", "Activation", "fp16")]
    assert report["bindings"] == ["input", "output"] and report["engine"] == "model.engine"
    assert plan(engine)["verbosity"] == "DETAILED" and "EngineInspector.get_engine_information(JSON)" in trt.CALLS

    _, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16", layer_report=False)
    assert record["layer_report"] is None


def test_a_tensorrt_without_inspector_still_builds(double, tmp_path, monkeypatch):
    _, trt, _ = double
    monkeypatch.delattr(trt.ICudaEngine, "create_engine_inspector")
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16")
    assert record["layer_report"] is None and not os.path.exists(engine + ".layers.json")


def test_int8_explicit_from_qdq_nodes(double, tmp_path):
    _, trt, _ = double
    engine, record = build(tmp_path, qdq_conv(tmp_path / "q.onnx"), precision="int8")
    assert (record["precision"], record["int8_mode"]) == ("int8", "explicit-qdq")
    assert "calibration_cache" not in record and "read_calibration_cache" not in trt.CALLS
    assert plan(engine)["flags"] == ["FP16", "INT8"]  # FP16 for the layers outside Q/DQ


def test_int8_implicit_from_a_calibration_cache(double, tmp_path):
    """`calibrate` writes 8.5.2's header; TensorRT skips a cache that names another version (the double
    too), so build hands it over tagged for the TensorRT that builds, and records both headers."""
    flavour, trt, _ = double
    cache = write_cache(tmp_path / "calibration.cache")
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="int8", calibration_cache=cache)
    assert (record["precision"], record["int8_mode"]) == ("int8", "implicit-cache")
    assert record["calibration_cache"] == cache and record["calibration_cache_sha256"] == file_sha256(cache)
    assert "read_calibration_cache" in trt.CALLS
    assert plan(engine)["int8_scales"] == {"input": "3c010a14", "conv": "3d8a6c2e", "relu": "3d8a6c2e"}
    assert record["calibration_cache_header"] == HEADERS[flavour]
    assert record.get("calibration_cache_retagged_from") == (None if flavour == "8.5" else CACHE.split()[0])
    assert open(cache).read() == CACHE  # the input is never rewritten
    assert "ignoring the cache" not in open(engine + ".log").read()


def test_the_double_skips_a_cache_from_another_tensorrt(load_double):
    """What the re-tagging is for: handed the cache as written, TensorRT 10 takes no scales and fails."""
    trt, _ = load_double("10.3")
    from edgeseg.runtime.tensorrt.compat import cache_calibrator, capturing_logger

    lines = []
    builder = trt.Builder(capturing_logger(trt, lines, trt.ILogger.Severity.INFO))
    network, config = builder.create_network(1), builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.INT8)
    config.int8_calibrator = cache_calibrator(trt, CACHE.encode())
    assert builder.build_serialized_network(network, config) is None
    assert "ignoring the cache" in lines[0] and "no scaling factors" in lines[-1]


def test_int8_needs_qdq_nodes_or_a_cache(double, tmp_path):
    with pytest.raises(ConfigError, match=r"m\.onnx: int8 needs .*calibrate first: `edgeseg calibrate MODEL\.onnx "
                                          r"--data DIR`"):
        build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="int8")


# --- TensorRT 11: strongly typed networks only ------------------------------------------------------


def test_tensorrt_11_builds_fp32_and_qdq_int8_and_refuses_the_rest(load_double, tmp_path):
    """No FP16/INT8 builder flags and no calibrators: fp16 would silently be FP32, and implicit INT8 (the
    calibration cache, the DLA path) does not exist; each is refused in one line naming the way out."""
    trt, cuda = load_double("11")
    from edgeseg.runtime.tensorrt import TensorRTBackend

    model = conv_relu(tmp_path / "m.onnx")
    engine, record = build(tmp_path, model, precision="fp32")
    assert record["precision"] == "fp32" and "Builder.create_network(0)" in trt.CALLS  # no EXPLICIT_BATCH in 11
    assert not any(call.startswith("set_flag") for call in trt.CALLS)
    engine, record = build(tmp_path, qdq_conv(tmp_path / "q.onnx"), precision="int8")
    assert (record["precision"], record["int8_mode"], plan(engine)["flags"]) == ("int8", "explicit-qdq", [])
    batch = np.random.RandomState(3).rand(1, 3, 8, 8).astype(np.float32)
    with TensorRTBackend(engine, sidecar=record) as backend:
        np.testing.assert_array_equal(backend.infer(batch), reference(str(tmp_path / "q.onnx"), batch))
    for options, message in [(dict(precision="fp16"), r"m\.onnx: TensorRT 11\.4\.0\.106 builds strongly typed "
                                                      r"networks only .*silently build FP32; build fp32, or int8"),
                             (dict(precision="fp16", dla_core=0), "strongly typed networks only"),
                             (dict(precision="int8", calibration_cache=write_cache(tmp_path / "c.cache")),
                              "no implicit INT8 .*Q/DQ model")]:
        with pytest.raises(ConfigError, match=message) as error:
            build(tmp_path, model, **options)
        assert "\n" not in str(error.value)


def test_a_tensorrt_older_than_8_5_is_refused_by_name(load_double, tmp_path, monkeypatch):
    """TensorRT 8.4 (JetPack 5.0.2) lacks the named-tensor API every code path uses."""
    from edgeseg.runtime.tensorrt import tensorrt_available

    trt, _ = load_double("8.5")
    monkeypatch.delattr(trt.IExecutionContext, "execute_async_v3")
    monkeypatch.setattr(trt, "__version__", "8.4.1.5")
    with pytest.raises(ConfigError, match=r"TensorRT 8\.4\.1\.5 is not supported \(it lacks IExecutionContext\."
                                          r"execute_async_v3\); edgeseg supports TensorRT 8\.5 .*JetPack 5\.1"):
        build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16")
    with pytest.raises(ConfigError, match="8.4.1.5 is not supported"):  # not taken for "no TensorRT here"
        tensorrt_available()
    from edgeseg.runtime.builder import build as build_artifact

    with pytest.raises(ConfigError, match="upgrade to JetPack 5.1"):  # no silent ONNX Runtime artifact
        build_artifact(conv_relu(tmp_path / "m.onnx"), str(tmp_path / "m.engine"), "fp16")


def test_calibration_cache_is_checked(tmp_path):
    onnx_path = conv_relu(tmp_path / "m.onnx")
    bad = write_cache(tmp_path / "calibration.json", '{"input": 0.5}')
    with pytest.raises(ArtifactError, match=r"calibration\.json: not a TensorRT calibration cache"):
        build(tmp_path, onnx_path, precision="int8", calibration_cache=bad)
    minmax = write_cache(tmp_path / "minmax.cache", CACHE.replace("EntropyCalibration2", "MinMaxCalibration"))
    with pytest.raises(ConfigError, match="minmax.cache: .*MinMaxCalibration"):
        build(tmp_path, onnx_path, precision="int8", calibration_cache=minmax)
    with pytest.raises(ArtifactError, match="missing.cache: calibration cache not found"):
        build(tmp_path, onnx_path, precision="int8", calibration_cache=str(tmp_path / "missing.cache"))
    with pytest.raises(ConfigError, match="only with precision int8"):
        build(tmp_path, onnx_path, precision="fp16", calibration_cache=write_cache(tmp_path / "c.cache"))
    with pytest.raises(ConfigError, match="fp32, fp16, int8"):
        build(tmp_path, onnx_path, precision="int4")


def test_qdq_model_needs_precision_int8(double, tmp_path):
    with pytest.raises(ConfigError, match="quantized .*precision int8"):
        build(tmp_path, qdq_conv(tmp_path / "q.onnx"), precision="fp16")


# --- DLA -------------------------------------------------------------------------------------------


def test_dla_build_sets_core_and_gpu_fallback(double, tmp_path):
    _, trt, _ = double
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx", softmax=True), precision="fp16", dla_core=0)
    assert (record["dla_core"], record["gpu_fallback"], record["precision"]) == (0, True, "fp16")
    assert (record["dla_layers"], record["gpu_fallback_layers"]) == (2, 1)
    assert {"set_flag(GPU_FALLBACK)", "set_flag(FP16)"} <= set(trt.CALLS) and plan(engine)["dla_core"] == 0
    report = json.loads(open(record["layer_report"]).read())
    assert (report["dla_layers"], report["gpu_fallback_layers"]) == (2, 1)
    assert [(x["name"], x["device"]) for x in report["layers"]] == [
        ("{ForeignNode[conv...relu]}", "DLA"), ("softmax", "GPU")]


def test_dla_int8_uses_the_calibration_cache(double, tmp_path):
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="int8", dla_core=1,
                           calibration_cache=write_cache(tmp_path / "c.cache"))
    assert (record["int8_mode"], record["dla_core"], record["dla_layers"]) == ("implicit-cache", 1, 2)
    assert plan(engine)["int8_scales"]


def test_dla_core_that_does_not_exist(double, tmp_path, monkeypatch):
    onnx_path = conv_relu(tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="DLA core 2 does not exist: this device has 2 DLA cores; use 0 to 1"):
        build(tmp_path, onnx_path, precision="fp16", dla_core=2)
    monkeypatch.setenv("EDGESEG_TRT_DOUBLE_DLA_CORES", "0")
    with pytest.raises(ConfigError, match="DLA core 0 does not exist: this device has 0 DLA cores"):
        build(tmp_path, onnx_path, precision="fp16", dla_core=0)


def test_dla_refuses_fp32_and_qdq_models(double, tmp_path, monkeypatch):
    from edgeseg.runtime.tensorrt import builder as t

    with pytest.raises(ConfigError, match="DLA runs FP16 or INT8 only"):
        build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp32", dla_core=0)
    qdq = qdq_conv(tmp_path / "q.onnx")
    with pytest.raises(ConfigError, match="q.onnx: .*DLA takes implicit INT8 only.*FP32 model with its TensorRT "
                                          "calibration cache"):
        build(tmp_path, qdq, precision="int8", dla_core=0)
    monkeypatch.setattr(t, "_onnx_has_qdq", lambda path: None)  # no `onnx` package: the network is scanned
    with pytest.raises(ConfigError, match="DLA takes implicit INT8 only"):
        build(tmp_path, qdq, precision="int8", dla_core=0)
    assert "OnnxParser.parse_from_file" in double[1].CALLS


# --- timing cache, Jetson facts --------------------------------------------------------------------


def test_timing_cache_is_written_then_reused(double, tmp_path):
    _, trt, _ = double
    onnx_path, cache = conv_relu(tmp_path / "m.onnx"), str(tmp_path / "engines" / "device.timing")
    _, record = build(tmp_path, onnx_path, precision="fp16", timing_cache=cache)
    assert (record["timing_cache"], record["timing_cache_loaded"]) == (cache, False)
    assert "timing_cache_hits=0" in trt.CALLS and os.path.getsize(cache) > 0
    del trt.CALLS[:]
    _, record = build(tmp_path, onnx_path, precision="fp16", timing_cache=cache)
    assert record["timing_cache_loaded"] is True
    assert "create_timing_cache(bytes)" in trt.CALLS and "timing_cache_hits=2" in trt.CALLS


def test_timing_cache_from_another_device_is_replaced(double, tmp_path):
    _, trt, _ = double
    cache = tmp_path / "other.timing"
    cache.write_text(json.dumps({"tensorrt": "7.1.3", "device": "Nano", "entries": ["x"]}))
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16", timing_cache=str(cache))
    assert record["timing_cache_loaded"] is False and "another TensorRT/GPU" in open(engine + ".log").read()
    assert json.loads(cache.read_text())["tensorrt"] == trt.__version__


def test_jetson_release_is_recorded(double, tmp_path, monkeypatch):
    from edgeseg.jetson import board

    _, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16")
    assert "l4t" not in record
    monkeypatch.setattr(board, "l4t_release", lambda: "35.2.1")
    _, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16")
    assert (record["l4t"], record["jetpack"]) == ("35.2.1", "5.1")


# --- the layer report on real engine-inspector output (tests/data/README.md) ------------------------

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def real_inspector_output(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def test_layer_summary_reads_a_real_detailed_inspector_output():
    from edgeseg.runtime.tensorrt.builder import _layer_summary

    layers = json.loads(real_inspector_output("trt_inspector_detailed_mobilenet_qat.json"))["Layers"]
    summaries = [_layer_summary(layer, dla=False) for layer in layers]
    assert [(s["name"], s["type"], s["precision"]) for s in summaries] == [
        ("QuantizeLinear_2", "Reformat", "int8"),
        ("features.0.0.weight + QuantizeLinear_8 + Conv_12 + PWN(Clip_16)", "CaskConvolution", "int8"),
        ("features.2.conv.2.weight + QuantizeLinear_90 + Conv_94", "CaskConvolution", "fp16"),
        ("features.14.conv.2.weight + QuantizeLinear_674 + Conv_678", "CaskConvolution", "fp32"),
        ("Reformatting CopyNode for Input Tensor 0 to GlobalAveragePool_843", "Reformat", "fp16"),
        ("GlobalAveragePool_843", "TiledPooling", "fp16"),
        ("classifier.1.weight + QuantizeLinear_860 + Gemm_864 + classifier.1.bias + (Unnamed Layer* 849) [Shuffle] "
         "+ unsqueeze_node_after_classifier.1.bias + (Unnamed Layer* 849) [Shuffle]_(Unnamed Layer* 849) "
         "[Shuffle]_output + (Unnamed Layer* 850) [ElementWise]", "CaskConvolution", "fp32"),
        ("copied_squeeze_after_(Unnamed Layer* 850) [ElementWise]", "NoOp", "fp32")]
    assert summaries[0]["format"] == "Four wide channel vectorized row major Int8 format"  # the output's
    assert all("device" not in s for s in summaries)
    # built for a GPU: in a DLA build every one of these layers would still be on the GPU
    assert {_layer_summary(layer, dla=True)["device"] for layer in layers} == {"GPU"}


def test_layer_report_from_a_real_inspector_output(tmp_path):
    from edgeseg.runtime.tensorrt.builder import _write_layer_report

    text = real_inspector_output("trt_inspector_detailed_mobilenet_qat.json")

    class Inspector:
        def get_engine_information(self, fmt):
            assert fmt == "JSON"
            return text

    class Engine:
        def create_engine_inspector(self):
            return Inspector()

    class FakeTrt:  # only what _write_layer_report reads
        class LayerInformationFormat:
            JSON = "JSON"

    path = str(tmp_path / "m.engine.layers.json")
    assert _write_layer_report(FakeTrt, Engine(), path, {"precision": "int8"}, dla=False) is True
    report = json.loads(open(path).read())
    assert report["bindings"] == ["input1", "1179"] and report["precision"] == "int8"
    assert [x["precision"] for x in report["layers"]] == ["int8", "int8", "fp16", "fp32", "fp16", "fp16", "fp32",
                                                          "fp32"]
    assert report["engine_information"] == json.loads(text)


def test_a_foreign_node_is_not_dla_by_its_name_alone():
    """TensorRT 8.5.2 on an Orin lists Myelin subgraphs as {ForeignNode[...]} and runs them on the GPU (its
    build log: "[GpuLayer] MYELIN: {ForeignNode[/Split_2.../Concat_1]}"); a DLA subgraph has the same form."""
    from edgeseg.runtime.tensorrt.builder import _layer_summary

    names = json.loads(real_inspector_output("trt_inspector_names_yolo_orin_trt8502.json"))
    assert names["Bindings"] == ["input", "output"]
    foreign = [n for n in names["Layers"] if n.startswith("{ForeignNode[")]
    assert foreign == ["{ForeignNode[/head/Constant_2_output_0.../Unsqueeze_2]}", "{ForeignNode[/Split_2.../Concat_1]}"]
    # LAYER_NAMES_ONLY: names only, and no placement is claimed from a name
    assert [_layer_summary(n, dla=True) for n in names["Layers"]] == [{"name": n} for n in names["Layers"]]
    # DETAILED (these entries are built here from the real names: no real DETAILED DLA output was found):
    # a Myelin subgraph and a reformat into a subgraph stay on the GPU; another ForeignNode is the DLA's
    myelin = {"Name": foreign[1], "LayerType": "Myelin"}
    reformat = {"Name": "Reformatting CopyNode for Input Tensor 0 to " + foreign[1], "LayerType": "Reformat"}
    dla = {"Name": foreign[1], "LayerType": "ForeignNode"}  # as the test double writes it
    assert [_layer_summary(x, dla=True)["device"] for x in (myelin, reformat, dla)] == ["GPU", "GPU", "DLA"]
    assert "device" not in _layer_summary(dla, dla=False)


# --- TensorRTBackend -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [conv_relu, qdq_conv])
def test_backend_runs_the_engine_through_this_flavours_execute(double, tmp_path, make):
    from edgeseg.runtime.tensorrt import TensorRTBackend

    flavour, trt, cuda = double
    onnx_path = make(tmp_path / "m.onnx")
    engine, record = build(tmp_path, onnx_path, precision="int8" if make is qdq_conv else "fp16")
    batch = np.random.RandomState(1).rand(1, 3, 8, 8).astype(np.float32)
    with TensorRTBackend(engine, sidecar=record) as backend:
        assert (backend.input_spec.name, backend.input_spec.shape) == ("input", (1, 3, 8, 8))
        assert (backend.output_spec.name, backend.output_spec.shape) == ("output", (1, 4, 8, 8))
        assert backend.describe() == "TensorRT {} on {} (sm_{})".format(
            FLAVOURS[flavour], cuda.Device(0).name(), GPUS[flavour][1])
        out, again = backend.infer(batch), backend.infer(batch * 2)
    np.testing.assert_array_equal(out, reference(onnx_path, batch))
    np.testing.assert_array_equal(again, reference(onnx_path, batch * 2))
    assert trt.CALLS.count("execute_async_v3") == 2 and trt.CALLS.count("set_tensor_address") == 2
    assert cuda.MEMORY == {} and cuda.RETAINS == {0: 0}  # freed, and the primary context released
    assert cuda.context_stacks()[1] == []  # nothing left on this thread's pycuda stack


def test_a_backend_closed_from_another_thread_releases_its_context(double, tmp_path):
    """Real pycuda skips the release when detach() runs in a thread other than the opener's and the
    context is not current there; the backend detaches while its context is current, from any thread."""
    import threading

    from edgeseg.runtime.tensorrt import TensorRTBackend

    _, _, cuda = double
    onnx_path = conv_relu(tmp_path / "m.onnx")
    engine, record = build(tmp_path, onnx_path, precision="fp16")
    batch = np.random.RandomState(4).rand(1, 3, 8, 8).astype(np.float32)
    backend = TensorRTBackend(engine, sidecar=record).open()
    results, errors = [], []

    def in_another_thread(work):
        def run():
            try:
                results.append(work())
            except Exception as exc:  # surfaced below
                errors.append(exc)
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()

    in_another_thread(lambda: backend.infer(batch).copy())  # a stream loop's worker
    in_another_thread(backend.close)  # a signal handler, a finalizer
    assert errors == [] and cuda.RETAINS == {0: 0} and cuda.MEMORY == {}
    assert cuda.LEAKED_PINNED == []  # its page-locked buffers were freed inside the context, in that thread
    np.testing.assert_array_equal(results[0], reference(onnx_path, batch))
    assert cuda.context_stacks() == ([], [])  # the opener's thread never had it pushed


def test_a_dynamic_engine_runs_each_shape_its_profile_allows(double, tmp_path):
    """A dynamic input gets an optimization profile at build; each new frame size sets the input shape,
    reallocates for the output shape TensorRT resolves, and a size outside the profile is refused."""
    from edgeseg.runtime.tensorrt import TensorRTBackend

    _, trt, _ = double
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "weight", "bias"], ["conv_out"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["conv_out"], ["output"], name="relu")], "dynamic",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, "height", "width"])], initializer=_weights())
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx_path = str(tmp_path / "dynamic.onnx")
    onnx.save(model, onnx_path)
    with pytest.raises(ConfigError, match=r"input input has dynamic shape \[1, 3, -1, -1\]; give its"):
        build(tmp_path, onnx_path, precision="fp16")
    profile = {"input": ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 24))}
    engine, record = build(tmp_path, onnx_path, precision="fp16", input_shapes=profile)
    assert record["input_shapes"] == {"input": [[1, 3, 8, 8], [1, 3, 16, 16], [1, 3, 32, 24]]}
    assert record["io"]["inputs"][0]["shape"] == [1, 3, 16, 16]  # the opt shape
    rng = np.random.RandomState(5)
    with TensorRTBackend(engine, sidecar=record) as backend:
        assert backend.input_spec.is_dynamic
        for height, width in [(16, 16), (8, 20), (32, 24), (16, 16)]:
            batch = rng.rand(1, 3, height, width).astype(np.float32)
            out = backend.infer(batch)
            assert out.shape == (1, 4, height, width)
            np.testing.assert_array_equal(out, reference(onnx_path, batch))
        with pytest.raises(ConfigError, match=r"input shape \[1, 3, 40, 24\] is outside the engine's optimization "
                                              r"profile"):
            backend.infer(rng.rand(1, 3, 40, 24).astype(np.float32))
    assert trt.CALLS.count("set_input_shape") == 5


def test_tensors_numpy_cannot_hold_are_named(load_double, tmp_path):
    """An engine with a BF16 output (TensorRT 10): one line naming the tensor, not nptype's bare TypeError."""
    from edgeseg.runtime.tensorrt import TensorRTBackend

    trt, _ = load_double("10.3")
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16")
    built = plan(engine)
    built["io"][1]["dtype"] = int(trt.DataType.BF16)
    with open(engine, "w") as f:
        json.dump(built, f)
    with pytest.raises(TypeError):
        trt.nptype(trt.DataType.BF16)  # as the real tensorrt.nptype
    with pytest.raises(ArtifactError, match=r"model\.engine: tensor 'output' is BF16, which numpy cannot hold; "
                                            r"export the model with float32"):
        TensorRTBackend(engine).open()


def test_a_refused_tensor_address_is_an_error(double, tmp_path, monkeypatch):
    """set_tensor_address returns False when TensorRT refuses (an unknown name, a misaligned address)."""
    from edgeseg.runtime.tensorrt import TensorRTBackend

    _, trt, cuda = double
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16")
    monkeypatch.setattr(trt.IExecutionContext, "set_tensor_address", lambda self, name, memory: False)
    with pytest.raises(ArtifactError, match=r"model\.engine: TensorRT refused the device address of tensor "
                                            r"'input'"):
        TensorRTBackend(engine, sidecar=record).open()
    assert cuda.MEMORY == {} and cuda.RETAINS == {0: 0}  # cleaned up


FRAMES = (11, 12, 13, 14)  # synthetic scenes whose probe class maps all differ


def probe_frames():
    from edgeseg.data.synthetic import render_scene
    from edgeseg.probe_model import expected_class_map

    frames = [render_scene(seed, *PROBE_SIZE)[0] for seed in FRAMES]
    expected = [expected_class_map(frame, PROBE_SIZE) for frame in frames]
    for i in range(1, len(expected)):  # a stale answer from the previous frame cannot pass
        assert (expected[i] != expected[i - 1]).mean() > 0.05
    assert all(len(np.unique(e)) >= 5 for e in expected)  # nor a constant one
    return frames, expected


@pytest.mark.parametrize("kind", ["logits", "classmap"])
def test_backend_answers_the_probe_exactly_frame_after_frame(double, tmp_path, probe_onnx, probe_classmap_onnx,
                                                            kind):
    """The probe's class map is known exactly (plain numpy); an FP16 engine under the double runs the FP32
    ONNX model, so every frame's answer must be the oracle's, pixel for pixel, in sequence. A backend
    that skips the host-to-device copy, the synchronize, or reads the previous frame's output fails."""
    from edgeseg.runtime import open_artifact
    from edgeseg.runtime.builder import build as build_artifact
    from edgeseg.runtime.tensorrt import TensorRTBackend

    _, trt, cuda = double
    source = probe_onnx if kind == "logits" else probe_classmap_onnx
    engine, sidecar, note = build_artifact(source, str(tmp_path / "probe_fp16.engine"), "fp16")
    assert note is None and sidecar["runtime"] == "tensorrt" and sidecar["output_kind"] == "classmap"
    frames, expected = probe_frames()
    with open_artifact(engine) as segmenter:
        assert isinstance(segmenter.backend, TensorRTBackend)
        for frame, want in zip(frames + frames[:1], expected + expected[:1]):
            np.testing.assert_array_equal(segmenter.predict(frame), want)
    assert cuda.CALLS.count("Stream.synchronize") == len(frames) + 1
    assert all(not stream.pending for stream in cuda.STREAMS.values())


def _pushed_context(cuda):
    cuda.init()
    context = cuda.Device(0).retain_primary_context()
    context.push()
    return context


def test_the_pycuda_double_copies_only_when_the_stream_is_synchronized(load_double):
    _, cuda = load_double("10.3")
    context = _pushed_context(cuda)
    try:
        stream, device = cuda.Stream(), cuda.mem_alloc(16)
        host_in = np.arange(4, dtype=np.float32)
        host_out = np.full(4, -7.0, np.float32)
        cuda.memcpy_htod_async(device, host_in, stream)
        host_in[:] = [10, 20, 30, 40]  # an async copy reads its (page-locked) source when it runs
        cuda.memcpy_dtoh_async(host_out, device, stream)
        np.testing.assert_array_equal(host_out, [-7, -7, -7, -7])  # not landed: nothing has run
        assert not stream.is_done() and not cuda.MEMORY[int(device)].any()
        stream.synchronize()
        np.testing.assert_array_equal(host_out, [10, 20, 30, 40])
        assert stream.is_done()

        cuda.memcpy_htod_async(device, np.ones(4, np.float32), stream)  # pending on `stream` ...
        cuda.memcpy_dtoh_async(host_out, device)  # ... the NULL stream (None) waits for it, then copies
        np.testing.assert_array_equal(host_out, [1, 1, 1, 1])
        device.free()
    finally:
        context.detach()
    with pytest.raises(cuda.LogicError, match="invalid device context"):
        cuda.memcpy_dtoh_async(host_out, device, stream)


def test_the_pycuda_double_is_as_strict_about_contexts_as_pycuda(load_double):
    """What real pycuda does (src/cpp/cuda.hpp), so the backend is tested against it."""
    import threading

    _, cuda = load_double("10.3")
    with pytest.raises(cuda.LogicError, match="initialization"):
        cuda.Device(0)
    cuda.init()
    for call in (lambda: cuda.mem_alloc(4), lambda: cuda.pagelocked_empty((2,), np.float32), cuda.Stream):
        with pytest.raises(cuda.LogicError, match="invalid device context"):
            call()  # no current context
    with pytest.raises(cuda.LogicError, match="cannot pop non-current context"):
        cuda.Context.pop()
    # detach() of a primary context that is not current: pushed, released, and LEFT current at CUDA's level
    context = cuda.Device(0).retain_primary_context()
    context.detach()
    assert cuda.RETAINS == {0: 0} and cuda.context_stacks() == ([0], [])
    with pytest.raises(cuda.LogicError, match="cannot detach from invalid context"):
        context.detach()
    # from another thread, not current there: pycuda skips the release
    context = cuda.Device(0).retain_primary_context()
    thread = threading.Thread(target=context.detach)
    thread.start()
    thread.join()
    assert cuda.RETAINS == {0: 1}
    # memory allocated in one thread cannot be freed from another where its context is not current
    context = cuda.Device(0).retain_primary_context()
    context.push()
    allocation = cuda.mem_alloc(8)
    cuda.Context.pop()
    errors = []
    thread = threading.Thread(target=lambda: errors.append(pytest.raises(cuda.LogicError, allocation.free)))
    thread.start()
    thread.join()
    assert "out-of-thread" in str(errors[0].value)
    allocation.free()  # in its own thread: activated, freed, deactivated
    assert int(allocation) not in cuda.MEMORY and cuda.context_stacks()[1] == []


def test_execution_waits_for_the_stream_too(double, tmp_path):
    """execute_async_v3 enqueues on the stream: the output buffer is written at synchronize, from the
    input copied before it; the calls return what TensorRT returns (bool)."""
    flavour, trt, cuda = double
    onnx_path = conv_relu(tmp_path / "m.onnx")
    engine_path, _ = build(tmp_path, onnx_path, precision="fp16")
    with open(engine_path, "rb") as f:
        engine = trt.Runtime(trt.ILogger()).deserialize_cuda_engine(f.read())
    context = engine.create_execution_context()
    batch = np.random.RandomState(2).rand(1, 3, 8, 8).astype(np.float32)
    out = np.full((1, 4, 8, 8), np.nan, np.float32)
    cuda_context = _pushed_context(cuda)
    try:
        stream, buffers = cuda.Stream(), [cuda.mem_alloc(batch.nbytes), cuda.mem_alloc(out.nbytes)]
        assert context.execute_async_v3(stream.handle) is False  # no tensor address set yet
        assert context.set_tensor_address("input", int(buffers[0])) is True
        assert context.set_tensor_address("output", int(buffers[1])) is True
        assert context.set_tensor_address("nonexistent", int(buffers[1])) is False
        cuda.memcpy_htod_async(buffers[0], batch, stream)

        def run(handle):
            return context.execute_async_v3(handle)

        assert run(stream.handle) is True
        assert not cuda.MEMORY[int(buffers[1])].any()  # enqueued, not run
        cuda.memcpy_dtoh_async(out, buffers[1], stream)
        assert np.isnan(out).all()
        stream.synchronize()
        np.testing.assert_array_equal(out, reference(onnx_path, batch))
        assert run(12345) is False  # not a stream
    finally:
        cuda_context.detach()


@pytest.mark.parametrize("fault", ["ignore-input", "swap-classes"])
@pytest.mark.parametrize("kind", ["logits", "classmap"])
def test_the_double_injects_engine_faults(load_double, tmp_path, monkeypatch, probe_onnx, probe_classmap_onnx,
                                          fault, kind):
    from edgeseg.runtime import open_artifact
    from edgeseg.runtime.builder import build as build_artifact

    load_double("10.3")
    source = probe_onnx if kind == "logits" else probe_classmap_onnx
    engine, _, _ = build_artifact(source, str(tmp_path / "probe_fp16.engine"), "fp16")
    frames, expected = probe_frames()
    monkeypatch.setenv("EDGESEG_TRT_DOUBLE_FAULT", fault)
    with open_artifact(engine) as segmenter:
        got = segmenter.predict(frames[0])
    if fault == "swap-classes":
        np.testing.assert_array_equal(got, np.choose(expected[0], [1, 0, 2, 3, 4, 5, 6, 7]).astype(np.uint8))
    else:  # the answer to an all-zero input: the same for every frame
        assert (got != expected[0]).mean() > 0.3 and len(np.unique(got)) <= 2
    monkeypatch.setenv("EDGESEG_TRT_DOUBLE_FAULT", "typo")
    with open_artifact(engine) as segmenter, pytest.raises(ValueError, match="not one of"):
        segmenter.predict(frames[0])


def test_engine_from_another_tensorrt_is_refused(load_double, tmp_path):
    from edgeseg.runtime.tensorrt import TensorRTBackend

    load_double("8.5")
    engine, record = build(tmp_path, conv_relu(tmp_path / "m.onnx"), precision="fp16")
    with pytest.raises(ArtifactError, match=r"TensorRT 7\.1\.3 on .*TensorRT 8\.5\.2\.2 on .*edgeseg build"):
        TensorRTBackend(engine, sidecar=dict(record, tensorrt_version="7.1.3")).open()
    load_double("10.3")  # the Orin's TensorRT meets the Xavier's engine
    with pytest.raises(ArtifactError, match=r"engine was built with TensorRT 8\.5\.2\.2 on Xavier.* this device "
                                            r"has TensorRT 10\.3\.0 on Orin"):
        TensorRTBackend(engine, sidecar=record).open()
    with pytest.raises(ArtifactError, match=r"TensorRT 10\.3\.0 cannot load this engine.*TensorRT says: .*expecting "
                                            r"10\.3\.0 got 8\.5\.2\.2"):
        TensorRTBackend(engine).open()


def test_the_double_leaves_no_trace():
    """After the tests above, `import tensorrt` is what it was before them (the real one, or none)."""
    assert not any(_is_double(name) for name in list(sys.modules))
    assert DOUBLE not in sys.path and "EDGESEG_TRT_DOUBLE" not in os.environ


def test_default_engine_takes_the_frame_and_returns_a_class_map_without_copies(double, tmp_path, probe_onnx,
                                                                                 monkeypatch):
    """`edgeseg build` for TensorRT folds the preprocessing in and appends ArgMax (cast to uint8 through float,
    as TensorRT converts); the frame goes to the device straight from the page-locked buffer it was resized
    into, and each class map comes back in its own page-locked buffer of a ring."""
    from edgeseg.runtime import open_artifact
    from edgeseg.runtime.base import IN_FLIGHT
    from edgeseg.runtime.builder import build as build_artifact

    _, trt, cuda = double
    engine, sidecar, _ = build_artifact(probe_onnx, str(tmp_path / "probe_fp16.engine"), "fp16")
    assert sidecar["pixel_graph"]["input"]["ops"] == ["Cast", "Transpose", "Conv"]
    assert sidecar["pixel_graph"]["output"]["ops"] == ["ArgMax", "Cast", "Cast"]
    frame_shape = [1, PROBE_SIZE[1], PROBE_SIZE[0], 3]
    assert sidecar["io"]["inputs"] == [{"name": "frame", "shape": frame_shape, "dtype": "uint8"}]
    assert sidecar["io"]["outputs"][0]["dtype"] == "uint8" and sidecar["input_shape"] == [1, 64, 128, 3]
    copied_from = []
    real_copy = cuda.memcpy_htod_async
    monkeypatch.setattr(cuda, "memcpy_htod_async", lambda dest, src, stream=None: (copied_from.append(src),
                                                                                   real_copy(dest, src, stream)))
    frames, expected = probe_frames()
    with open_artifact(engine) as segmenter:
        backend = segmenter.backend
        assert segmenter.frame_input and backend.input_spec.dtype == np.uint8
        outputs = []
        for frame in frames:
            batch = segmenter.preprocess(frame)
            assert any(batch is given for given in backend._given_inputs)  # page-locked, handed out by the backend
            outputs.append(backend.infer(batch))
            assert copied_from[-1] is batch  # no staging copy
        assert len({id(o) for o in outputs}) == len(frames) == IN_FLIGHT  # a ring, no copies
        for output, want in zip(outputs, expected):  # each still holds its own frame's answer
            np.testing.assert_array_equal(output[0], want)
        np.testing.assert_array_equal(segmenter.predict(frames[1]), expected[1])
        del backend, outputs, batch, output, copied_from[:]  # the caller lets go of the buffers before closing
    del segmenter
    gc.collect()
    assert cuda.LEAKED_PINNED == []  # the frame rings and output ring were freed while the context was current
