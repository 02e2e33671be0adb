"""calibrate → build int8 → eval through the CLI, the accuracy guard's command line, build_engine.sh (real ORT,
real models)."""
import json
import os

import pytest
from conftest import PROBE_SIZE, run_cli

from edgeseg.artifacts import read_sidecar
from edgeseg.data.synthetic import write_dataset
from edgeseg.probe_model import write_probe_dataset, write_probe_model


@pytest.fixture(scope="module")
def probe_scenes(tmp_path_factory):
    return write_probe_dataset(str(tmp_path_factory.mktemp("probe_scenes")), 6, PROBE_SIZE, seed=90)


def test_calibrate_build_int8_eval_without_torch(probe_onnx, probe_scenes, probe_set, tmp_path):
    """The INT8 chain on a model whose answer is known: the INT8 artifact scores below FP32's exact 100%,
    by what quantization costs, no more."""
    result = run_cli("calibrate", probe_onnx, "--data", probe_scenes, "--num", "4", "--method", "minmax",
                     "--out", tmp_path / "calibration", "--json", tmp_path / "calib.json", block_torch=True)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "calib.json").read_text())["manifest"]
    built = tmp_path / "probe_int8.engine"
    result = run_cli("build", probe_onnx, "--precision", "int8", "--calibration", manifest, "-o", built,
                     "--json", tmp_path / "build.json", block_torch=True)
    assert result.returncode == 0, result.stderr
    assert "TensorRT not found" in result.stdout and "INT8" in result.stdout
    artifact = json.loads((tmp_path / "build.json").read_text())["artifact"]
    record = read_sidecar(artifact)
    assert artifact.endswith(".ort.onnx") and record["precision"] == "int8"
    assert record["quantization"]["activations"] and record["parent"]["file"] == "probe.onnx"
    result = run_cli("eval", artifact, "--data", probe_set, "--json", tmp_path / "eval.json", block_torch=True)
    assert result.returncode == 0, result.stderr
    miou = json.loads((tmp_path / "eval.json").read_text())["miou"]
    assert 0.8 < miou < 0.999, miou


def test_int8_build_needs_a_calibration_of_this_model(probe_onnx, probe_scenes, tmp_path):
    result = run_cli("build", probe_onnx, "--precision", "int8", block_torch=True)
    assert result.returncode == 2 and "edgeseg calibrate" in result.stderr
    other = str(tmp_path / "other.onnx")
    write_probe_model(other, PROBE_SIZE)
    with open(other, "ab") as f:
        f.write(b" ")  # same graph, another file: its hash differs
    os.remove(other + ".json")
    calibrated = run_cli("calibrate", probe_onnx, "--data", probe_scenes, "--num", "2", "--method", "minmax",
                         "--out", tmp_path / "cal", "--json", tmp_path / "c.json", block_torch=True)
    assert calibrated.returncode == 0, calibrated.stderr
    manifest = json.loads((tmp_path / "c.json").read_text())["manifest"]
    refused = run_cli("build", other, "--precision", "int8", "--calibration", manifest, block_torch=True)
    assert refused.returncode == 2 and "calibrated for probe.onnx" in refused.stderr


def test_accuracy_guard_through_the_cli(probe_onnx, probe_scenes, probe_set, tmp_path):
    """--val/--max-drop: a per-class table, the report, exit 1 (a check failed) naming it when the limit cannot be met
    (the guard's logic around its limit is in test_int8_guard.py)."""
    result = run_cli("calibrate", probe_onnx, "--data", probe_scenes, "--num", "4", "--method", "minmax",
                     "--val", probe_set, "--max-drop", "100", "--out", tmp_path / "ok", "--json",
                     tmp_path / "ok.json", block_torch=True)
    assert result.returncode == 0, result.stderr
    assert "FP32" in result.stdout and "INT8" in result.stdout and "road" in result.stdout
    accuracy = json.loads((tmp_path / "ok.json").read_text())["accuracy"]
    assert accuracy["passed"] and accuracy["float_ops"] == [] and accuracy["drop_points"] > 0.1
    assert "TensorRT Q/DQ" in result.stdout and "ONNX Runtime" in result.stdout  # both shipped models' columns
    assert set(accuracy["models"]) == {"tensorrt_qdq", "onnxruntime_int8"}
    assert accuracy["drop_points"] == max(m["drop_points"] for m in accuracy["models"].values())
    # build says what was measured for the INT8 model it builds (here ONNX Runtime's: no TensorRT)
    manifest = json.loads((tmp_path / "ok.json").read_text())["manifest"]
    built = run_cli("build", probe_onnx, "--precision", "int8", "--calibration", manifest, "-o",
                    tmp_path / "probe_int8.ort.onnx", block_torch=True)
    assert built.returncode == 0, built.stderr
    measured = accuracy["models"]["onnxruntime_int8"]
    assert "INT8 accuracy of the model built (onnxruntime_int8), measured by calibrate on {}: mIoU {:.2%}".format(
        probe_set, measured["miou"]) in built.stdout
    recorded = read_sidecar(str(tmp_path / "probe_int8.ort.onnx"))["int8_accuracy"]
    assert (recorded["model"], recorded["miou"], recorded["measured"]) == ("onnxruntime_int8", measured["miou"], True)
    result = run_cli("calibrate", probe_onnx, "--data", probe_scenes, "--num", "4", "--method", "minmax",
                     "--val", probe_set, "--max-drop", "-1", "--out", tmp_path / "strict", "--json",
                     tmp_path / "strict.json", block_torch=True)
    assert result.returncode == 1 and "even with 2 op(s)" in result.stderr and "accuracy.json" in result.stderr
    accuracy = json.loads((tmp_path / "strict.json").read_text())["accuracy"]
    assert not accuracy["passed"] and sorted(accuracy["float_ops"]) == ["blur", "scores"]
    manifest = json.loads((tmp_path / "strict.json").read_text())["manifest"]
    int8 = os.path.join(os.path.dirname(manifest), json.load(open(manifest))["outputs"]["onnxruntime_int8"]["file"])
    assert read_sidecar(os.path.normpath(int8))["quantization"]["excluded_nodes"] == accuracy["float_ops"]


def test_build_engine_script_runs_the_chain_and_prints_one_table(tmp_path):
    import subprocess

    from conftest import REPO

    data = write_dataset(str(tmp_path / "scenes"), 6, 192, 96, seed=9)
    result = subprocess.run(
        [os.path.join(REPO, "scripts", "build_engine.sh"), "lraspp_mobilenetv3", "--num-classes", "8",
         "--input-size", "128x64", "--calib-data", data, "--val-data", data, "--precision", "int8",
         "--profile", os.path.join(REPO, "engines", "xavier_nx.json"), "--out", str(tmp_path / "chain")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600,
        env=dict(os.environ, EDGESEG="{} -m edgeseg".format(__import__("sys").executable),
                 PYTHON=__import__("sys").executable))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = result.stdout[result.stdout.index("== build_engine.sh summary"):]
    assert "TensorRT not found" in summary and "| int8 |" in summary
    assert summary.count("\n| lraspp_mobilenetv3_128x64") == 2


def test_build_engine_script_takes_an_exported_onnx_without_torch(probe_onnx, tmp_path):
    """The device path: the model was exported on a workstation, and torch is not installed here."""
    import subprocess
    import sys

    from conftest import REPO

    model = probe_onnx
    env = dict(os.environ, EDGESEG="{} -m edgeseg".format(sys.executable), PYTHON=sys.executable,
               PYTHONPATH=os.path.join(REPO, "tests", "torch_blocker"))
    result = subprocess.run([os.path.join(REPO, "scripts", "build_engine.sh"), model, "--out", str(tmp_path / "dev")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "edgeseg export" not in result.stderr and "+ edgeseg build {}".format(model) in result.stderr
    assert "| probe_fp16.ort.onnx |" in result.stdout and (tmp_path / "dev" / "probe_fp16.ort.onnx").is_file()
    missing = subprocess.run([os.path.join(REPO, "scripts", "build_engine.sh"), str(tmp_path / "none.onnx")],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                             env=env)
    assert missing.returncode == 2 and "no such ONNX file" in missing.stderr
