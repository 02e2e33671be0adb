"""scripts/jetson_selftest.py: on a machine without TensorRT it says so (exit 2); under the TensorRT test
double it runs every variant (fp16/int8 x GPU/DLA0/DLA1) end to end — the glue, not TensorRT."""
import os
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = os.path.join(REPO, "scripts", "jetson_selftest.py")


def selftest(tmp_path, env_extra):
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [env_extra.get("PYTHONPATH"), REPO] if p)
    return subprocess.run([sys.executable, SCRIPT, "--models", "lraspp_mobilenetv3", "--size", "128x64",
                           "--iterations", "2", "--out", str(tmp_path)], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)


def test_without_tensorrt_it_says_where_it_runs(tmp_path):
    result = selftest(tmp_path, {})
    assert result.returncode == 2 and "runs on a Jetson" in result.stdout


@pytest.mark.parametrize("flavour", ["8.5"])
def test_every_variant_runs_under_the_tensorrt_double(tmp_path, flavour):
    double = os.path.join(REPO, "tests", "trt_double")
    result = selftest(tmp_path, {"PYTHONPATH": double, "EDGESEG_TRT_DOUBLE": flavour})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "6 of 6 passed" in result.stdout and "| int8 | DLA1 | PASS" in result.stdout
