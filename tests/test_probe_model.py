"""The probe model (ONNX operators, no torch): ONNX Runtime gives exactly the numpy oracle's answer, and
that answer depends on the input — on colour, colour order, position and size — so checks built on it can
fail."""
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import PROBE_SIZE, REPO, frame_classes, run_cli

from edgeseg.artifacts import read_sidecar
from edgeseg.data.synthetic import render_scene
from edgeseg.errors import ConfigError
from edgeseg.preprocess import Preprocessor
from edgeseg.probe_model import (
    expected_class_map,
    expected_logits,
    expected_tensors,
    probe_spec,
    write_probe_dataset,
    write_probe_model,
)


def frames():
    """Street scenes at the model size and larger, a noise frame, a black frame."""
    rng = np.random.RandomState(0)
    return [render_scene(3, *PROBE_SIZE)[0], render_scene(4, 320, 180)[0],
            rng.randint(0, 256, (50, 70, 3)).astype(np.uint8), np.zeros((64, 128, 3), np.uint8)]


def oracle_input(frame):
    """The probe's input as the oracle computes it (independently of edgeseg.preprocess), NCHW float32."""
    return expected_tensors(frame, PROBE_SIZE)["input"].transpose(2, 0, 1)[None].astype(np.float32)


def test_onnxruntime_gives_exactly_the_oracles_logits(probe_onnx):
    session = ort.InferenceSession(probe_onnx, providers=["CPUExecutionProvider"])
    for frame in frames():
        logits = session.run(None, {"input": oracle_input(frame)})[0][0]
        np.testing.assert_array_equal(logits, expected_logits(frame, PROBE_SIZE))
        np.testing.assert_array_equal(oracle_input(frame), Preprocessor(probe_spec(PROBE_SIZE))(frame))


def test_classmap_model_is_the_oracles_class_map(probe_classmap_onnx):
    session = ort.InferenceSession(probe_classmap_onnx, providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].type == "tensor(int32)"
    for frame in frames():
        classmap = session.run(None, {"input": oracle_input(frame)})[0][0]
        np.testing.assert_array_equal(classmap, expected_class_map(frame, PROBE_SIZE))


def test_street_frames_show_several_classes():
    for seed in range(4):
        shares = frame_classes(expected_class_map(render_scene(seed, 320, 180)[0], PROBE_SIZE))
        assert len([s for s in shares if s >= 0.05]) >= 3, shares


def test_the_answer_depends_on_colour_order_position_and_size():
    """Each of these bugs changes a large share of the class map, so a check against the oracle sees it."""
    frame = render_scene(5, *PROBE_SIZE)[0]
    truth = expected_class_map(frame, PROBE_SIZE)
    rgb = expected_class_map(np.ascontiguousarray(frame[:, :, ::-1]), PROBE_SIZE)
    flipped = expected_class_map(np.ascontiguousarray(frame[::-1]), PROBE_SIZE)[::-1]
    import cv2

    halved = cv2.resize(expected_class_map(cv2.resize(frame, (64, 32)), (64, 32)), PROBE_SIZE,
                        interpolation=cv2.INTER_NEAREST)
    for wrong in (rgb, flipped, halved, np.zeros_like(truth)):
        assert (wrong != truth).mean() > 0.05
    assert len(np.unique(expected_class_map(np.zeros((64, 128, 3), np.uint8), PROBE_SIZE))) >= 2  # rows matter


def test_sidecar_describes_a_complete_artifact(probe_onnx):
    record = read_sidecar(probe_onnx)
    assert record["model"] == "probe" and record["num_classes"] == 8 and record["classes"][:2] == ["sky", "road"]
    assert record["preprocess"] == probe_spec(PROBE_SIZE).to_dict() and record["opset"] == 17
    model = onnx.load(probe_onnx)
    assert [n.op_type for n in model.graph.node] == ["Conv", "Conv", "Add"]
    assert [o.version for o in model.opset_import] == [17]


def test_probe_dataset_is_labelled_with_the_oracles_answer(tmp_path):
    import cv2

    folder = write_probe_dataset(str(tmp_path / "set"), 2, PROBE_SIZE, seed=11)
    image = cv2.imread(os.path.join(folder, "images", "00001.png"))
    label = cv2.imread(os.path.join(folder, "labels", "00001.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(image, render_scene(12, *PROBE_SIZE)[0])
    np.testing.assert_array_equal(label, expected_class_map(image, PROBE_SIZE))


def test_command_line_writes_it_without_torch(tmp_path):
    from conftest import torch_blocked_env

    out = tmp_path / "probe.onnx"
    result = subprocess.run([sys.executable, "-m", "edgeseg.probe_model", str(out), "--size", "64x32",
                             "--output-kind", "classmap"], cwd=REPO, env=torch_blocked_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 0, result.stderr
    sidecar = read_sidecar(str(out))
    assert sidecar["input_shape"] == [1, 3, 32, 64] and sidecar["output_kind"] == "classmap"
    with pytest.raises(ConfigError, match="output kind"):
        write_probe_model(str(tmp_path / "x.onnx"), (64, 32), "probs")
    assert run_cli("info", out, block_torch=True).returncode == 0
