"""The INT8 accuracy guard around its limit, on the probe: FP32 scores exactly 100% mIoU on its own answers, so
each INT8 model's drop is known, and checked here against an mIoU counted independently. The guard scores both
shipped models: the TensorRT Q/DQ one (run on ONNX Runtime) and the ONNX Runtime u8/s8 one."""
import os

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from conftest import PROBE_SIZE, reference_miou

from edgeseg import quantize as cal
from edgeseg.probe_model import probe_spec, write_probe_dataset
from edgeseg.quantize.guard import guard, guard_calibration


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
    paths = {key: os.path.join(folder, manifest["outputs"][key]["file"])
             for key in ("tensorrt_qdq", "onnxruntime_int8")}

    def run_guard(val, max_drop, paths=paths, **options):
        return guard(probe_onnx, lambda: dict(paths), lambda excluded: cal.requantize(manifest["path"], excluded,
                                                                                      log=quiet),
                     reader, val, max_drop=max_drop, log=quiet, **options)

    return run_guard, paths


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


def test_the_drop_is_fp32_minus_int8_in_points_for_each_shipped_model(calibrated, probe_set):
    run_guard, paths = calibrated
    report = run_guard(probe_set, max_drop=100.0)
    assert report["fp32"]["miou"] == 1.0 and set(report["models"]) == {"tensorrt_qdq", "onnxruntime_int8"}
    for key, path in paths.items():
        int8 = independent_miou(path, probe_set)
        model = report["models"][key]
        assert model["miou"] == pytest.approx(int8, abs=1e-12), key
        assert model["drop_points"] == pytest.approx(100 * (1.0 - int8), abs=1e-9) and model["drop_points"] > 1.0
        for name, change in model["per_class_change_points"].items():  # per class, in points, against FP32's
            fp32 = report["fp32"]["per_class_iou"][name]
            assert change is None if fp32 is None else change == pytest.approx(100 * (model["per_class_iou"][name]
                                                                                      - fp32))
    # the verdict is the worse model's
    worst = max(report["models"], key=lambda k: report["models"][k]["drop_points"])
    assert report["verdict_model"] == worst and report["drop_points"] == report["models"][worst]["drop_points"]
    assert report["passed"] and report["float_ops"] == [] and len(report["rounds"]) == 1


def test_a_drop_just_within_the_limit_passes_untouched(calibrated, probe_set):
    run_guard, _ = calibrated
    drop = run_guard(probe_set, max_drop=100.0)["drop_points"]
    report = run_guard(probe_set, max_drop=drop + 0.01)
    assert report["passed"] and report["float_ops"] == [] and report["drop_points"] == pytest.approx(drop)


QUANTIZED = {"tensorrt_qdq": {"scores"}, "onnxruntime_int8": {"blur", "scores"}}  # the TensorRT model's blur
# reads the image, so it stays float (int8 symmetric cannot hold an 8-bit image)


def test_a_drop_just_over_the_limit_keeps_the_most_sensitive_op_in_float(calibrated, probe_set):
    run_guard, paths = calibrated
    first = run_guard(probe_set, max_drop=100.0)
    drop = first["drop_points"]
    report = run_guard(probe_set, max_drop=drop - 0.01)
    ranking = report["sensitivity"][first["verdict_model"]]  # ranked on the model that failed
    assert len(report["rounds"]) >= 2 and report["float_ops"] == [ranking[0]["node"]]
    assert report["passed"] and all(m["drop_points"] <= drop - 0.01 for m in report["models"].values())
    for key, path in paths.items():  # both models were requantized with the op in float
        assert report["models"][key]["drop_points"] == pytest.approx(
            100 * (1.0 - independent_miou(path, probe_set)), abs=1e-9)
    assert {r["node"] for r in ranking} == QUANTIZED[first["verdict_model"]]  # the ops that model quantizes
    assert [r["sqnr_db"] for r in ranking] == sorted(r["sqnr_db"] for r in ranking)


def test_an_unreachable_limit_stops_with_everything_in_float(calibrated, probe_set):
    """Once the failing model has nothing left to keep float, the other one, which quantizes more, is ranked in
    turn: the guard ends with every op float in both models."""
    run_guard, _ = calibrated
    report = run_guard(probe_set, max_drop=-0.5)
    assert not report["passed"] and sorted(report["float_ops"]) == ["blur", "scores"]
    assert set(report["sensitivity"]) == {"tensorrt_qdq", "onnxruntime_int8"}
    assert [len(r["float_ops"]) for r in report["rounds"]] == [0, 1, 2]
    assert report["drop_points"] == 0.0  # nothing quantized: FP32's answer, in both models
    assert [m["miou"] for m in report["models"].values()] == [1.0, 1.0]


def test_the_verdict_and_the_fallback_follow_the_tensorrt_model_when_it_loses_more(calibrated, probe_set,
                                                                                    probe_onnx):
    """The ONNX Runtime slot scored with the FP32 model (drop 0): the TensorRT Q/DQ model alone exceeds the
    limit, decides the verdict, is the one ranked for sensitivity, and its op goes to float."""
    run_guard, paths = calibrated
    only_trt = {"tensorrt_qdq": paths["tensorrt_qdq"], "onnxruntime_int8": probe_onnx}
    first = run_guard(probe_set, max_drop=100.0, paths=only_trt)
    trt_drop = first["models"]["tensorrt_qdq"]["drop_points"]
    assert first["models"]["onnxruntime_int8"]["drop_points"] == 0.0 and trt_drop > 0.5
    assert first["verdict_model"] == "tensorrt_qdq"
    report = run_guard(probe_set, max_drop=trt_drop - 0.01, paths=only_trt)
    assert list(report["sensitivity"]) == ["tensorrt_qdq"] and report["float_ops"] == ["scores"]
    assert report["models"]["tensorrt_qdq"]["drop_points"] == pytest.approx(
        100 * (1.0 - independent_miou(paths["tensorrt_qdq"], probe_set)), abs=1e-9)
    assert report["passed"] == (report["models"]["tensorrt_qdq"]["drop_points"] <= trt_drop - 0.01)


def test_the_fallback_keeps_the_most_sensitive_of_the_onnx_runtime_model_when_it_alone_fails(calibrated, probe_set,
                                                                                               probe_onnx):
    """The TensorRT slot scored with the FP32 model: ONNX Runtime's model, which quantizes both ops, is ranked
    and its most sensitive op (lowest SQNR) goes to float first."""
    run_guard, paths = calibrated
    only_ort = {"tensorrt_qdq": probe_onnx, "onnxruntime_int8": paths["onnxruntime_int8"]}
    drop = run_guard(probe_set, max_drop=100.0, paths=only_ort)["models"]["onnxruntime_int8"]["drop_points"]
    report = run_guard(probe_set, max_drop=drop - 0.01, paths=only_ort)
    ranking = report["sensitivity"]["onnxruntime_int8"]
    assert [r["node"] for r in ranking] and {r["node"] for r in ranking} == QUANTIZED["onnxruntime_int8"]
    assert [r["sqnr_db"] for r in ranking] == sorted(r["sqnr_db"] for r in ranking)
    assert report["rounds"][1]["float_ops"] == [ranking[0]["node"]]


def test_a_calibration_records_both_models_figures(probe_onnx, probe_set, tmp_path):
    """guard_calibration: the report beside the manifest, each model's mIoU and drop in the manifest."""
    data = write_probe_dataset(str(tmp_path / "scenes"), 4, PROBE_SIZE, seed=81)
    manifest = cal.calibrate(probe_onnx, data, num=4, method="minmax", out_dir=str(tmp_path / "c"), log=quiet)
    report = guard_calibration(manifest["path"], probe_set, max_drop=100.0, log=quiet)
    recorded = cal.read_manifest(manifest["path"])
    accuracy = recorded["accuracy"]
    assert accuracy["passed"] and accuracy["val"] == probe_set and accuracy["fp32_miou"] == 1.0
    assert {k: v["miou"] for k, v in accuracy["models"].items()} == {k: v["miou"] for k, v in report["models"].items()}
    for key in ("tensorrt_qdq", "onnxruntime_int8"):
        assert accuracy["models"][key]["miou"] == pytest.approx(independent_miou(recorded["outputs"][key], probe_set),
                                                                abs=1e-12)
    assert os.path.isfile(os.path.join(recorded["folder"], accuracy["report"]))
    for key, model in report["models"].items():  # the drop's 95% interval over the val images, recorded too
        low, high = model["drop_interval_points"]
        assert low <= high and accuracy["models"][key]["drop_interval_points"] == [low, high]


def test_build_reports_the_figures_of_the_model_it_builds():
    """TensorRT on the GPU builds the Q/DQ model, ONNX Runtime its own, a DLA core the cache (never measured)."""
    from edgeseg.runtime.builder import _int8_accuracy

    calibrated = {"accuracy": {"val": "VAL", "fp32_miou": 0.7, "max_drop": 0.5, "models": {
        "tensorrt_qdq": {"miou": 0.694, "drop_points": 0.6}, "onnxruntime_int8": {"miou": 0.697, "drop_points": 0.3}}}}
    gpu, ort, dla = (_int8_accuracy(calibrated, True, None), _int8_accuracy(calibrated, False, None),
                     _int8_accuracy(calibrated, True, 0))
    assert (gpu["model"], gpu["miou"], gpu["passed"]) == ("tensorrt_qdq", 0.694, False)
    assert (ort["model"], ort["miou"], ort["passed"]) == ("onnxruntime_int8", 0.697, True)
    assert (dla["model"], dla["measured"]) == ("tensorrt_cache", False) and "only in TensorRT" in dla["why"]
    assert _int8_accuracy({}, True, None) == {"model": "tensorrt_qdq", "measured": False,
                                              "why": "calibrate with --val LABELLED_DATA to measure it"}
