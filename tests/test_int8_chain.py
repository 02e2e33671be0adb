"""calibrate → build int8 → bench/eval through the CLI, and the accuracy guard (real ORT, real models)."""
import json
import os

import pytest

from edgeseg.artifacts import read_sidecar
from edgeseg.data.synthetic import write_dataset
from edgeseg.export import export

from conftest import run_cli


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8")
    path = str(folder / "lraspp.onnx")
    export("lraspp_mobilenetv3", 8, (128, 64), path, classes="synthetic", log=lambda *_: None)
    data = write_dataset(str(folder / "scenes"), 6, 192, 96, seed=9)
    return path, data, folder


def test_calibrate_build_int8_bench_without_torch(fp32):
    model, data, folder = fp32
    result = run_cli("calibrate", model, "--data", data, "--num", "4", "--method", "minmax",
                     "--out", folder / "calibration", "--json", folder / "calib.json", block_torch=True)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((folder / "calib.json").read_text())["manifest"]
    built = folder / "lraspp_int8.engine"
    result = run_cli("build", model, "--precision", "int8", "--calibration", manifest, "-o", built,
                     "--json", folder / "build.json", block_torch=True)
    assert result.returncode == 0, result.stderr
    assert "TensorRT not found" in result.stdout and "INT8" in result.stdout
    artifact = json.loads((folder / "build.json").read_text())["artifact"]
    record = read_sidecar(artifact)
    assert artifact.endswith(".ort.onnx") and record["precision"] == "int8"
    assert record["quantization"]["activations"] and record["parent"]["file"] == "lraspp.onnx"
    bench = run_cli("bench", model, artifact, "--iterations", "3", "--warmup", "1", block_torch=True)
    assert bench.returncode == 0 and "int8" in bench.stdout


def test_int8_build_needs_a_calibration_of_this_model(fp32, tmp_path):
    model, data, folder = fp32
    result = run_cli("build", model, "--precision", "int8", block_torch=True)
    assert result.returncode == 2 and "edgeseg calibrate" in result.stderr
    other = str(tmp_path / "other.onnx")
    export("lraspp_mobilenetv3", 8, (128, 64), other, log=lambda *_: None, weights=None)
    with open(other, "ab") as f:
        f.write(b" ")  # same graph, another file: its hash differs
    os.remove(other + ".json")
    calibrated = run_cli("calibrate", model, "--data", data, "--num", "2", "--method", "minmax",
                         "--out", tmp_path / "cal", "--json", tmp_path / "c.json", block_torch=True)
    assert calibrated.returncode == 0, calibrated.stderr
    manifest = json.loads((tmp_path / "c.json").read_text())["manifest"]
    refused = run_cli("build", other, "--precision", "int8", "--calibration", manifest, block_torch=True)
    assert refused.returncode == 2 and "calibrated for lraspp.onnx" in refused.stderr


def test_accuracy_guard_reports_per_class_and_passes_within_the_limit(fp32):
    model, data, folder = fp32
    result = run_cli("calibrate", model, "--data", data, "--num", "4", "--method", "minmax", "--val", data,
                     "--max-drop", "100", "--out", folder / "guarded", "--json", folder / "guarded.json",
                     block_torch=True)
    assert result.returncode == 0, result.stderr
    assert "FP32" in result.stdout and "INT8" in result.stdout and "road" in result.stdout
    accuracy = json.loads((folder / "guarded.json").read_text())["accuracy"]
    assert accuracy["passed"] and accuracy["float_ops"] == []


def test_accuracy_guard_keeps_sensitive_ops_in_float_then_stops_with_a_report(fp32):
    model, data, folder = fp32
    result = run_cli("calibrate", model, "--data", data, "--num", "4", "--method", "minmax", "--val", data,
                     "--max-drop", "-100", "--out", folder / "strict", "--json", folder / "strict.json",
                     block_torch=True)
    assert result.returncode == 2 and "even with" in result.stderr and "accuracy.json" in result.stderr
    accuracy = json.loads((folder / "strict.json").read_text())["accuracy"]
    assert not accuracy["passed"] and len(accuracy["float_ops"]) >= 2
    manifest = json.loads((folder / "strict.json").read_text())["manifest"]
    report = json.load(open(os.path.join(os.path.dirname(manifest), "accuracy.json")))
    assert [len(r["float_ops"]) for r in report["rounds"]][:3] == [0, 1, 2]
    assert report["sensitivity"][0]["sqnr_db"] <= report["sensitivity"][-1]["sqnr_db"]
    int8 = os.path.join(os.path.dirname(manifest), json.load(open(manifest))["outputs"]["onnxruntime_int8"])
    assert read_sidecar(os.path.normpath(int8))["quantization"]["excluded_nodes"] == accuracy["float_ops"]


def test_build_engine_script_runs_the_chain_and_prints_one_table(fp32, tmp_path):
    import subprocess

    from conftest import REPO

    _, data, _ = fp32
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


def test_build_engine_script_takes_an_exported_onnx_without_torch(fp32, tmp_path):
    """The device path: the model was exported on a workstation, and torch is not installed here."""
    import subprocess
    import sys

    from conftest import REPO

    model, _, _ = fp32
    env = dict(os.environ, EDGESEG="{} -m edgeseg".format(sys.executable), PYTHON=sys.executable,
               PYTHONPATH=os.path.join(REPO, "tests", "torch_blocker"))
    result = subprocess.run([os.path.join(REPO, "scripts", "build_engine.sh"), model, "--out", str(tmp_path / "dev")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "edgeseg export" not in result.stderr and "+ edgeseg build {}".format(model) in result.stderr
    assert "| lraspp_fp16.ort.onnx |" in result.stdout and (tmp_path / "dev" / "lraspp_fp16.ort.onnx").is_file()
    missing = subprocess.run([os.path.join(REPO, "scripts", "build_engine.sh"), str(tmp_path / "none.onnx")],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                             env=env)
    assert missing.returncode == 2 and "no such ONNX file" in missing.stderr
