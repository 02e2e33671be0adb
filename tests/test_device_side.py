"""House rules: the device side imports without torch and is Python 3.8 code."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

DEVICE_MODULES = ["edgeseg.cli", "edgeseg.runtime", "edgeseg.runtime.builder", "edgeseg.stream.loop",
                  "edgeseg.profiling", "edgeseg.metrics", "edgeseg.preprocess", "edgeseg.artifacts",
                  "edgeseg.palettes", "edgeseg.errors", "edgeseg.envinfo", "edgeseg.evaluate", "edgeseg.bench",
                  "edgeseg.data.pairs", "edgeseg.data.synthetic", "edgeseg.data.datasets",
                  "edgeseg.data.transforms", "edgeseg.data.class_weights", "edgeseg.models",
                  "edgeseg.calibrate", "edgeseg.int8_guard", "edgeseg.runtime.profiles", "edgeseg.report.plot", "edgeseg.jetson.tegrastats",
                  "edgeseg.stream.pipeline", "edgeseg.stream.sources", "edgeseg.stream.render",
                  "edgeseg.deploy.facts", "edgeseg.deploy.deepstream", "edgeseg.deploy.triton", "edgeseg.probe_model", "edgeseg.report.frame_log",
                  "edgeseg.trt_cache", "edgeseg.runtime.trt_compat", "edgeseg.runtime.tensorrt",
                  "edgeseg.fusion_lint"]
DEVICE_PATHS = ["edgeseg/runtime", "edgeseg/stream", "edgeseg/deploy", "edgeseg/data/pairs.py", "edgeseg/data/synthetic.py",
                "edgeseg/data/datasets.py", "edgeseg/data/transforms.py", "edgeseg/data/class_weights.py",
                "edgeseg/data/__init__.py", "edgeseg/models/__init__.py", "edgeseg/calibrate.py",
                "edgeseg/int8_guard.py", "edgeseg/report", "edgeseg/probe_model.py", "edgeseg/jetson",
                "edgeseg/cli", "edgeseg/progress.py", "edgeseg/profiling.py", "edgeseg/metrics.py", "edgeseg/preprocess.py",
                "edgeseg/artifacts.py", "edgeseg/palettes.py", "edgeseg/errors.py", "edgeseg/envinfo.py",
                "edgeseg/evaluate.py", "edgeseg/bench.py", "edgeseg/__init__.py", "edgeseg/__main__.py",
                "edgeseg/trt_cache.py", "edgeseg/fusion_lint.py"]


def test_device_side_imports_without_torch():
    blocker = os.path.join(REPO, "tests", "torch_blocker")
    code = "import {}; import sys; assert 'torch' not in sys.modules".format(", ".join(DEVICE_MODULES))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=blocker),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 0, result.stderr


def test_export_without_torch_says_what_to_install():
    from conftest import run_cli

    result = run_cli("export", "deeplabv3_mobilenetv3", "--num-classes", "3", "--input-size", "64x64", "-o", "x.onnx",
                     block_torch=True)
    assert result.returncode == 2 and "pip install" in result.stderr and "Traceback" not in result.stderr


def test_device_side_is_python38_code():
    vermin = shutil.which("vermin") or os.path.join(os.path.dirname(sys.executable), "vermin")
    if not os.path.exists(vermin):
        pytest.skip("vermin not installed (pip install edgeseg[dev])")
    result = subprocess.run([vermin, "-q", "--no-tips", "--eval-annotations", "-t=3.8-", "--violations"]
                            + DEVICE_PATHS, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout
