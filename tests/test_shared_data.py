"""The device side on real data: a real pedestrian video and real CamVid labels (skipped without them)."""
import json
import os

import cv2
import pytest
from conftest import PROBE_SIZE, frame_classes, run_cli

pytestmark = pytest.mark.shared_data


def test_run_on_the_real_video(shared_data, logits_onnx, tmp_path):
    video = os.path.join(shared_data, "video", "vtest.avi")
    out, report = tmp_path / "vtest_overlay.avi", tmp_path / "report.json"
    result = run_cli("run", logits_onnx, "--source", video, "--max-frames", "15", "--output", out,
                     "--report", report, "--no-display", block_torch=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["frames"] == 15 and data["source_fps"] == pytest.approx(10.0)
    written = cv2.VideoCapture(str(out))
    assert int(written.get(cv2.CAP_PROP_FRAME_COUNT)) == 15
    assert (written.get(cv2.CAP_PROP_FRAME_WIDTH), written.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (768, 576)


def test_the_test_models_predict_several_classes_on_real_frames(shared_data, logits_onnx):
    """The trained test model and the probe are not constant on real footage: numeric checks built on them
    can fail."""
    from edgeseg.probe_model import expected_class_map
    from edgeseg.runtime import open_artifact

    video = cv2.VideoCapture(os.path.join(shared_data, "video", "vtest.avi"))
    camvid = cv2.imread(os.path.join(shared_data, "camvid", "val", sorted(os.listdir(
        os.path.join(shared_data, "camvid", "val")))[0]))
    frames = [video.read()[1] for _ in range(3)] + [camvid]
    with open_artifact(logits_onnx) as segmenter:
        for frame in frames:
            for class_map in (segmenter.predict(frame), expected_class_map(frame, PROBE_SIZE)):
                assert len([s for s in frame_classes(class_map) if s >= 0.05]) >= 2, frame_classes(class_map)


def test_eval_reads_camvid_list_files(shared_data, tmp_path):
    """Real 480x360 CamVid labels (void = 11) through a list file; a bare 12-class ONNX model."""
    from edgeseg.workstation.export import export

    model = str(tmp_path / "camvid12.onnx")
    export("deeplabv3_mobilenetv3", 12, (240, 180), model, log=lambda *_: None)
    os.remove(model + ".json")  # a bare model: class count from its output shape
    out = tmp_path / "eval.json"
    result = run_cli("eval", model, "--data", os.path.join(shared_data, "camvid", "val.txt"), "--limit", "3",
                     "--ignore-index", "11", "--classes", "camvid", "--json", out)
    assert result.returncode == 2 and "11" in result.stderr and "12" in result.stderr  # names vs outputs
    result = run_cli("eval", model, "--data", os.path.join(shared_data, "camvid", "val.txt"), "--limit", "3",
                     "--ignore-index", "11", "--json", out)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["images"] == 3 and data["pixels"] > 0.8 * 3 * 480 * 360


@pytest.mark.slow
def test_the_built_class_map_scores_what_the_scores_model_scores_on_camvid(shared_data, tmp_path):
    """`edgeseg build` appends ArgMax by default: on real CamVid images, with the PyTorch-ENet CamVid weights,
    the class-map artifact's mIoU is the scores artifact's (to 0.01 points)."""
    from edgeseg.evaluate import evaluate
    from edgeseg.runtime import open_artifact
    from edgeseg.runtime.builder import build
    from edgeseg.workstation.export import export

    weights = os.path.join(shared_data, "weights", "enet_camvid_davidtvs_921e40c.pt")
    if not os.path.isfile(weights):
        pytest.skip("{} not found".format(weights))
    model = str(tmp_path / "enet.onnx")
    export("enet", 12, (480, 360), model, weights=weights, log=lambda *_: None)
    classmap, record, _ = build(model, str(tmp_path / "enet.ort.onnx"), "fp32")
    scores, kept, _ = build(model, str(tmp_path / "enet_scores.ort.onnx"), "fp32", keep_scores=True)
    assert (record["output_kind"], kept["output_kind"]) == ("classmap", "logits")
    results = []
    for artifact in (classmap, scores):
        with open_artifact(artifact) as segmenter:
            results.append(evaluate(segmenter, os.path.join(shared_data, "camvid", "val.txt"), ignore_index=11,
                                    limit=20))
    assert results[0]["miou"] > 0.5  # the pretrained model, not a constant one
    assert abs(results[0]["miou"] - results[1]["miou"]) <= 1e-4, (results[0]["miou"], results[1]["miou"])
    assert results[0]["per_class_iou"] == results[1]["per_class_iou"]
