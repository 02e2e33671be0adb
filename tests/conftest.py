"""Shared fixtures: models whose output depends on their input (the probe model, made of ONNX operators,
whose answer is known exactly; a small torch model trained on synthetic scenes), a generated video and
generated labelled sets."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "deeplabv3_mobilenetv3"
SIZE = (192, 128)  # small, so the suite stays fast on two cores
PROBE_SIZE = (128, 64)


def shared_data_dir() -> str:
    return os.environ.get("EDGESEG_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))


@pytest.fixture(scope="session")
def shared_data():
    path = shared_data_dir()
    if not os.path.isdir(path):
        pytest.skip("shared data not found at {} (set EDGESEG_SHARED_DATA)".format(path))
    return path


def frame_classes(class_map, num_classes=8):
    """The share of pixels of each class in a class map."""
    import numpy as np

    return np.bincount(class_map.ravel(), minlength=num_classes) / class_map.size


@pytest.fixture(scope="session")
def probe_onnx(tmp_path_factory):
    from edgeseg.probe_model import write_probe_model

    path = str(tmp_path_factory.mktemp("probe") / "probe.onnx")
    write_probe_model(path, PROBE_SIZE)
    return path


@pytest.fixture(scope="session")
def probe_classmap_onnx(tmp_path_factory):
    from edgeseg.probe_model import write_probe_model

    path = str(tmp_path_factory.mktemp("probe") / "probe_classmap.onnx")
    write_probe_model(path, PROBE_SIZE, output_kind="classmap")
    return path


@pytest.fixture(scope="session")
def probe_set(tmp_path_factory):
    """Synthetic scenes labelled with the probe's own answer: the FP32 probe scores exactly 100% on it."""
    from edgeseg.probe_model import write_probe_dataset

    return write_probe_dataset(str(tmp_path_factory.mktemp("probe_data") / "val"), 4, PROBE_SIZE, seed=60)


@pytest.fixture(scope="session")
def logits_onnx(tmp_path_factory):
    from edgeseg.export import export

    path = str(tmp_path_factory.mktemp("export") / "dlv3_logits.onnx")
    export(MODEL, 8, SIZE, path, classes="synthetic", log=lambda *_: None)
    return path


@pytest.fixture(scope="session")
def classmap_onnx(tmp_path_factory):
    from edgeseg.export import export

    path = str(tmp_path_factory.mktemp("export") / "dlv3_classmap.onnx")
    export(MODEL, 8, SIZE, path, output_kind="classmap", classes="synthetic", log=lambda *_: None)
    return path


@pytest.fixture(scope="session")
def street_video(tmp_path_factory):
    from edgeseg.data.synthetic import write_video

    return write_video(str(tmp_path_factory.mktemp("video") / "street.mp4"), frames=12, width=320, height=180,
                       fps=10.0, seed=3)


@pytest.fixture(scope="session")
def labelled_set(tmp_path_factory):
    from edgeseg.data.synthetic import write_dataset

    return write_dataset(str(tmp_path_factory.mktemp("data") / "val"), 4, 240, 180, seed=50)


def torch_blocked_env(env=None):
    """A copy of `env` (default: this process's) in which torch cannot be imported."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(REPO, "tests", "torch_blocker")] + [p for p in [environment.get("PYTHONPATH")] if p])
    return environment


def run_cli(*args, env=None, block_torch=False, cwd=REPO, python=sys.executable):
    """Run `python -m edgeseg ARGS` in a subprocess; with block_torch, torch cannot be imported."""
    environment = torch_blocked_env(env) if block_torch else dict(os.environ if env is None else env)
    return subprocess.run([python, "-m", "edgeseg"] + [str(a) for a in args], cwd=cwd, env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
