"""The device-side chain through the CLI, in subprocesses where torch cannot be imported."""
import json
import os

import cv2
import numpy as np
import pytest
from conftest import PROBE_SIZE, SIZE, reference_miou, run_cli

from edgeseg.artifacts import read_sidecar
from edgeseg.probe_model import expected_class_map


@pytest.fixture(scope="module")
def built(logits_onnx, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("build") / "model_fp16.engine")
    result = run_cli("build", logits_onnx, "--precision", "fp16", "-o", out, block_torch=True)
    assert result.returncode == 0, result.stderr
    assert "TensorRT not found" in result.stdout
    return out.replace(".engine", ".ort.onnx")


def test_build_without_tensorrt_makes_an_onnxruntime_artifact(built, logits_onnx):
    record = read_sidecar(built)
    assert record["runtime"] == "onnxruntime" and record["precision"] == "fp32"
    assert record["requested_precision"] == "fp16"
    assert record["parent"]["sha256"] == read_sidecar(logits_onnx)["sha256"]
    assert record["preprocess"] == read_sidecar(logits_onnx)["preprocess"]


def test_run_writes_every_frame_and_reports_every_stage(built, street_video, tmp_path):
    out, report = tmp_path / "overlay.mp4", tmp_path / "report.json"
    result = run_cli("run", built, "--source", street_video, "--output", out, "--report", report, "--no-display",
                     block_torch=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["frames"] == 12 and data["output_frames"] == 12
    assert set(data["stages_ms"]) == {"capture", "preprocess", "infer", "postprocess", "render", "write", "queue_wait",
                                      "end_to_end"}
    for stats in data["stages_ms"].values():
        assert stats["count"] == 12 and stats["p50"] <= stats["p99"] <= stats["max"]
    written = cv2.VideoCapture(str(out))
    assert int(written.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert written.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert (written.get(cv2.CAP_PROP_FRAME_WIDTH), written.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 180)
    assert "infer" in result.stdout and "fps" in result.stdout


def test_run_draws_the_right_class_at_every_pixel(probe_classmap_onnx, street_video, tmp_path):
    """The probe's answer is known: each written mask pixel must have its expected class's colour."""
    out = tmp_path / "masks"
    result = run_cli("run", probe_classmap_onnx, "--source", street_video, "--output", out, "--visualize", "mask",
                     "--no-hud", "--max-frames", "3", "--no-display", block_torch=True)
    assert result.returncode == 0, result.stderr
    palette = np.array(read_sidecar(probe_classmap_onnx)["palette"])[:, ::-1]  # BGR
    video = cv2.VideoCapture(street_video)
    for index in range(3):
        frame = video.read()[1]
        expected = cv2.resize(expected_class_map(frame, PROBE_SIZE), (frame.shape[1], frame.shape[0]),
                              interpolation=cv2.INTER_NEAREST)
        mask = cv2.imread(str(out / "frame_{:06d}.jpg".format(index))).astype(int)
        drawn = np.abs(mask.reshape(-1, 1, 3) - palette[None]).sum(-1).argmin(1).reshape(expected.shape)
        kernel = np.ones((5, 5), np.uint8)  # JPEG blurs class edges: judge pixels away from them
        inside = cv2.erode(expected, kernel) == cv2.dilate(expected, kernel)
        assert inside.mean() > 0.3 and (drawn == expected)[inside].mean() > 0.995, index


def test_bench_compares_artifacts_and_keeps_failed_rows(built, logits_onnx, tmp_path):
    report = tmp_path / "bench.json"
    missing = tmp_path / "missing.onnx"
    result = run_cli("bench", logits_onnx, built, missing, "--iterations", "5", "--warmup", "1", "--json", report,
                     block_torch=True)
    assert result.returncode == 1 and "1 of 3 artifact(s) failed" in result.stderr  # after the whole table
    rows = json.loads(report.read_text())["results"]
    assert [("error" in r) for r in rows] == [False, False, True]
    for row in rows[:2]:
        assert row["latency_ms"]["count"] == 5 and row["fps"] > 0
        assert row["input_size"] == "{}x{}".format(*SIZE)
    assert "failed: " in result.stdout and "not found" in result.stdout


@pytest.fixture(scope="module")
def built_probe(probe_onnx, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("build") / "probe_fp32.engine")
    result = run_cli("build", probe_onnx, "--precision", "fp32", "-o", out, block_torch=True)
    assert result.returncode == 0, result.stderr
    return out.replace(".engine", ".ort.onnx")


def test_eval_scores_exactly_what_the_oracle_says(built_probe, probe_set, labelled_set, tmp_path):
    out = tmp_path / "eval.json"
    result = run_cli("eval", built_probe, "--data", probe_set, "--json", out, block_torch=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["images"] == 4 and data["miou"] == 1.0 and data["pixel_accuracy"] == 1.0  # its own answer
    assert "mIoU 100.00%" in result.stdout
    # against the scenes' true labels: the mIoU an independent count of the oracle's answers gives
    result = run_cli("eval", built_probe, "--data", labelled_set, "--json", out, block_torch=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    pairs = []
    for name in sorted(os.listdir(os.path.join(labelled_set, "images"))):
        image = cv2.imread(os.path.join(labelled_set, "images", name))
        label = cv2.imread(os.path.join(labelled_set, "labels", name), cv2.IMREAD_UNCHANGED)
        prediction = cv2.resize(expected_class_map(image, PROBE_SIZE), (label.shape[1], label.shape[0]),
                                interpolation=cv2.INTER_NEAREST)
        pairs.append((prediction, label))
    miou, ious = reference_miou(pairs, 8)
    assert 0.1 < miou < 0.9 and data["miou"] == pytest.approx(miou, abs=1e-12)
    assert list(data["per_class_iou"].values()) == pytest.approx(ious, abs=1e-12)
    assert list(data["per_class_iou"])[:2] == ["sky", "road"]


def test_info_shows_sidecar_and_environment(built):
    result = run_cli("info", built, block_torch=True)
    assert result.returncode == 0, result.stderr
    assert "unet" in result.stdout and "preprocess" in result.stdout
    env = run_cli("info", block_torch=True)
    assert env.returncode == 0, env.stderr
    assert "onnxruntime" in env.stdout and "CPUExecutionProvider" in env.stdout


def test_bare_onnx_without_sidecar_runs_with_flags(logits_onnx, street_video, tmp_path):
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(open(logits_onnx, "rb").read())
    result = run_cli("run", bare, "--source", street_video, "--max-frames", "3", "--no-display",
                     "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", block_torch=True)
    assert result.returncode == 0, result.stderr
    info = run_cli("info", bare, block_torch=True)
    assert "no sidecar" in info.stdout and "TensorSpec('input', (1, 3, {}, {})".format(SIZE[1], SIZE[0]) in info.stdout


def test_bench_end_to_end_miou_csv_and_seconds(probe_classmap_onnx, street_video, probe_set, tmp_path):
    out_csv, out_json = tmp_path / "bench.csv", tmp_path / "bench.json"
    result = run_cli("bench", probe_classmap_onnx, "--seconds", "0.5", "--warmup", "1", "--source", street_video,
                     "--frames", "4", "--data", probe_set, "--csv", out_csv, "--json", out_json, block_torch=True)
    assert result.returncode == 0, result.stderr
    row = json.loads(out_json.read_text())["results"][0]
    assert row["latency_ms"]["count"] >= 1 and row["end_to_end"]["frames"] == 4 and row["miou"] == 1.0
    lines = out_csv.read_text().splitlines()
    assert lines[0].startswith("artifact,model,precision") and len(lines) == 2 and "end-to-end fps" in lines[0]


def test_bench_batch_needs_a_dynamic_model(classmap_onnx):
    result = run_cli("bench", classmap_onnx, "--batch", "4", "--iterations", "1", block_torch=True)
    assert result.returncode == 2 and "--dynamic" in result.stderr
