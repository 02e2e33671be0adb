"""The device side on a real Python 3.8 (JetPack 5's), with the interpreters scripts/setup_py38.sh makes:
python3.8 with onnxruntime and OpenCV, no torch; python3.8 with numpy 1.17.5 (JetPack 5's numpy) and OpenCV.
They run under plain pytest wherever a python3.8 exists (the fixture makes the environments), and skip
with the reason where none does."""
import json
import os
import subprocess

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


def test_the_tensorrt_glue_runs_on_python38(python38_envs, probe_onnx, probe_set, tmp_path):
    """JetPack 5's interpreter through the TensorRT 8.5 double: calibrate, build fp16 and DLA int8 (the cache
    re-tagged), eval the engines' class maps against the probe's exact answer, bench. This interpreter has no
    torch at all (checked), as on a device; the torch blocker is not used: its stand-in package makes
    onnxruntime 1.19's quantization tools (py3.8) find "torch" and import it."""
    py38 = python38_envs["EDGESEG_PY38"]
    assert subprocess.run([py38, "-c", "import torch"], stderr=subprocess.DEVNULL).returncode != 0
    env = dict(os.environ, EDGESEG_TRT_DOUBLE="8.5",
               PYTHONPATH=os.pathsep.join([os.path.join(REPO, "tests", "trt_double"), REPO]))
    calibration = tmp_path / "calibration"
    steps = [
        ("calibrate", probe_onnx, "--data", probe_set, "--num", "8", "--out", calibration,
         "--json", tmp_path / "calib.json"),
        ("build", probe_onnx, "--precision", "fp16", "-o", tmp_path / "probe_fp16.engine"),
        ("eval", tmp_path / "probe_fp16.engine", "--data", probe_set, "--json", tmp_path / "fp16.json"),
    ]
    for step in steps:
        result = run_cli(*step, python=py38, env=env)
        assert result.returncode == 0, (step, result.stderr)
    manifest = json.loads((tmp_path / "calib.json").read_text())["manifest"]
    for step in [("build", probe_onnx, "--precision", "int8", "--calibration", manifest, "--dla-core", "1",
                  "-o", tmp_path / "probe_int8_dla1.engine"),
                 ("eval", tmp_path / "probe_int8_dla1.engine", "--data", probe_set, "--json", tmp_path / "int8.json"),
                 ("bench", tmp_path / "probe_int8_dla1.engine", "--iterations", "3", "--warmup", "1")]:
        result = run_cli(*step, python=py38, env=env)
        assert result.returncode == 0, (step, result.stderr)
    assert json.loads((tmp_path / "fp16.json").read_text())["miou"] == 1.0  # the double runs the FP32 probe
    assert json.loads((tmp_path / "int8.json").read_text())["miou"] == 1.0
    sidecar = json.loads((tmp_path / "probe_int8_dla1.engine.json").read_text())
    assert (sidecar["tensorrt_version"], sidecar["int8_mode"], sidecar["calibration_cache_header"]) == (
        "8.5.2.2", "implicit-cache", "TRT-8502-EntropyCalibration2")
