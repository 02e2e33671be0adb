"""The INT8 accuracy guard around its limit, on the probe: FP32 scores exactly 100% mIoU on its own answers, so
the INT8 drop is known, and checked here against an mIoU counted independently."""
import os

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from edgeseg import calibrate as cal
from edgeseg.int8_guard import guard
from edgeseg.probe_model import probe_spec, write_probe_dataset

from conftest import PROBE_SIZE, reference_miou


def quiet(*_):
    pass


@pytest.fixture
def calibrated(probe_onnx, tmp_path):
    """A fresh calibration per test: the guard rewrites its INT8 models."""
    data = write_probe_dataset(str(tmp_path / "scenes"), 6, PROBE_SIZE, seed=80)
    manifest = cal.calibrate(probe_onnx, data, num=6, method="minmax", out_dir=str(tmp_path / "calibration"),
                             log=quiet)
    images = [os.path.join(manifest["data_root"], r["path"]) for r in manifest["images"]]
    reader = cal.ImageCalibrationReader(images, probe_spec(PROBE_SIZE), "input")
    folder = os.path.dirname(manifest["path"])

    def run_guard(val, max_drop, **options):
        return guard(probe_onnx, lambda: os.path.join(folder, manifest["outputs"]["onnxruntime_int8"]["file"]),
                     lambda excluded: cal.requantize(manifest["path"], excluded, log=quiet), reader, val,
                     max_drop=max_drop, log=quiet, **options)

    return run_guard, os.path.join(folder, manifest["outputs"]["onnxruntime_int8"]["file"])


def independent_miou(model_path, data):
    """mIoU of an ONNX model on a labelled folder: ONNX Runtime fed by this test's own preprocessing."""
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    spec = probe_spec(PROBE_SIZE)
    pairs = []
    for name in sorted(os.listdir(os.path.join(data, "images"))):
        image = cv2.imread(os.path.join(data, "images", name))[:, :, ::-1].astype(np.float64)
        x = ((image * spec.scale - np.array(spec.mean)) / np.array(spec.std)).transpose(2, 0, 1)[None]
        prediction = session.run(None, {"input": x.astype(np.float32)})[0][0].argmax(0)
        pairs.append((prediction, cv2.imread(os.path.join(data, "labels", name), cv2.IMREAD_UNCHANGED)))
    return reference_miou(pairs, 8)[0]


def test_the_drop_is_fp32_minus_int8_in_points(calibrated, probe_set):
    run_guard, int8_model = calibrated
    report = run_guard(probe_set, max_drop=100.0)
    int8 = independent_miou(int8_model, probe_set)
    assert report["fp32"]["miou"] == 1.0 and report["int8"]["miou"] == pytest.approx(int8, abs=1e-12)
    assert report["drop_points"] == pytest.approx(100 * (1.0 - int8), abs=1e-9) and report["drop_points"] > 1.0
    assert report["passed"] and report["float_ops"] == [] and len(report["rounds"]) == 1


def test_a_drop_just_within_the_limit_passes_untouched(calibrated, probe_set):
    run_guard, _ = calibrated
    drop = run_guard(probe_set, max_drop=100.0)["drop_points"]
    report = run_guard(probe_set, max_drop=drop + 0.01)
    assert report["passed"] and report["float_ops"] == [] and report["drop_points"] == pytest.approx(drop)


def test_a_drop_just_over_the_limit_keeps_the_most_sensitive_op_in_float(calibrated, probe_set):
    run_guard, int8_model = calibrated
    drop = run_guard(probe_set, max_drop=100.0)["drop_points"]
    report = run_guard(probe_set, max_drop=drop - 0.01)
    assert len(report["rounds"]) >= 2 and report["float_ops"] == [report["sensitivity"][0]["node"]]
    assert report["passed"] and report["drop_points"] <= drop - 0.01
    assert report["drop_points"] == pytest.approx(100 * (1.0 - independent_miou(int8_model, probe_set)), abs=1e-9)
    assert {r["node"] for r in report["sensitivity"]} == {"blur", "scores"}
    assert report["sensitivity"][0]["sqnr_db"] <= report["sensitivity"][1]["sqnr_db"]


def test_an_unreachable_limit_stops_with_everything_in_float(calibrated, probe_set):
    run_guard, _ = calibrated
    report = run_guard(probe_set, max_drop=-0.5)
    assert not report["passed"] and sorted(report["float_ops"]) == ["blur", "scores"]
    assert [len(r["float_ops"]) for r in report["rounds"]] == [0, 1, 2]
    assert report["drop_points"] == 0.0 and report["int8"]["miou"] == 1.0  # nothing quantized: FP32's answer
