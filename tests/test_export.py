"""Export → ONNX Runtime parity, sidecar contents, weights, and export-time errors (real torch models)."""
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import MODEL, SIZE, WIDTH, frame_classes

from edgeseg.artifacts import read_sidecar
from edgeseg.data.synthetic import render_scene
from edgeseg.errors import ArtifactError, ConfigError
from edgeseg.runtime import open_artifact
from edgeseg.workstation.export import OPSET, check_parity, export
from edgeseg.workstation.models import available_models, build_model

TORCHVISION_MODEL = "deeplabv3_mobilenetv3"


def frames():
    """Street frames the model has not seen, at sizes other than its input (so resizing is exercised)."""
    return [render_scene(seed, 320, 180)[0] for seed in (500, 501, 502)]


def reference_input(frame):
    """The model's input computed by the test itself: resize, RGB, /255, torchvision's normalize."""
    import cv2
    from torchvision.transforms.functional import normalize

    rgb = cv2.resize(frame, SIZE, interpolation=cv2.INTER_LINEAR)[:, :, ::-1].copy()
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
    return normalize(tensor, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])[None]


@pytest.fixture(scope="module")
def trained(trained_checkpoint):
    return build_model(MODEL, 8, trained_checkpoint, width=WIDTH)


def test_logits_export_matches_pytorch_run_here(trained, logits_onnx):
    """Parity measured by this test (PyTorch and ONNX Runtime side by side), not read from the sidecar."""
    session = ort.InferenceSession(logits_onnx, providers=["CPUExecutionProvider"])
    same = total = 0
    max_diff = 0.0
    with open_artifact(logits_onnx) as segmenter:
        for frame in frames():
            batch = reference_input(frame)
            with torch.no_grad():
                expected = trained(batch).numpy()
            actual = session.run(None, {"input": batch.numpy()})[0]
            max_diff = max(max_diff, float(np.abs(expected - actual).max()))
            classes = expected[0].argmax(0)
            assert len([s for s in frame_classes(classes) if s >= 0.05]) >= 2  # the model is not constant
            same += int((actual[0].argmax(0) == classes).sum()) + int((segmenter.predict(frame) == classes).sum())
            total += 2 * classes.size
    assert max_diff < 1e-3 and same / total >= 0.999, (max_diff, same / total)
    record = read_sidecar(logits_onnx)
    assert record["parity"]["argmax_agreement"] >= 0.999 and record["parity"]["max_abs_diff"] < 1e-3
    model = onnx.load(logits_onnx)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    out = model.graph.output[0]
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 8, SIZE[1], SIZE[0]]


def test_check_parity_compares_with_pytorch(trained, logits_onnx):
    """check_parity against an independent count, on a pair that agrees and on one that does not."""
    inputs = np.concatenate([reference_input(frame).numpy() for frame in frames()])
    session = ort.InferenceSession(logits_onnx, providers=["CPUExecutionProvider"])
    onnx_classes = np.concatenate([session.run(None, {"input": x[None]})[0].argmax(1) for x in inputs])
    torch.manual_seed(1)
    untrained = build_model(MODEL, 8, width=WIDTH)
    for model in (trained, untrained):
        with torch.no_grad():
            torch_classes = model(torch.from_numpy(inputs)).numpy().argmax(1)
        result = check_parity(model, logits_onnx, inputs, "logits")
        assert result["argmax_agreement"] == pytest.approx(float((torch_classes == onnx_classes).mean()), abs=1e-9)
    assert result["argmax_agreement"] < 0.9 and result["max_abs_diff"] > 0.1  # the untrained model differs


def test_classmap_export_is_the_argmax_of_pytorch(trained, classmap_onnx):
    record = read_sidecar(classmap_onnx)
    assert record["output_kind"] == "classmap" and "ArgMax" in record["onnx_ops"]
    with open_artifact(classmap_onnx) as segmenter:
        assert segmenter.backend.output_spec.dtype == np.int32
        for frame in frames():
            with torch.no_grad():
                expected = trained(reference_input(frame))[0].argmax(0).numpy()
            class_map = segmenter.predict(frame)
            assert class_map.shape == (SIZE[1], SIZE[0]) and (class_map == expected).mean() >= 0.999


def test_sidecar_carries_everything_downstream_needs(logits_onnx, trained_checkpoint):
    record = read_sidecar(logits_onnx)
    assert record["model"] == MODEL and record["num_classes"] == 8 and record["width"] == WIDTH
    assert record["classes"][0] == "sky" and len(record["palette"]) == 8  # from the checkpoint
    assert record["preprocess"]["size"] == list(SIZE) and record["preprocess"]["color_order"] == "rgb"
    assert record["output_kind"] == "logits" and record["opset"] == 17
    assert record["weights"]["source"] == os.path.abspath(trained_checkpoint)


def test_dynamic_export_runs_at_other_sizes(tmp_path):
    path = str(tmp_path / "dyn.onnx")
    export(TORCHVISION_MODEL, 3, (128, 64), path, dynamic=True, log=lambda *_: None)
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": np.zeros((2, 3, 96, 160), np.float32)})[0]
    assert out.shape == (2, 3, 96, 160)
    # a randomly initialised model has equal (zero) biases, which the exporter merges behind Identity
    # nodes; TensorRT's parser wants Conv weights and biases as initializers
    graph = onnx.load(path).graph
    weights = {w.name for w in graph.initializer}
    assert not [n for n in graph.node if n.op_type == "Identity" and n.input[0] in weights]


def test_weights_from_a_state_dict_file_are_used(tmp_path):
    model = build_model(TORCHVISION_MODEL, 4)
    torch.nn.init.constant_(model.model.classifier[4].bias, 0.0)
    with torch.no_grad():
        model.model.classifier[4].bias[2] = 100.0  # class 2 wins everywhere
    weights = tmp_path / "w.pth"
    torch.save(model.model.state_dict(), str(weights))
    path = str(tmp_path / "w.onnx")
    record = export(TORCHVISION_MODEL, 4, (96, 64), path, weights=str(weights), log=lambda *_: None)
    assert record["weights"]["sha256"]
    frame = np.zeros((64, 96, 3), np.uint8)
    with open_artifact(path) as seg:
        assert (seg.predict(frame) == 2).all()


def test_weights_that_do_not_fit_say_so(tmp_path):
    weights = tmp_path / "other.pth"
    torch.save(build_model(TORCHVISION_MODEL, 5).model.state_dict(), str(weights))
    with pytest.raises(ArtifactError, match="do not fit"):
        build_model(TORCHVISION_MODEL, 4, str(weights))


def test_unknown_model_and_weights_name():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'"):
        build_model("resnet9000", 4)
    with pytest.raises(ArtifactError, match="not a file nor a torchvision weights name"):
        build_model(TORCHVISION_MODEL, 4, "NO_SUCH_WEIGHTS")
    assert TORCHVISION_MODEL in available_models()


def test_failed_export_leaves_no_file(tmp_path):
    path = tmp_path / "bad.onnx"
    with pytest.raises(ConfigError):
        export(TORCHVISION_MODEL, 300, (96, 64), str(path), log=lambda *_: None)
    assert not path.exists()
