"""Training on tiny synthetic sets: the loss falls, resume is exact, DDP (gloo) runs, bad input is clear."""
import csv
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import MODEL, REPO, TRAIN_SIZE, WIDTH, frame_classes, reference_miou, run_cli, train_config

from edgeseg.errors import ConfigError, EdgesegError
from edgeseg.workstation.export import export
from edgeseg.workstation.losses import make_criterion, segmentation_loss
from edgeseg.workstation.train import TrainConfig, load_checkpoint, poly_lr, train

TINY = "synthetic:8:96x64"


def config(out, **changes):
    base = dict(model="lraspp_mobilenetv3", data=TINY, val_data="synthetic:2:96x64", out=str(out),
                input_size=(96, 64), epochs=2, batch_size=4, lr=0.02, workers=0, warmup_steps=0, progress=False)
    base.update(changes)
    return TrainConfig(**base)


def losses(out):
    with open(os.path.join(str(out), "log.csv")) as f:
        return [float(row["train_loss"]) for row in csv.DictReader(f)]


def test_poly_schedule_with_warmup():
    factor = poly_lr(total_steps=100, warmup_steps=10)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0) and factor(55) == pytest.approx(0.5 ** 0.9)
    assert factor(100) == 0.0


def test_loss_falls_within_a_few_dozen_steps(tmp_path):
    torch.manual_seed(0)
    train(config(tmp_path, data="synthetic:16:96x64", epochs=6, batch_size=4, optimizer="adamw", lr=3e-3,
                 weight_decay=0.0, val_data=None), log=lambda *_: None)
    history = losses(tmp_path)
    assert len(history) == 6 and history[-1] < 0.7 * history[0], history



def test_training_is_deterministic_by_seed(tmp_path):
    """The test suite's trained model is the same model on every run."""
    runs = []
    for name in ("a", "b"):
        train(train_config(tmp_path / name, epochs=1, steps_per_epoch=2), log=lambda *_: None)
        runs.append(load_checkpoint(str(tmp_path / name / "last.pt"))["model"])
    assert all(torch.equal(value, runs[1][key]) for key, value in runs[0].items())


def test_validation_miou_is_what_an_independent_count_gives(trained_checkpoint, tmp_path):
    """validate() (the mIoU training logs) against this test's own count on the model's predictions; the
    trained model predicts several classes, so a wrong count shows."""
    import numpy as np

    from edgeseg.data.datasets import open_dataset
    from edgeseg.data.synthetic import write_dataset
    from edgeseg.preprocess import PreprocessSpec, preprocess_reference
    from edgeseg.workstation.models import build_model
    from edgeseg.workstation.train import validate

    folder = write_dataset(str(tmp_path / "val"), 3, 256, 128, seed=700)
    model = build_model(MODEL, 8, trained_checkpoint, width=WIDTH)
    spec = PreprocessSpec(TRAIN_SIZE)
    result = validate(model, open_dataset(folder), spec, torch.device("cpu"))
    pairs = []
    dataset = open_dataset(folder)
    for index in range(len(dataset)):
        image, label = dataset[index]
        with torch.no_grad():
            logits = model(torch.from_numpy(preprocess_reference(image, spec)))
        prediction = logits[0].argmax(0).numpy().astype(np.uint8).repeat(2, 0).repeat(2, 1)  # 2x nearest
        pairs.append((prediction, label))
        assert len([s for s in frame_classes(prediction) if s >= 0.05]) >= 2
    assert result["miou"] == pytest.approx(reference_miou(pairs, 8)[0], abs=1e-3)


def test_resume_matches_an_uninterrupted_run(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(config(straight, epochs=2, steps_per_epoch=2), log=lambda *_: None)
    full = config(resumed, epochs=2, steps_per_epoch=2)
    train(full._replace(stop_after=1), log=lambda *_: None)
    checkpoint = load_checkpoint(str(resumed / "last.pt"))
    assert checkpoint["epoch"] == 1
    train(full._replace(resume=True), log=lambda *_: None)
    assert losses(resumed) == pytest.approx(losses(straight), rel=0, abs=0)


def test_checkpoint_is_loadable_with_weights_only_and_exports(tmp_path):
    train(config(tmp_path, epochs=1), log=lambda *_: None)
    checkpoint = torch.load(str(tmp_path / "best.pt"), weights_only=True)
    assert checkpoint["classes"][0] == "sky" and checkpoint["num_classes"] == 8
    result = run_cli("export", "lraspp_mobilenetv3", "--weights", tmp_path / "best.pt", "--input-size", "96x64",
                     "-o", tmp_path / "m.onnx")
    assert result.returncode == 0, result.stderr
    assert "sky" in open(str(tmp_path / "m.onnx.json")).read()


def test_fine_tune_to_a_new_class_count(tmp_path):
    train(config(tmp_path / "a", epochs=1), log=lambda *_: None)
    pairs = tmp_path / "pairs"
    from edgeseg.data.synthetic import write_dataset
    write_dataset(str(pairs), 8, 96, 64, seed=5)
    with open(str(pairs / "classes.txt"), "w") as f:
        f.write("\n".join(["c{}".format(i) for i in range(9)]))  # 9 classes now
    lines = []
    train(config(tmp_path / "b", data=str(pairs), val_data=None, epochs=1,
                 fine_tune=str(tmp_path / "a" / "last.pt")), log=lines.append)
    assert any("re-initialised" in line for line in lines)
    assert load_checkpoint(str(tmp_path / "b" / "last.pt"))["num_classes"] == 9


def test_ddp_with_gloo_on_two_processes(tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "edgeseg", "train", "lraspp_mobilenetv3",
         "--data", TINY, "--input-size", "96x64", "--epochs", "1", "--batch-size", "2", "--workers", "0",
         "--steps-per-epoch", "1", "--out", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "x2" in result.stdout and load_checkpoint(str(tmp_path / "last.pt"))["step"] == 1


@pytest.mark.parametrize("changes,message", [
    (dict(model="resnet9000"), "unknown model"),
    (dict(data="synthetic:2:96x64", batch_size=4), "fewer than one batch"),
    (dict(data="/no/such/folder"), "/no/such/folder"),
])
def test_bad_input_is_a_clear_error(tmp_path, changes, message):
    with pytest.raises(EdgesegError, match=message):
        train(config(tmp_path, **changes), log=lambda *_: None)


def test_bad_input_through_the_cli(tmp_path):
    result = run_cli("train", "lraspp_mobilenetv3", "--data", tmp_path / "empty", "--out", tmp_path / "o")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(tmp_path / "empty") in result.stderr


def test_mixup_loss_is_the_mixed_loss_of_both_labels():
    torch.manual_seed(0)
    logits, aux = torch.randn(2, 5, 12, 16), torch.randn(2, 5, 6, 8)
    labels, partner = torch.randint(0, 5, (2, 12, 16)), torch.randint(0, 5, (2, 12, 16))
    labels[0, :3], partner[1, -2:] = 255, 255
    ce = make_criterion("ce", 255)
    mixed = segmentation_loss(logits, labels, ce, mixup=(partner, 0.3))
    expected = 0.3 * F.cross_entropy(logits, labels, ignore_index=255) + 0.7 * F.cross_entropy(
        logits, partner, ignore_index=255)
    assert torch.allclose(mixed, expected)

    def with_aux(target):  # the aux logits are at half resolution: upsampled to the labels
        up = F.interpolate(aux, size=(12, 16), mode="bilinear", align_corners=False)
        return F.cross_entropy(logits, target, ignore_index=255) + 0.4 * F.cross_entropy(up, target, ignore_index=255)
    mixed = segmentation_loss({"out": logits, "aux": aux}, labels, ce, {"aux": 0.4}, mixup=(partner, 0.3))
    assert torch.allclose(mixed, 0.3 * with_aux(labels) + 0.7 * with_aux(partner))
    for name in ("ohem", "focal"):
        criterion = make_criterion(name, 255)
        assert torch.allclose(segmentation_loss(logits, labels, criterion, mixup=(partner, 0.25)),
                              0.25 * criterion(logits, labels) + 0.75 * criterion(logits, partner))


def test_cutmix_and_mixup_train_a_strided_model_and_are_recorded(tmp_path):
    summary = train(config(tmp_path, model="fcn_resnet18", epochs=1, steps_per_epoch=2, cutmix=1.0, mixup=1.0),
                    log=lambda *_: None)
    checkpoint = load_checkpoint(str(tmp_path / "last.pt"))
    assert checkpoint["config"]["cutmix"] == 1.0 and checkpoint["config"]["mixup"] == 1.0
    assert summary["steps"] == 2 and all(loss == loss for loss in losses(tmp_path))  # finite
    assert summary["best_miou"] is not None  # validated (on stride-32 logits, resized as the classmap export)
    with pytest.raises(ConfigError, match="--mixup"):
        train(config(tmp_path / "bad", mixup=2.0), log=lambda *_: None)


def test_width_and_mixing_flags_are_recorded_and_export_rebuilds_the_width(tmp_path):
    trained = run_cli("train", "unet", "--width", "0.25", "--cutmix", "1", "--mixup", "1", "--data", TINY,
                      "--input-size", "96x64", "--epochs", "1", "--batch-size", "4", "--workers", "0",
                      "--steps-per-epoch", "1", "--out", tmp_path)
    assert trained.returncode == 0, trained.stderr
    recorded = load_checkpoint(str(tmp_path / "last.pt"))["config"]
    assert (recorded["width"], recorded["cutmix"], recorded["mixup"]) == (0.25, 1.0, 1.0)
    result = run_cli("export", "unet", "--weights", tmp_path / "last.pt", "--input-size", "100x75",
                     "-o", tmp_path / "u.onnx")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "u.onnx.json").read_text())["width"] == 0.25
    with pytest.raises(ConfigError, match="--width 0.5 differs"):
        export("unet", None, (64, 64), str(tmp_path / "v.onnx"), weights=str(tmp_path / "last.pt"), width=0.5)
    with pytest.raises(ConfigError, match="resume with the same"):
        train(config(tmp_path, model="unet", epochs=2, steps_per_epoch=1, val_data=None, resume=True),
              log=lambda *_: None)
    refused = run_cli("train", "lraspp_mobilenetv3", "--data", TINY, "--width", "0.5", "--out", tmp_path / "l")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "lraspp_mobilenetv3 takes no --width" in refused.stderr
