"""Shared fixtures: models whose output depends on their input (the probe model, made of ONNX operators,
whose answer is known exactly; a small torch model trained on synthetic scenes), a generated video and
generated labelled sets."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "unet"  # the trained torch model: U-Net at width 0.25 (1.9 M parameters)
WIDTH = 0.25
TRAIN_SIZE = (128, 64)
SIZE = (192, 128)  # the exported models' input size: small, so the suite stays fast on two cores
PROBE_SIZE = (128, 64)


def train_config(out, **changes):
    """A few seconds of training on synthetic scenes, deterministic by seed: enough for the model to
    predict several classes on street frames, real ones included."""
    from edgeseg.workstation.train import TrainConfig

    settings = dict(model=MODEL, width=WIDTH, data="synthetic:24:{}x{}".format(*TRAIN_SIZE), val_data=None,
                    out=str(out), input_size=TRAIN_SIZE, epochs=6, batch_size=4, lr=3e-3, optimizer="adamw",
                    weight_decay=0.0, workers=0, warmup_steps=0, progress=False, seed=0)
    settings.update(changes)
    return TrainConfig(**settings)


def shared_data_dir() -> str:
    return os.environ.get("EDGESEG_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))


@pytest.fixture(scope="session")
def shared_data():
    path = shared_data_dir()
    if not os.path.isdir(path):
        pytest.skip("shared data not found at {} (set EDGESEG_SHARED_DATA)".format(path))
    return path


@pytest.fixture(scope="session")
def python38_envs():
    """{"EDGESEG_PY38": device interpreter, "EDGESEG_PY38_NUMPY117": numpy 1.17 interpreter}: taken from the
    environment when scripts/test.sh set it, else made by scripts/setup_py38.sh; skips, with the reason, where
    no python3.8 exists."""
    keys = ("EDGESEG_PY38", "EDGESEG_PY38_NUMPY117")
    given = {key: os.environ.get(key) for key in keys}
    if all(path and os.path.exists(path) for path in given.values()):
        return given
    made = subprocess.run([os.path.join(REPO, "scripts", "setup_py38.sh")], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    found = dict(item.split("=", 1) for item in made.stdout.replace("export", " ").split() if "=" in item)
    if made.returncode != 0 or not all(os.path.exists(found.get(key, "")) for key in keys):
        reason = (made.stderr.strip().splitlines() or ["scripts/setup_py38.sh made no interpreters"])[-1]
        pytest.skip("Python 3.8 checks skipped: {}".format(reason))
    return found


def frame_classes(class_map, num_classes=8):
    """The share of pixels of each class in a class map."""
    import numpy as np

    return np.bincount(class_map.ravel(), minlength=num_classes) / class_map.size


def assert_export_parity(record, max_abs_diff=1e-3):
    """The export's own parity check (made trustworthy by test_export's independent one) passed: argmax
    agreement, and, for score outputs, the largest logit difference — which an untrained model, constant in
    its argmax, still shows, since its logits vary with the input."""
    parity = record["parity"]
    assert parity["argmax_agreement"] >= 0.999, parity
    if record["output_kind"] != "classmap":
        assert parity["max_abs_diff"] < max_abs_diff, parity


def reference_miou(pairs, num_classes, ignore_index=255):
    """mIoU and per-class IoU over (prediction, label) pairs, counted class by class: an implementation
    independent of edgeseg.metrics, to check it against. A class absent from labels and predictions has
    no IoU."""
    import numpy as np

    counts = np.zeros((num_classes, 3), np.int64)  # true positives, false positives, false negatives
    for prediction, label in pairs:
        keep = label != ignore_index
        prediction, label = prediction[keep], label[keep]
        for c in range(num_classes):
            counts[c] += [np.sum((prediction == c) & (label == c)), np.sum((prediction == c) & (label != c)),
                          np.sum((prediction != c) & (label == c))]
    ious = [tp / (tp + fp + fn) if tp + fp + fn else None for tp, fp, fn in counts]
    present = [iou for iou in ious if iou is not None]
    return sum(present) / len(present), ious


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
def trained_checkpoint(tmp_path_factory):
    from edgeseg.workstation.train import train

    out = tmp_path_factory.mktemp("trained")
    train(train_config(out), log=lambda *_: None)
    return str(out / "last.pt")


@pytest.fixture(scope="session")
def logits_onnx(trained_checkpoint, tmp_path_factory):
    from edgeseg.workstation.export import export

    path = str(tmp_path_factory.mktemp("export") / "unet_logits.onnx")
    export(MODEL, None, SIZE, path, weights=trained_checkpoint, log=lambda *_: None)
    return path


@pytest.fixture(scope="session")
def classmap_onnx(trained_checkpoint, tmp_path_factory):
    from edgeseg.workstation.export import export

    path = str(tmp_path_factory.mktemp("export") / "unet_classmap.onnx")
    export(MODEL, None, SIZE, path, weights=trained_checkpoint, output_kind="classmap", log=lambda *_: None)
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
