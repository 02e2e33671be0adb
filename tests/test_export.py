"""Export → ONNX Runtime parity, sidecar contents, weights, and export-time errors (real torch models)."""
import numpy as np
import onnx
import pytest
import torch

from edgeseg.artifacts import read_sidecar
from edgeseg.errors import ArtifactError, ConfigError
from edgeseg.export import OPSET, export
from edgeseg.models import available_models, build_model
from edgeseg.runtime import open_artifact

from conftest import MODEL, SIZE


def test_logits_export_matches_pytorch(logits_onnx):
    record = read_sidecar(logits_onnx)
    assert record["parity"]["argmax_agreement"] >= 0.999
    assert record["parity"]["max_abs_diff"] < 1e-3
    model = onnx.load(logits_onnx)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    out = model.graph.output[0]
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 8, SIZE[1], SIZE[0]]


def test_sidecar_carries_everything_downstream_needs(logits_onnx):
    record = read_sidecar(logits_onnx)
    assert record["model"] == MODEL and record["num_classes"] == 8
    assert record["classes"][0] == "sky" and len(record["palette"]) == 8
    assert record["preprocess"]["size"] == list(SIZE) and record["preprocess"]["color_order"] == "rgb"
    assert record["output_kind"] == "logits" and record["opset"] == 17
    assert record["weights"]["source"] == "random init"
    assert "ReduceMean" in record["onnx_ops"] or "GlobalAveragePool" in record["onnx_ops"]


def test_classmap_export_bakes_argmax(classmap_onnx, logits_onnx):
    record = read_sidecar(classmap_onnx)
    assert record["output_kind"] == "classmap" and record["parity"]["argmax_agreement"] >= 0.999
    assert "ArgMax" in record["onnx_ops"]
    frame = np.random.RandomState(0).randint(0, 256, size=(180, 320, 3)).astype(np.uint8)
    with open_artifact(classmap_onnx) as seg:
        assert seg.backend.output_spec.dtype == np.int32
        class_map = seg.predict(frame)
    assert class_map.shape == (SIZE[1], SIZE[0]) and class_map.max() < 8


def test_dynamic_export_runs_at_other_sizes(tmp_path):
    path = str(tmp_path / "dyn.onnx")
    export(MODEL, 3, (128, 64), path, dynamic=True, log=lambda *_: None)
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": np.zeros((2, 3, 96, 160), np.float32)})[0]
    assert out.shape == (2, 3, 96, 160)


def test_weights_from_a_state_dict_file_are_used(tmp_path):
    model = build_model(MODEL, 4)
    torch.nn.init.constant_(model.model.classifier[4].bias, 0.0)
    with torch.no_grad():
        model.model.classifier[4].bias[2] = 100.0  # class 2 wins everywhere
    weights = tmp_path / "w.pth"
    torch.save(model.model.state_dict(), str(weights))
    path = str(tmp_path / "w.onnx")
    record = export(MODEL, 4, (96, 64), path, weights=str(weights), log=lambda *_: None)
    assert record["weights"]["sha256"]
    frame = np.zeros((64, 96, 3), np.uint8)
    with open_artifact(path) as seg:
        assert (seg.predict(frame) == 2).all()


def test_weights_that_do_not_fit_say_so(tmp_path):
    weights = tmp_path / "other.pth"
    torch.save(build_model(MODEL, 5).model.state_dict(), str(weights))
    with pytest.raises(ArtifactError, match="do not fit"):
        build_model(MODEL, 4, str(weights))


def test_unknown_model_and_weights_name():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'"):
        build_model("resnet9000", 4)
    with pytest.raises(ArtifactError, match="not a file nor a torchvision weights name"):
        build_model(MODEL, 4, "NO_SUCH_WEIGHTS")
    assert MODEL in available_models()


def test_failed_export_leaves_no_file(tmp_path):
    path = tmp_path / "bad.onnx"
    with pytest.raises(ConfigError):
        export(MODEL, 300, (96, 64), str(path), log=lambda *_: None)
    assert not path.exists()


def test_no_identity_in_front_of_weights(logits_onnx):
    """TensorRT's parser wants Conv weights/biases as initializers, not Identity outputs."""
    graph = onnx.load(logits_onnx).graph
    weights = {w.name for w in graph.initializer}
    assert not [n for n in graph.node if n.op_type == "Identity" and n.input[0] in weights]
