"""The newer graphs through INT8 without torch: U-Net at width 0.25 and an odd size (its constant zero padding and
crop in the graph) and FCN-ResNet18 (1/32 logits) → calibrate → build int8, in subprocesses that cannot import
torch. (Running INT8 artifacts, and their numbers, are tested on the probe in test_int8_chain.py.)"""
import json

import pytest
from conftest import run_cli

from edgeseg.artifacts import read_sidecar
from edgeseg.data.synthetic import write_dataset
from edgeseg.workstation.export import export


@pytest.mark.parametrize("name, size, width", [("unet", (100, 75), 0.25), ("fcn_resnet18", (128, 64), None)])
def test_new_model_calibrates_and_builds_int8_without_torch(tmp_path, name, size, width):
    model = str(tmp_path / "{}.onnx".format(name))
    export(name, 8, size, model, width=width, classes="synthetic", log=lambda *_: None)
    data = write_dataset(str(tmp_path / "scenes"), 4, 200, 150, seed=9)
    calibrated = run_cli("calibrate", model, "--data", data, "--num", "4", "--method", "minmax",
                         "--out", tmp_path / "calibration", "--json", tmp_path / "calib.json", block_torch=True)
    assert calibrated.returncode == 0, calibrated.stderr
    manifest = json.loads((tmp_path / "calib.json").read_text())["manifest"]
    built = run_cli("build", model, "--precision", "int8", "--calibration", manifest,
                    "-o", tmp_path / "model_int8.engine", "--json", tmp_path / "build.json", block_torch=True)
    assert built.returncode == 0, built.stderr
    artifact = json.loads((tmp_path / "build.json").read_text())["artifact"]
    record = read_sidecar(artifact)
    assert record["precision"] == "int8" and record["parent"]["file"] == name + ".onnx"
    assert record["quantization"]["quantized_nodes"] > 10
