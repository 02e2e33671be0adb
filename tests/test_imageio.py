"""`edgeseg.imageio`, the one image reader: every stage (calibrate, eval, run) sees the same pixels from the same
file, whatever its sample type, and one list-file rule holds everywhere."""
import os

import cv2
import numpy as np
import pytest

from edgeseg import imageio
from edgeseg.data.datasets import open_dataset
from edgeseg.errors import SourceError
from edgeseg.preprocess import Preprocessor, PreprocessSpec
from edgeseg.quantize import ImageCalibrationReader, select_subset
from edgeseg.stream.sources import open_source

HEIGHT, WIDTH = 24, 32


def _scene() -> np.ndarray:
    """A BGR gradient with every channel different, values spread over the full range."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([x / (WIDTH - 1), y / (HEIGHT - 1), (x + y) / (WIDTH + HEIGHT - 2)], axis=2)


def _deep_images(folder):
    """{name: (path, the 8-bit BGR pixels each stage must see)} for a 16-bit PNG and a float32 TIFF, the
    expected pixels computed here from the samples written: 16-bit scaled by 255/65535, float 0..1 by 255."""
    os.makedirs(folder)
    scene = _scene()
    deep = np.round(scene * 65535).astype(np.uint16)
    flat = (np.round(scene * 255) / 255).astype(np.float32)  # k/255: float32 holds k exactly after x255
    paths = {"deep": os.path.join(folder, "deep.png"), "float": os.path.join(folder, "float.tiff")}
    assert cv2.imwrite(paths["deep"], deep) and cv2.imwrite(paths["float"], flat)
    assert cv2.imread(paths["float"], cv2.IMREAD_UNCHANGED).dtype == np.float32  # stored as float, read back so
    expected = {"deep": np.round(deep.astype(np.float64) * 255 / 65535).astype(np.uint8),
                "float": np.round(flat.astype(np.float64) * 255).astype(np.uint8)}
    return {name: (paths[name], expected[name]) for name in paths}


def test_calibrate_eval_and_run_read_deep_and_float_images_to_the_same_pixels(tmp_path):
    images = _deep_images(str(tmp_path / "pairs" / "images"))
    os.makedirs(str(tmp_path / "pairs" / "labels"))
    for path, _ in images.values():
        name = os.path.splitext(os.path.basename(path))[0] + ".png"
        cv2.imwrite(str(tmp_path / "pairs" / "labels" / name), np.zeros((HEIGHT, WIDTH), np.uint8))
    spec = PreprocessSpec((WIDTH, HEIGHT), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), color_order="bgr")
    dataset = open_dataset(str(tmp_path / "pairs"), classes=2)  # eval's reader
    seen_by_eval = {os.path.basename(image): dataset[i][0] for i, (image, _) in enumerate(dataset.pairs)}
    for name, (path, expected) in images.items():
        assert not np.array_equal(expected[:, :, 0], expected[:, :, 2]), "the scene must tell channels apart"
        with open_source(path, log=lambda *_: None) as source:  # run's reader
            frame = source.read()
        calibration = next(iter(ImageCalibrationReader([path], spec, "input")))["input"]  # calibrate's reader
        assert np.array_equal(frame, expected), name
        assert np.array_equal(seen_by_eval[os.path.basename(path)], expected), name
        assert np.array_equal(calibration, Preprocessor(spec)(expected)), name


def test_to_bgr8_conversions():
    assert imageio.to_bgr8(np.full((2, 3), 65535, np.uint16)).tolist() == np.full((2, 3, 3), 255).tolist()
    assert imageio.to_bgr8(np.full((2, 3), 257 * 7, np.uint16))[0, 0].tolist() == [7, 7, 7]
    assert imageio.to_bgr8(np.full((2, 3), -32768, np.int16))[0, 0].tolist() == [0, 0, 0]
    assert imageio.to_bgr8(np.full((2, 3, 1), 9, np.uint8)).shape == (2, 3, 3)
    assert tuple(imageio.to_bgr8(np.full((2, 2), 0.5, np.float32))[0, 0]) == (128, 128, 128)
    assert tuple(imageio.to_bgr8(np.full((2, 2), 200.0, np.float32))[0, 0]) == (200, 200, 200)  # 0..255 floats
    assert tuple(imageio.to_bgr8(np.full((2, 2), np.nan, np.float32))[0, 0]) == (0, 0, 0)
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., :3] = (1, 2, 3)
    assert imageio.to_bgr8(bgra)[0, 0].tolist() == [1, 2, 3]
    with pytest.raises(ValueError):
        imageio.to_bgr8(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError):
        imageio.to_bgr8(np.zeros((2, 2), np.complex64))


def test_read_image_names_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(SourceError, match="notes.png: cannot read image"):
        imageio.read_image(str(bad))
    with pytest.raises(SourceError, match="absent.png: cannot read image"):
        imageio.read_image(str(tmp_path / "absent.png"))


def test_one_list_file_rule_for_every_stage(tmp_path):
    """SegNet-style absolute paths resolve by their last two components under the list's folder, in eval's pairs
    and in calibrate's subset alike; a malformed line is named with its number."""
    root = tmp_path / "CamVid"
    (root / "train").mkdir(parents=True)
    (root / "trainannot").mkdir()
    cv2.imwrite(str(root / "train" / "a.png"), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    cv2.imwrite(str(root / "trainannot" / "a.png"), np.zeros((HEIGHT, WIDTH), np.uint8))
    listing = root / "list.txt"
    listing.write_text("/SegNet/CamVid/train/a.png /SegNet/CamVid/trainannot/a.png\n\n")
    assert imageio.read_list_file(str(listing), fields=(2, 2)) == [
        (str(root / "train" / "a.png"), str(root / "trainannot" / "a.png"))]
    assert select_subset(str(listing), num=1, log=lambda *_: None) == [str(root / "train" / "a.png")]
    assert open_dataset(str(listing), classes=2).pairs == [(str(root / "train" / "a.png"),
                                                            str(root / "trainannot" / "a.png"))]
    listing.write_text("train/a.png trainannot/a.png extra.png\n")
    with pytest.raises(SourceError, match=r"list.txt:1: expected 'image \[label\]'"):
        select_subset(str(listing), num=1, log=lambda *_: None)
    listing.write_text("\ntrain/missing.png\n")
    with pytest.raises(SourceError, match=r"list.txt:2: image .*missing.png not found"):
        select_subset(str(listing), num=1, log=lambda *_: None)
