"""House rules: the device side imports without torch and is Python 3.8 code."""
import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

WORKSTATION = os.path.join("edgeseg", "workstation")  # the torch side; everything else in edgeseg/ is the device's


def device_files():
    """Every module of the device side: the .py files under edgeseg/ outside edgeseg/workstation/."""
    found = []
    for root, dirs, files in os.walk(os.path.join(REPO, "edgeseg")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__"
                         and os.path.relpath(os.path.join(root, d), REPO) != WORKSTATION)
        found.extend(os.path.relpath(os.path.join(root, f), REPO) for f in sorted(files) if f.endswith(".py"))
    return found


def device_modules():
    """The device side's module names (`edgeseg.__main__` aside: importing it runs the CLI)."""
    names = [path[:-len(".py")].replace(os.sep, ".") for path in device_files()]
    return [name[:-len(".__init__")] if name.endswith(".__init__") else name for name in names
            if name != "edgeseg.__main__"]


DEVICE_MODULES = device_modules()
DEVICE_PATHS = device_files()


def test_the_device_side_is_found_by_folder():
    expected = {"edgeseg.cli", "edgeseg.quantize.stage", "edgeseg.runtime.tensorrt", "edgeseg.imageio"}
    assert expected <= set(DEVICE_MODULES)
    assert not [name for name in DEVICE_MODULES if name.startswith("edgeseg.workstation")]
    assert len(DEVICE_MODULES) > 50


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
