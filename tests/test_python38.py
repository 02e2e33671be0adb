"""The device side on a real Python 3.8 (JetPack 5's), with the interpreters scripts/setup_py38.sh makes:
python3.8 with onnxruntime and OpenCV, no torch; python3.8 with numpy 1.17.5 (JetPack 5's numpy) and OpenCV.
They run under plain pytest wherever a python3.8 exists (the fixture makes the environments), and skip
with the reason where none does."""
import json
import os
import subprocess

import pytest

from conftest import REPO, run_cli


def test_the_device_chain_runs_on_python38(python38_envs, logits_onnx, probe_onnx, probe_set, street_video, tmp_path):
    py38 = python38_envs["EDGESEG_PY38"]
    version = subprocess.run([py38, "-c", "import sys; print(sys.version_info[:2])"], stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.strip()
    assert version == "(3, 8)"
    built = tmp_path / "model.ort.onnx"
    steps = [
        ("build", logits_onnx, "--precision", "fp32", "-o", built),
        ("run", built, "--source", street_video, "--output", tmp_path / "out.mp4", "--report", tmp_path / "r.json",
         "--no-display"),
        ("bench", built, "--iterations", "3", "--warmup", "1"),
        ("build", probe_onnx, "--precision", "fp32", "-o", tmp_path / "probe.ort.onnx"),
        ("eval", tmp_path / "probe.ort.onnx", "--data", probe_set, "--json", tmp_path / "eval.json"),
        ("info", built),
        ("info",),
        ("export-deepstream", logits_onnx, "-o", tmp_path / "deepstream", "--source", street_video),
        ("export-triton", logits_onnx, "-o", tmp_path / "triton"),
    ]
    for step in steps:
        result = run_cli(*step, python=py38, block_torch=True)
        assert result.returncode == 0, (step, result.stderr)
    assert json.loads((tmp_path / "r.json").read_text())["output_frames"] == 12
    assert json.loads((tmp_path / "eval.json").read_text())["miou"] == 1.0  # the probe's exact answer
    assert (tmp_path / "deepstream" / "config_infer_primary.txt").is_file()
    assert (tmp_path / "triton" / "unet_logits" / "1" / "model.onnx").is_file()


def test_numpy_and_opencv_modules_pass_their_tests_on_numpy117(python38_envs):
    py38 = python38_envs["EDGESEG_PY38_NUMPY117"]
    numpy_version = subprocess.run([py38, "-c", "import numpy; print(numpy.__version__)"], stdout=subprocess.PIPE,
                                   universal_newlines=True).stdout.strip()
    assert numpy_version.startswith("1.17.")
    tests = ["tests/test_preprocess.py", "tests/test_metrics.py", "tests/test_artifacts.py", "tests/test_palettes.py",
             "tests/test_synthetic.py", "tests/test_sources.py", "tests/test_frame_report.py",
             "tests/test_transforms.py", "tests/test_class_weights.py", "tests/test_datasets.py"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests", "torch_blocker")]))
    result = subprocess.run([py38, "-m", "pytest", "-q", "-p", "no:cacheprovider"] + tests, cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_build_graph_edits_run_on_numpy117(python38_envs, probe_onnx, tmp_path):
    """What `edgeseg build` does before TensorRT sees the model, with Dockerfile.jetson's onnx and JetPack 5's
    numpy: the probe gets its preprocessing folded in and ArgMax appended, as for TensorRT."""
    py38 = python38_envs["EDGESEG_PY38_NUMPY117"]
    code = ("import sys, json, onnx, numpy\n"
            "from edgeseg.artifacts import read_sidecar\n"
            "from edgeseg.preprocess import PreprocessSpec\n"
            "from edgeseg.runtime.pixel_graph import edit_for_build\n"
            "spec = PreprocessSpec.from_dict(read_sidecar(sys.argv[1])['preprocess'])\n"
            "record = edit_for_build(sys.argv[1], sys.argv[2], spec, 'tensorrt', True, True)\n"
            "graph = onnx.load(sys.argv[2]).graph\n"
            "print(json.dumps([numpy.__version__, onnx.__version__, [n.op_type for n in graph.node],\n"
            "                  graph.input[0].name, graph.output[0].name]))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests", "torch_blocker")]))
    result = subprocess.run([py38, "-c", code, probe_onnx, str(tmp_path / "edited.onnx")], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert result.returncode == 0, result.stdout
    numpy_version, onnx_version, ops, name_in, name_out = json.loads(result.stdout.splitlines()[-1])
    assert numpy_version.startswith("1.17.") and onnx_version == "1.15.0"
    assert ops == ["Cast", "Transpose", "Conv", "Conv", "Conv", "Add", "ArgMax", "Cast", "Cast"]
    assert (name_in, name_out) == ("frame", "classmap")
