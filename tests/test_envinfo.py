import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

from edgeseg import envinfo
from edgeseg.jetson import board

REPO = Path(__file__).resolve().parents[1]

RELEASE_JP511 = (
    "# R35 (release), REVISION: 3.1, GCID: 32827747, BOARD: t186ref, EABI: aarch64, "
    "DATE: Sun Mar 19 15:19:21 UTC 2023\n"
    "# KERNEL_VARIANT: oot\n"
    "TARGET_USERSPACE_LIB_DIR=nvidia\n"
)
NVPMODEL_OUTPUT = "NV Fan Mode:quiet\nNV Power Mode: MODE_20W_6CORE\n8\n"


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def jetson_files(tmp_path):
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Xavier NX Developer Kit\x00")
    release = tmp_path / "nv_tegra_release"
    release.write_text(RELEASE_JP511)
    nvpmodel = _script(tmp_path / "nvpmodel", "cat <<'EOF'\n" + NVPMODEL_OUTPUT + "EOF\n")
    return str(model), str(release), nvpmodel


def test_collect_reports_this_machine():
    from importlib import metadata
    from importlib.util import find_spec

    import cv2
    import onnxruntime

    info = envinfo.collect()
    assert info["torch"] == (metadata.version("torch") if find_spec("torch") else None)
    assert info["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert info["onnxruntime"] == onnxruntime.__version__
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    assert info["opencv"] == cv2.__version__
    assert isinstance(info["opencv_gstreamer"], bool)
    for key in ("tensorrt_version", "pycuda_version", "cuda_device", "compute_capability",
                "jetson_model", "l4t", "jetpack", "power_mode", "torch", "numpy", "machine"):
        assert key in info


def test_collect_does_not_import_torch():
    code = (
        "import sys, edgeseg.envinfo\n"
        "edgeseg.envinfo.collect()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=str(REPO), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, universal_newlines=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout


def test_torch_version_from_metadata_only(monkeypatch):
    monkeypatch.setattr(envinfo.importlib.util, "find_spec", lambda name: None)
    assert envinfo.torch_version() is None


def test_jetson_facts_from_fixture_files(jetson_files):
    model, release, nvpmodel = jetson_files
    info = envinfo.collect(model_path=model, release_path=release, nvpmodel=nvpmodel)
    assert info["jetson_model"] == "NVIDIA Jetson Xavier NX Developer Kit"
    assert info["l4t"] == "35.3.1"
    assert info["jetpack"] == "5.1.1"
    assert info["power_mode"] == "MODE_20W_6CORE"
    report = envinfo.format_report(info)
    assert "jetson           NVIDIA Jetson Xavier NX Developer Kit" in report
    assert "l4t              35.3.1 (JetPack 5.1.1)" in report
    assert "power mode       MODE_20W_6CORE" in report


def test_missing_jetson_files_and_command_give_none(tmp_path):
    info = envinfo.collect(
        model_path=str(tmp_path / "no-model"),
        release_path=str(tmp_path / "no-release"),
        nvpmodel=str(tmp_path / "no-nvpmodel"),
    )
    assert info["jetson_model"] is None
    assert info["l4t"] is None
    assert info["jetpack"] is None
    assert info["power_mode"] is None
    assert "jetson           not detected" in envinfo.format_report(info)


@pytest.mark.parametrize(
    "text, l4t, jetpack",
    [
        ("# R35 (release), REVISION: 1.0, GCID: 31346300, BOARD: t186ref", "35.1.0", "5.0.2"),
        ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref", "35.4.1", "5.1.2"),
        ("# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref", "35.5.0", "5.1.3"),
        ("# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic", "36.3.0", "6.0"),
        ("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t186ref", "32.7.1", "4.6.1"),
        ("# R99 (release), REVISION: 1", "99.1.0", None),
        ("not a release file", None, None),
        ("", None, None),
    ],
)
def test_parse_l4t_release(text, l4t, jetpack):
    assert board.parse_l4t_release(text) == l4t
    assert board.jetpack_for_l4t(l4t) == jetpack


def test_unreadable_files_give_none(tmp_path):
    assert board.jetson_model(str(tmp_path)) is None  # a directory
    empty = tmp_path / "empty"
    empty.write_bytes(b"\x00")
    assert board.jetson_model(str(empty)) is None
    assert board.l4t_release(str(tmp_path)) is None


def test_power_mode_tolerates_bad_commands(tmp_path):
    assert board.power_mode(str(tmp_path / "absent")) is None
    silent = _script(tmp_path / "silent", "exit 1\n")
    assert board.power_mode(silent) is None
    slow = _script(tmp_path / "slow", "exec sleep 10\n")
    assert board.power_mode(slow, timeout=0.3) is None


def test_gstreamer_line_parsing():
    yes = "  Video I/O:\n    FFMPEG:                      YES\n    GStreamer:                   YES (1.16.3)\n"
    no = "  Video I/O:\n    GStreamer:                   NO\n"
    assert envinfo.gstreamer_enabled(yes) is True
    assert envinfo.gstreamer_enabled(no) is False
    assert envinfo.gstreamer_enabled("  Video I/O:\n    FFMPEG: YES\n") is None


def test_tensorrt_facts_come_from_the_runtime_module(monkeypatch):
    fake = types.ModuleType("edgeseg.runtime.tensorrt")
    fake.environment = lambda: {
        "tensorrt_version": "8.5.2.2",
        "pycuda_version": "2022.1",
        "cuda_device": "Xavier",
        "compute_capability": (7, 2),
    }
    monkeypatch.setitem(sys.modules, "edgeseg.runtime.tensorrt", fake)
    info = envinfo.collect()
    assert info["tensorrt_version"] == "8.5.2.2"
    report = envinfo.format_report(info)
    assert "tensorrt         8.5.2.2" in report
    assert "pycuda           2022.1" in report
    assert "cuda device      Xavier (compute 7.2)" in report


@pytest.mark.parametrize("module", [None, "raises"])
def test_tensorrt_absent_or_broken_gives_none(monkeypatch, module):
    if module == "raises":
        module = types.ModuleType("edgeseg.runtime.tensorrt")

        def environment():
            raise RuntimeError("cuInit failed")

        module.environment = environment
    monkeypatch.setitem(sys.modules, "edgeseg.runtime.tensorrt", module)
    info = envinfo.tensorrt_info()
    assert info == {
        "tensorrt_version": None,
        "pycuda_version": None,
        "cuda_device": None,
        "compute_capability": None,
    }
    report = envinfo.format_report(envinfo.collect())
    assert "tensorrt         not installed" in report
    assert "pycuda           not installed" in report


def test_format_report_aligns_values():
    info = {
        "python": "3.8.10",
        "platform": "Linux-5.10.120-tegra-aarch64-with-glibc2.29",
        "machine": "aarch64",
        "numpy": "1.24.4",
        "torch": None,
        "onnxruntime": "1.32.0",
        "onnxruntime_providers": ["CPUExecutionProvider"],
        "opencv": "4.5.4",
        "opencv_gstreamer": True,
    }
    lines = envinfo.format_report(info).splitlines()
    assert "onnxruntime      1.32.0 (CPUExecutionProvider)" in lines
    assert "opencv           4.5.4 (GStreamer: YES)" in lines
    assert "torch            not installed" in lines
    assert "tensorrt         not installed" in lines
    assert all(line[16] == " " and line[17] != " " for line in lines)


def test_resident_memory_is_read_from_proc(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmRSS:\t  204800 kB\nThreads:\t4\n")
    assert envinfo.resident_memory_mb(str(status)) == 200.0
    assert envinfo.resident_memory_mb(str(tmp_path / "absent")) is None
