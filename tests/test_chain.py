"""The device-side chain through the CLI, in subprocesses where torch cannot be imported."""
import json

import cv2
import numpy as np
import pytest

from edgeseg.artifacts import read_sidecar

from conftest import SIZE, run_cli


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
    assert set(data["stages_ms"]) == {"capture", "preprocess", "infer", "postprocess", "write", "queue_wait", "end_to_end"}
    for stats in data["stages_ms"].values():
        assert stats["count"] == 12 and stats["p50"] <= stats["p99"] <= stats["max"]
    written = cv2.VideoCapture(str(out))
    assert int(written.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert written.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert (written.get(cv2.CAP_PROP_FRAME_WIDTH), written.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 180)
    assert "infer" in result.stdout and "fps" in result.stdout


def test_overlay_shows_the_class_colours(classmap_onnx, street_video, tmp_path):
    out = tmp_path / "overlay.avi"
    result = run_cli("run", classmap_onnx, "--source", street_video, "--output", out, "--alpha", "1.0",
                     "--max-frames", "2", "--no-display", block_torch=True)
    assert result.returncode == 0, result.stderr
    ok, frame = cv2.VideoCapture(str(out)).read()
    palette = np.array(read_sidecar(classmap_onnx)["palette"])[:, ::-1]  # BGR
    distance = np.abs(frame.reshape(-1, 1, 3).astype(int) - palette[None]).sum(-1).min(1)
    assert ok and np.median(distance) < 30  # MJPG is lossy; pixels are palette colours


def test_bench_compares_artifacts_and_keeps_failed_rows(built, logits_onnx, tmp_path):
    report = tmp_path / "bench.json"
    missing = tmp_path / "missing.onnx"
    result = run_cli("bench", logits_onnx, built, missing, "--iterations", "5", "--warmup", "1", "--json", report,
                     block_torch=True)
    assert result.returncode == 0, result.stderr
    rows = json.loads(report.read_text())["results"]
    assert [("error" in r) for r in rows] == [False, False, True]
    for row in rows[:2]:
        assert row["latency_ms"]["count"] == 5 and row["fps"] > 0
        assert row["input_size"] == "{}x{}".format(*SIZE)
    assert "failed: " in result.stdout and "not found" in result.stdout


def test_eval_on_generated_labels(built, labelled_set, tmp_path):
    out = tmp_path / "eval.json"
    result = run_cli("eval", built, "--data", labelled_set, "--json", out, block_torch=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["images"] == 4 and 0.0 <= data["miou"] <= 1.0
    assert list(data["per_class_iou"])[:2] == ["sky", "road"]
    assert "mIoU" in result.stdout


def test_info_shows_sidecar_and_environment(built):
    result = run_cli("info", built, block_torch=True)
    assert result.returncode == 0, result.stderr
    assert "deeplabv3_mobilenetv3" in result.stdout and "preprocess" in result.stdout
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


def test_bench_end_to_end_miou_csv_and_seconds(classmap_onnx, street_video, labelled_set, tmp_path):
    out_csv, out_json = tmp_path / "bench.csv", tmp_path / "bench.json"
    result = run_cli("bench", classmap_onnx, "--seconds", "0.5", "--warmup", "1", "--source", street_video,
                     "--frames", "4", "--data", labelled_set, "--csv", out_csv, "--json", out_json, block_torch=True)
    assert result.returncode == 0, result.stderr
    row = json.loads(out_json.read_text())["results"][0]
    assert row["latency_ms"]["count"] >= 1 and row["end_to_end"]["frames"] == 4 and 0 <= row["miou"] <= 1
    lines = out_csv.read_text().splitlines()
    assert lines[0].startswith("artifact,model,precision") and len(lines) == 2 and "end-to-end fps" in lines[0]


def test_bench_batch_needs_a_dynamic_model(classmap_onnx):
    result = run_cli("bench", classmap_onnx, "--batch", "4", "--iterations", "1", block_torch=True)
    assert result.returncode == 2 and "--dynamic" in result.stderr
