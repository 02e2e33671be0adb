"""The pixel work inside the artifact (`edgeseg build`): ArgMax appended by default, the preprocessing folded
into the graph on request (TensorRT's default), and the host side fed to match."""
import os

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import PROBE_SIZE, SIZE, frame_classes
from onnx import TensorProto, helper

from edgeseg.artifacts import read_sidecar
from edgeseg.data.synthetic import render_scene
from edgeseg.errors import ArtifactError, ConfigError
from edgeseg.preprocess import Preprocessor, PreprocessSpec
from edgeseg.probe_model import expected_class_map
from edgeseg.runtime import open_artifact
from edgeseg.runtime.builder import build
from edgeseg.runtime.pixel_graph import append_argmax, fold_preprocessing


def frames(width=320, height=180):
    return [render_scene(seed, width, height)[0] for seed in (600, 601, 602)]


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def identity_model(width, height):
    """input N x 3 x H x W float → output, unchanged: folding the preprocessing in front shows what it feeds."""
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "identity",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, height, width])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, height, width])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("spec", [PreprocessSpec((96, 64)),  # ImageNet mean/std, RGB
                                  PreprocessSpec((96, 64), (0.3, 0.5, 0.7), (0.2, 0.9, 0.4), "bgr", 1 / 200.0)])
def test_folded_preprocessing_equals_the_hosts_within_float_rounding(spec):
    model = identity_model(*spec.size)
    record = fold_preprocessing(model, spec)
    assert record["dtype"] == "uint8" and record["layout"] == "NHWC" and record["ops"] == ["Cast", "Transpose", "Conv"]
    run = session(model)
    assert run.get_inputs()[0].type == "tensor(uint8)" and run.get_inputs()[0].shape == [1, 64, 96, 3]
    for frame in frames():
        resized = cv2.resize(frame, spec.size, interpolation=cv2.INTER_LINEAR)
        folded = run.run(None, {"frame": resized[None]})[0]
        host = Preprocessor(spec)(frame)
        np.testing.assert_allclose(folded, host, rtol=1e-6, atol=1e-5)
        assert np.abs(folded - host).max() > 0 or spec.std == (1.0, 1.0, 1.0)  # two computations, not one


@pytest.mark.parametrize("runtime, ops", [("onnxruntime", ["ArgMax", "Cast"]),
                                          ("tensorrt", ["ArgMax", "Cast", "Cast"])])
def test_appended_argmax_is_the_scores_argmax_as_uint8(logits_onnx, runtime, ops):
    model = onnx.load(logits_onnx)
    record = append_argmax(model, runtime)
    assert record["ops"] == ops and record["dtype"] == "uint8"
    scores, classes = ort.InferenceSession(logits_onnx, providers=["CPUExecutionProvider"]), session(model)
    spec = Preprocessor(PreprocessSpec.from_dict(read_sidecar(logits_onnx)["preprocess"]))
    for frame in frames():
        blob = spec(frame)
        class_map = classes.run(None, {"input": blob})[0]
        assert class_map.dtype == np.uint8 and class_map.shape == (1, SIZE[1], SIZE[0])
        np.testing.assert_array_equal(class_map[0], scores.run(None, {"input": blob})[0][0].argmax(0))


def test_default_build_outputs_a_class_map_equal_to_the_scores_models(logits_onnx, tmp_path):
    """ONNX Runtime artifact: ArgMax appended, preprocessing left on the host (faster there)."""
    artifact, record, _ = build(logits_onnx, str(tmp_path / "unet.ort.onnx"), "fp32")
    assert record["output_kind"] == "classmap" and record["output_name"] == "classmap"
    assert record["pixel_graph"]["output"]["ops"] == ["ArgMax", "Cast"] and record["pixel_graph"]["input"] is None
    kept, kept_record, _ = build(logits_onnx, str(tmp_path / "scores.ort.onnx"), "fp32", keep_scores=True)
    assert kept_record["output_kind"] == "logits" and kept_record["pixel_graph"] == {"input": None, "output": None}
    with open_artifact(artifact) as built, open_artifact(kept) as scores:
        assert built.backend.output_spec.dtype == np.uint8 and scores.backend.output_spec.dtype == np.float32
        for frame in frames():
            class_map = built.predict(frame)
            assert len([s for s in frame_classes(class_map) if s >= 0.05]) >= 2
            np.testing.assert_array_equal(class_map, scores.predict(frame))


def test_graph_preprocessing_is_fed_the_resized_frame(logits_onnx, tmp_path):
    artifact, record, _ = build(logits_onnx, str(tmp_path / "unet_graph.ort.onnx"), "fp32", preprocess="graph")
    assert record["input_name"] == "frame" and record["input_shape"] == [1, SIZE[1], SIZE[0], 3]
    assert record["pixel_graph"]["input"]["color_order"] == "bgr"
    assert record["preprocess"] == read_sidecar(logits_onnx)["preprocess"]  # what the graph does, recorded
    with open_artifact(artifact) as built, open_artifact(logits_onnx) as scores:
        assert built.backend.input_spec.dtype == np.uint8 and built.frame_input
        same = total = 0
        for frame in frames() + frames(SIZE[0], SIZE[1]):  # resized, and already at the input size
            class_map = built.predict(frame)
            same, total = same + int((class_map == scores.predict(frame)).sum()), total + class_map.size
    assert same / total >= 0.999  # float rounding may flip a near tie


def test_the_probe_with_its_preprocessing_folded_is_still_exact(probe_onnx, probe_set, tmp_path):
    """The probe's constants are powers of two: the folded normalisation is exact, so the answer is too."""
    from edgeseg.bench import bench
    from edgeseg.evaluate import evaluate

    artifact, _, _ = build(probe_onnx, str(tmp_path / "probe_graph.ort.onnx"), "fp32", preprocess="graph")
    with open_artifact(artifact) as built:
        for frame in frames() + frames(*PROBE_SIZE):
            np.testing.assert_array_equal(built.predict(frame), expected_class_map(frame, PROBE_SIZE))
        assert evaluate(built, probe_set)["miou"] == 1.0
        assert bench(built, iterations=3, warmup=1)["latency_ms"]["count"] == 3


def test_predictions_are_the_callers_own(probe_onnx, tmp_path):
    """Host buffers are reused frame after frame; what predict returns is not one of them."""
    artifact, _, _ = build(probe_onnx, str(tmp_path / "probe_graph.ort.onnx"), "fp32", preprocess="graph")
    with open_artifact(artifact) as built:
        kept = [built.predict(frame) for frame in frames() * 2]
    for frame, class_map in zip(frames() * 2, kept):
        np.testing.assert_array_equal(class_map, expected_class_map(frame, PROBE_SIZE))


def test_what_cannot_be_edited_is_refused_in_one_line(probe_onnx, tmp_path):
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(open(probe_onnx, "rb").read())
    with pytest.raises(ConfigError, match="no sidecar with its preprocessing"):
        build(str(bare), str(tmp_path / "a.ort.onnx"), "fp32", preprocess="graph")
    with pytest.raises(ConfigError, match="--preprocess takes"):
        build(probe_onnx, str(tmp_path / "b.ort.onnx"), "fp32", preprocess="gpu")
    two = onnx.load(probe_onnx)
    two.graph.output.append(helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 8, 64, 128]))
    with pytest.raises(ArtifactError, match="2 outputs.*--keep-scores"):
        append_argmax(two, "onnxruntime", "two.onnx")
    nhwc = identity_model(32, 16)
    nhwc.graph.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    with pytest.raises(ArtifactError, match="N x 3 x H x W float input"):
        fold_preprocessing(nhwc, PreprocessSpec((32, 16)), "nhwc.onnx")
    assert sorted(os.listdir(str(tmp_path))) == ["bare.onnx"]  # nothing half-written


def test_a_built_artifact_built_again_keeps_its_edits(probe_onnx, tmp_path):
    first, record, _ = build(probe_onnx, str(tmp_path / "first.ort.onnx"), "fp32", preprocess="graph")
    again, second, _ = build(first, str(tmp_path / "again.ort.onnx"), "fp32", preprocess="graph")
    assert second["pixel_graph"] == record["pixel_graph"] and second["input_name"] == "frame"
    with open_artifact(again) as built:
        frame = frames()[0]
        np.testing.assert_array_equal(built.predict(frame), expected_class_map(frame, PROBE_SIZE))
