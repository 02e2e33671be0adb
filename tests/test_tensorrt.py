"""TensorRT backend and builder. Tests marked `tensorrt` need TensorRT + pycuda + a GPU and skip elsewhere."""
import json
import os
import re
import subprocess
import sys
from typing import Dict, Tuple

import numpy as np
import pytest

from edgeseg.errors import ArtifactError, ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
DYNAMIC_SHAPES = {"input": ((1, 3, 32, 32), (1, 3, 64, 64), (2, 3, 96, 128))}


def test_imports_and_reports_nothing_without_tensorrt():
    """With torch, tensorrt and pycuda made unimportable, the module imports and reports their absence."""
    code = (
        "import json, sys\n"
        "for name in ('torch', 'tensorrt', 'pycuda', 'pycuda.driver'):\n"
        "    sys.modules[name] = None\n"
        "from edgeseg.runtime import tensorrt as t\n"
        "print(json.dumps({'available': t.tensorrt_available(), 'env': t.environment()}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["available"] is False
    assert report["env"] == {"tensorrt_version": None, "pycuda_version": None, "cuda_device": None,
                             "compute_capability": None}


def test_build_rejects_unsupported_precision_before_needing_tensorrt(tmp_path):
    from edgeseg.runtime.tensorrt import build_engine

    with pytest.raises(ConfigError, match="fp32, fp16, int8"):
        build_engine(str(tmp_path / "m.onnx"), str(tmp_path / "m.engine"), precision="int4")


def test_engine_from_another_device_is_named_in_the_error(monkeypatch):
    """The comparison itself, with this device's facts given (no TensorRT here to report them)."""
    from edgeseg.runtime.tensorrt import runner as t

    here = {"tensorrt_version": "10.3.0", "pycuda_version": "2024.1", "cuda_device": "Orin",
            "compute_capability": "8.7"}
    monkeypatch.setattr(t, "environment", lambda: here)
    built = {"tensorrt_version": "8.5.2.2", "gpu_name": "Xavier", "compute_capability": "7.2"}
    with pytest.raises(ArtifactError, match=r"m\.engine: .*TensorRT 8\.5\.2\.2 on Xavier \(sm_72\).*"
                                            r"TensorRT 10\.3\.0 on Orin \(sm_87\).*edgeseg build"):
        t.check_engine_compatible(built, "m.engine")
    t.check_engine_compatible(dict(built, tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7"),
                              "m.engine")


# --- on a machine with TensorRT, pycuda and a GPU -------------------------------------------------


@pytest.fixture
def trt():
    module = pytest.importorskip("tensorrt", reason="TensorRT not installed (runs on a Jetson or a CUDA machine "
                                                    "with TensorRT)")
    pytest.importorskip("pycuda.driver", reason="pycuda not installed (runs on a Jetson or a CUDA machine "
                                                "with TensorRT)")
    return module


def _conv_relu_onnx(path: str, dynamic: bool) -> None:
    """Conv(3->8, 3x3, pad 1) + Relu, input 1x3x64x64 or Nx3xHxW."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(0)
    weight = (rng.randn(8, 3, 3, 3) * 0.2).astype(np.float32)
    bias = (rng.randn(8) * 0.1).astype(np.float32)
    in_shape = ["N", 3, "H", "W"] if dynamic else [1, 3, 64, 64]
    out_shape = ["N", 8, "H", "W"] if dynamic else [1, 8, 64, 64]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "weight", "bias"], ["conv"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["conv"], ["output"])],
        "conv_relu",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7  # readable by TensorRT 8.5's parser
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _reference(onnx_path: str, batch: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": batch})[0]


def _build(tmp_path, precision: str, dynamic: bool = False) -> Tuple[str, str, Dict[str, object]]:
    from edgeseg.runtime.tensorrt import build_engine

    onnx_path = str(tmp_path / ("dynamic.onnx" if dynamic else "static.onnx"))
    engine_path = str(tmp_path / "model_{}.engine".format(precision))
    _conv_relu_onnx(onnx_path, dynamic)
    record = build_engine(onnx_path, engine_path, precision=precision, workspace_mb=256,
                          input_shapes=DYNAMIC_SHAPES if dynamic else None, log_path=engine_path + ".log")
    return onnx_path, engine_path, record


@pytest.mark.tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_static_engine_matches_onnxruntime(trt, tmp_path, precision):
    from edgeseg.runtime.tensorrt import TensorRTBackend

    onnx_path, engine_path, record = _build(tmp_path, precision)
    assert record["runtime"] == "tensorrt"
    assert record["tensorrt_version"] == trt.__version__
    assert record["precision"] in ({"fp32"} if precision == "fp32" else {"fp16", "fp32"})
    assert record["workspace_mb"] == 256 and "input_shapes" not in record
    assert os.path.getsize(engine_path) > 0 and os.path.exists(engine_path + ".log")

    batch = np.random.RandomState(1).rand(1, 3, 64, 64).astype(np.float32)
    with TensorRTBackend(engine_path, sidecar=record) as backend:
        assert (backend.input_spec.name, backend.input_spec.shape) == ("input", (1, 3, 64, 64))
        assert (backend.output_spec.name, backend.output_spec.shape) == ("output", (1, 8, 64, 64))
        assert backend.input_spec.dtype == np.float32 and backend.output_spec.dtype == np.float32
        assert backend.describe().startswith("TensorRT {} on ".format(trt.__version__))
        out = backend.infer(batch)
        again = backend.infer(batch)
    np.testing.assert_allclose(out, _reference(onnx_path, batch), atol=TOLERANCE[precision],
                               rtol=TOLERANCE[precision])
    np.testing.assert_array_equal(out, again)
    backend.close()  # idempotent


@pytest.mark.tensorrt
def test_static_engine_rejects_other_shapes(trt, tmp_path):
    from edgeseg.runtime.tensorrt import TensorRTBackend

    _, engine_path, _ = _build(tmp_path, "fp32")
    with TensorRTBackend(engine_path) as backend:
        with pytest.raises(ConfigError, match="input shape"):
            backend.infer(np.zeros((1, 3, 32, 32), np.float32))


@pytest.mark.tensorrt
def test_dynamic_engine_follows_input_shape(trt, tmp_path):
    from edgeseg.runtime.tensorrt import TensorRTBackend

    onnx_path, engine_path, record = _build(tmp_path, "fp32", dynamic=True)
    assert record["input_shapes"] == {"input": [[1, 3, 32, 32], [1, 3, 64, 64], [2, 3, 96, 128]]}
    rng = np.random.RandomState(2)
    with TensorRTBackend(engine_path) as backend:
        assert backend.input_spec.shape == (-1, 3, -1, -1) and backend.input_spec.is_dynamic
        for shape in [(1, 3, 64, 64), (2, 3, 96, 128), (1, 3, 32, 48)]:
            batch = rng.rand(*shape).astype(np.float32)
            out = backend.infer(batch)
            assert out.shape == (shape[0], 8) + shape[2:]
            np.testing.assert_allclose(out, _reference(onnx_path, batch), atol=1e-4, rtol=1e-4)
        with pytest.raises(ConfigError, match="optimization profile"):
            backend.infer(np.zeros((1, 3, 256, 256), np.float32))


@pytest.mark.tensorrt
def test_dynamic_model_needs_input_shapes(trt, tmp_path):
    from edgeseg.runtime.tensorrt import build_engine

    onnx_path = str(tmp_path / "dynamic.onnx")
    _conv_relu_onnx(onnx_path, dynamic=True)
    with pytest.raises(ConfigError, match="input_shapes"):
        build_engine(onnx_path, str(tmp_path / "m.engine"), precision="fp32")


@pytest.mark.tensorrt
def test_corrupt_engine_raises_artifact_error(trt, tmp_path):
    from edgeseg.runtime.tensorrt import TensorRTBackend

    engine_path = str(tmp_path / "corrupt.engine")
    with open(engine_path, "wb") as f:
        f.write(b"this is not a TensorRT engine" * 64)
    backend = TensorRTBackend(engine_path)
    with pytest.raises(ArtifactError, match="edgeseg build"):
        backend.open()
    backend.close()


@pytest.mark.tensorrt
def test_sidecar_from_another_tensorrt_is_rejected(trt, tmp_path):
    from edgeseg.runtime.tensorrt import TensorRTBackend, check_engine_compatible

    _, engine_path, record = _build(tmp_path, "fp32")
    check_engine_compatible(record, engine_path)  # this device built it
    other = dict(record, tensorrt_version="7.1.3")
    with pytest.raises(ArtifactError, match=r"7\.1\.3.*{}.*edgeseg build".format(re.escape(trt.__version__))):
        check_engine_compatible(other, engine_path)
    with pytest.raises(ArtifactError, match="7.1.3"):
        TensorRTBackend(engine_path, sidecar=other).open()
