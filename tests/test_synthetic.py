"""Tests for the synthetic street-scene generator (real files in tmp_path)."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeseg.data import synthetic
from edgeseg.data.synthetic import (
    BUILDING,
    CLASSES,
    PALETTE,
    PERSON,
    ROAD,
    SKY,
    VEGETATION,
    VEHICLE,
    main,
    render_scene,
    write_dataset,
    write_video,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(6)


@pytest.fixture(scope="module")
def scenes():
    return [render_scene(seed, 320, 240) for seed in SEEDS]


def test_classes_and_palette():
    assert CLASSES[0] == "sky" and len(CLASSES) == 8
    assert len(PALETTE) == len(CLASSES)
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in PALETTE)
    assert len(set(PALETTE)) == len(PALETTE)


def test_shapes_and_dtypes(scenes):
    image, mask = scenes[0]
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    assert mask.shape == (240, 320) and mask.dtype == np.uint8
    image, mask = render_scene(0)
    assert image.shape == (360, 480, 3) and mask.shape == (360, 480)


def test_deterministic():
    a_img, a_mask = render_scene(7, 200, 150, t=1.5)
    b_img, b_mask = render_scene(7, 200, 150, t=1.5)
    assert a_img.tobytes() == b_img.tobytes()
    assert a_mask.tobytes() == b_mask.tobytes()


def test_different_seeds_differ(scenes):
    (img0, mask0), (img1, mask1) = scenes[0], scenes[1]
    assert not np.array_equal(img0, img1)
    assert not np.array_equal(mask0, mask1)


def test_time_moves_objects_only():
    _, mask0 = render_scene(2, 320, 240, t=0.0)
    _, mask1 = render_scene(2, 320, 240, t=1.0)
    changed = mask0 != mask1
    assert changed.any()
    # Only vehicles and people move: every change involves one of them.
    moving = np.isin(mask0, (VEHICLE, PERSON)) | np.isin(mask1, (VEHICLE, PERSON))
    assert not (changed & ~moving).any()


def test_mask_values_and_main_classes(scenes):
    for _, mask in scenes:
        assert mask.max() < len(CLASSES)
        present = set(np.unique(mask).tolist())
        assert {SKY, ROAD, BUILDING} <= present
        assert VEHICLE in present or PERSON in present
    everywhere = set().union(*(np.unique(m).tolist() for _, m in scenes))
    assert everywhere == set(range(len(CLASSES)))


def test_layout_is_plausible(scenes):
    for _, mask in scenes:
        rows = np.nonzero(mask == SKY)[0]
        assert rows.max() < 0.5 * mask.shape[0]  # sky above the horizon
        road_rows = np.nonzero(mask == ROAD)[0]
        assert road_rows.min() > 0.35 * mask.shape[0]
        assert (mask[-1] != SKY).all()


def test_class_colours_differ(scenes):
    means = {}
    for cls in (SKY, ROAD, BUILDING, VEGETATION):
        pixels = np.concatenate([img[mask == cls] for img, mask in scenes]).astype(np.float64)
        means[cls] = pixels.mean(axis=0)
    classes = list(means)
    for i, a in enumerate(classes):
        for b in classes[i + 1:]:
            assert np.abs(means[a] - means[b]).max() > 15, (CLASSES[a], CLASSES[b])
    b, g, r = means[VEGETATION]
    assert g > r and g > b  # BGR order: vegetation is green


def _within_class_variance(image: np.ndarray, mask: np.ndarray) -> float:
    img = image.astype(np.float64)
    total = 0.0
    for cls in np.unique(mask):
        pixels = img[mask == cls]
        total += ((pixels - pixels.mean(axis=0)) ** 2).sum()
    return total / mask.size


def test_image_and_mask_aligned(scenes):
    for image, mask in scenes:
        aligned = _within_class_variance(image, mask)
        shifted = _within_class_variance(image, np.roll(mask, 3, axis=1))
        assert aligned < 0.9 * shifted


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError):
        render_scene(-1)
    with pytest.raises(ValueError):
        render_scene(0, 8, 8)
    with pytest.raises(ValueError):
        write_video(str(tmp_path / "empty.mp4"), frames=0)
    assert os.listdir(tmp_path) == []


def test_write_dataset(tmp_path):
    out = str(tmp_path / "ds")
    assert write_dataset(out, 3, 160, 120, seed=5) == out
    names = sorted(os.listdir(os.path.join(out, "images")))
    assert names == ["00000.png", "00001.png", "00002.png"]
    assert sorted(os.listdir(os.path.join(out, "labels"))) == names
    for i, name in enumerate(names):
        image = cv2.imread(os.path.join(out, "images", name), cv2.IMREAD_UNCHANGED)
        label = cv2.imread(os.path.join(out, "labels", name), cv2.IMREAD_UNCHANGED)
        assert image.shape == (120, 160, 3) and label.shape == (120, 160)
        expected_image, expected_label = render_scene(5 + i, 160, 120)
        assert np.array_equal(image, expected_image)  # PNG is lossless
        assert np.array_equal(label, expected_label)
    with open(os.path.join(out, "classes.txt")) as f:
        assert f.read().splitlines() == list(CLASSES)


def _read_video(path: str):
    cap = cv2.VideoCapture(path)
    assert cap.isOpened()
    info = (cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return info, frames


def test_write_video(tmp_path):
    path = str(tmp_path / "sub" / "clip.mp4")
    assert write_video(path, frames=12, width=320, height=240, fps=8.0, seed=3) == path
    assert os.listdir(tmp_path / "sub") == ["clip.mp4"]  # no temp file left behind
    (fps, width, height), frames = _read_video(path)
    assert len(frames) == 12
    assert (width, height) == (320, 240) and fps == pytest.approx(8.0)
    assert frames[0].shape == (240, 320, 3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0  # motion
    expected = render_scene(3, 320, 240, t=0.0)[0]
    assert np.abs(frames[0].astype(int) - expected).mean() < 12  # lossy, but the same scene


def test_write_video_fails_cleanly(tmp_path, monkeypatch):
    class ClosedWriter:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

    monkeypatch.setattr(synthetic.cv2, "VideoWriter", ClosedWriter)
    with pytest.raises(RuntimeError):
        write_video(str(tmp_path / "x.mp4"), frames=2, width=64, height=48)
    assert os.listdir(tmp_path) == []


def test_cli_images(tmp_path, capsys):
    out = str(tmp_path / "cli")
    main(["images", out, "--count", "2", "--size", "96x64", "--seed", "4"])
    assert capsys.readouterr().out.strip() == out
    label = cv2.imread(os.path.join(out, "labels", "00001.png"), cv2.IMREAD_UNCHANGED)
    assert label.shape == (64, 96)
    assert np.array_equal(label, render_scene(5, 96, 64)[1])


def test_cli_bad_size(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["images", "out", "--size", "96by64"])
    assert exc.value.code == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_cli_module_video(tmp_path):
    path = str(tmp_path / "cli.mp4")
    result = subprocess.run(
        [sys.executable, "-m", "edgeseg.data.synthetic", "video", path,
         "--frames", "5", "--size", "128x96", "--fps", "5", "--seed", "1"],
        cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (fps, width, height), frames = _read_video(path)
    assert len(frames) == 5 and (width, height) == (128, 96) and fps == pytest.approx(5.0)
