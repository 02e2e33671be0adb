"""Dataset layouts in miniature trees written to tmp_path: detection, label mapping, bad input."""
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from conftest import shared_data_dir

from edgeseg.data import synthetic
from edgeseg.data.datasets import ADE20K, VOC, CamVid, Cityscapes, PairsDataset, SyntheticScenes, open_dataset
from edgeseg.errors import ConfigError, SourceError
from edgeseg.palettes import default_palette, get_palette

# Official cityscapesScripts trainIds of labelIds 0..33.
CITYSCAPES_TRAIN_IDS = [255] * 7 + [0, 1, 255, 255, 2, 3, 4, 255, 255, 255, 5, 255, 6, 7, 8, 9, 10, 11, 12,
                                    13, 14, 15, 255, 255, 16, 17, 18]


def write(path, array):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return str(path)


def image_for(label):
    return np.dstack([label, label, label]).astype(np.uint8)


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_palette_png(path, indices, colors):
    """An 8-bit palette PNG (colour type 3), as VOC's SegmentationClass files are."""
    h, w = indices.shape
    raw = b"".join(b"\x00" + indices[y].astype(np.uint8).tobytes() for y in range(h))
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
                + _chunk(b"PLTE", np.asarray(colors, np.uint8).tobytes()) + _chunk(b"IDAT", zlib.compress(raw))
                + _chunk(b"IEND", b""))


# ------------------------------------------------------------------------------------ layouts


def make_camvid(root, splits=("train", "val"), absolute=False):
    for split, count in zip(splits, (3, 2)):
        lines = []
        for k in range(count):
            label = np.array([[0, 5, 10], [11, 3, 11]], np.uint8)
            write(root / split / "a{}.png".format(k), image_for(label))
            write(root / (split + "annot") / "a{}.png".format(k), label)
            prefix = "/SegNet/CamVid/" if absolute else ""
            lines.append("{0}{1}/a{2}.png {0}{1}annot/a{2}.png".format(prefix, split, k))
        (root / (split + ".txt")).write_text("\n".join(lines) + "\n")
    return str(root)


def test_camvid(tmp_path):
    root = make_camvid(tmp_path / "camvid")
    data = open_dataset(root, "val")
    assert isinstance(data, CamVid) and len(data) == 2 and len(open_dataset(root)) == 3
    assert data.num_classes == 11 and data.classes == get_palette("camvid").names and data.ignore_index == 255
    image, label = data[1]
    assert image.shape == (2, 3, 3) and label.dtype == np.uint8
    assert label.tolist() == [[0, 5, 10], [255, 3, 255]]  # void (11) -> ignore
    with pytest.raises(SourceError, match="test.txt"):
        open_dataset(root, "test")


def test_camvid_segnet_absolute_paths(tmp_path):
    data = CamVid(make_camvid(tmp_path / "camvid", absolute=True), "train")
    assert data.pairs[0] == (str(tmp_path / "camvid" / "train" / "a0.png"),
                             str(tmp_path / "camvid" / "trainannot" / "a0.png"))
    assert data[0][1][1, 0] == 255


def make_cityscapes(root, label=None):
    label = np.arange(34, dtype=np.uint8).reshape(2, 17) if label is None else label
    for split, city in (("train", "aachen"), ("train", "bochum"), ("val", "lindau")):
        stem = "{}_000000_000019".format(city)
        write(root / "leftImg8bit" / split / city / (stem + "_leftImg8bit.png"), image_for(label))
        write(root / "gtFine" / split / city / (stem + "_gtFine_labelIds.png"), label)
        write(root / "gtFine" / split / city / (stem + "_gtFine_color.png"), image_for(label))  # not used
    return str(root)


def test_cityscapes_train_ids(tmp_path):
    root = make_cityscapes(tmp_path / "cityscapes")
    data = open_dataset(root, "train")
    assert isinstance(data, Cityscapes) and len(data) == 2 and len(open_dataset(root, "val")) == 1
    assert data.num_classes == 19 and data.classes == get_palette("cityscapes").names
    assert data.pairs[0][1].endswith(os.path.join("aachen", "aachen_000000_000019_gtFine_labelIds.png"))
    assert data[0][1].ravel().tolist() == CITYSCAPES_TRAIN_IDS


def test_cityscapes_bad_input(tmp_path):
    root = make_cityscapes(tmp_path / "cs", label=np.array([[7, 40], [34, 26]], np.uint8))
    with pytest.raises(SourceError, match=r"aachen_000000_000019_gtFine_labelIds.png: unexpected label values "
                                          r"\[34, 40\]; cityscapes labels take 0..33"):
        Cityscapes(root, "train")[0]
    os.remove(os.path.join(root, "gtFine", "val", "lindau", "lindau_000000_000019_gtFine_labelIds.png"))
    with pytest.raises(SourceError, match="lindau_000000_000019_gtFine_labelIds.png: label not found"):
        Cityscapes(root, "val")
    with pytest.raises(SourceError, match="no test samples found.*leftImg8bit/test/"):
        open_dataset(root, "test")


def make_voc(devkit, indices):
    root = devkit / "VOC2012"
    for name in ("2007_000032", "2007_000039"):
        write(root / "JPEGImages" / (name + ".jpg"), image_for(indices))
        write_palette_png(root / "SegmentationClass" / (name + ".png"), indices, default_palette(256).colors)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000032\n2007_000039\n")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000039\n")
    return str(devkit)


def test_voc_palette_pngs(tmp_path):
    indices = np.array([[0, 1, 15, 20], [255, 255, 7, 0]], np.uint8)
    devkit = make_voc(tmp_path / "VOCdevkit", indices)
    assert cv2.imread(os.path.join(devkit, "VOC2012", "SegmentationClass", "2007_000032.png"),
                      cv2.IMREAD_UNCHANGED).shape == (2, 4, 3)  # OpenCV expands the palette to BGR
    data = open_dataset(devkit, "train")
    assert isinstance(data, VOC) and len(data) == 2 and len(open_dataset(devkit, "val")) == 1
    assert data.num_classes == 21 and data.classes[15] == "person"
    assert data[0][1].tolist() == indices.tolist()
    assert len(open_dataset(os.path.join(devkit, "VOC2012"), "val")) == 1  # the VOC2012 folder itself
    # single-channel index PNGs (SegmentationClassAug) are read as they are
    write(tmp_path / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2007_000039.png", indices)
    assert data[1][1].tolist() == indices.tolist()


def test_voc_bad_labels(tmp_path):
    devkit = make_voc(tmp_path / "VOCdevkit", np.array([[0, 21], [3, 3]], np.uint8))
    with pytest.raises(SourceError, match=r"2007_000032.png: unexpected label values \[21\]; voc labels take "
                                          r"0..20, 255"):
        open_dataset(devkit)[0]
    odd = np.array([[(0, 0, 0), (1, 2, 3)]] * 2, np.uint8)  # RGB(1, 2, 3) is no VOC colour
    write_palette_png(tmp_path / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2007_000039.png",
                      np.array([[0, 1], [1, 0]]), odd[0])
    with pytest.raises(SourceError, match=r"2007_000039.png: colour RGB\(1, 2, 3\) is not in the VOC colour map"):
        open_dataset(devkit).label(1)
    (tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "val.txt").write_text("")
    with pytest.raises(SourceError, match="no val samples found"):
        open_dataset(devkit, "val")


def make_ade20k(parent):
    root = parent / "ADEChallengeData2016"
    label = np.array([[0, 1, 2], [150, 0, 13]], np.uint8)
    for folder, names in (("training", ("ADE_train_00000001", "ADE_train_00000002")),
                          ("validation", ("ADE_val_00000001",))):
        for name in names:
            write(root / "images" / folder / (name + ".jpg"), image_for(label))
            write(root / "annotations" / folder / (name + ".png"), label)
    return str(parent)


def test_ade20k_reduce_zero_label(tmp_path):
    parent = make_ade20k(tmp_path / "ade")
    data = open_dataset(parent, "train")
    assert isinstance(data, ADE20K) and len(data) == 2 and len(open_dataset(parent, "val")) == 1
    assert data.num_classes == 150 and data.classes[0] == "wall"
    assert data[0][1].tolist() == [[255, 0, 1], [149, 255, 12]]
    assert len(open_dataset(os.path.join(parent, "ADEChallengeData2016"), "val")) == 1
    with pytest.raises(ConfigError, match="ADE20K split 'test'"):
        open_dataset(parent, "test")


def test_pairs_folder_with_splits(tmp_path):
    synthetic.write_dataset(str(tmp_path / "ds" / "train"), 3, 64, 48, seed=0)
    synthetic.write_dataset(str(tmp_path / "ds" / "val"), 2, 64, 48, seed=10)
    data = open_dataset(str(tmp_path / "ds"), "val")
    assert isinstance(data, PairsDataset) and len(data) == 2 and len(open_dataset(str(tmp_path / "ds"))) == 3
    assert data.classes == list(synthetic.CLASSES) and data.ignore_index == 255
    image, label = data[1]
    expected_image, expected_label = synthetic.render_scene(11, 64, 48)
    assert np.array_equal(image, expected_image) and np.array_equal(label, expected_label)
    assert len(open_dataset(str(tmp_path / "ds" / "val"), "train")) == 2  # the folder itself


def test_list_file_and_classes(tmp_path):
    label = np.array([[0, 1], [2, 11]], np.uint8)
    write(tmp_path / "img" / "x.png", image_for(label))
    write(tmp_path / "ann" / "x.png", label)
    listing = tmp_path / "list.txt"
    listing.write_text("img/x.png ann/x.png\n")
    with pytest.raises(ConfigError, match="list.txt: unknown classes"):
        open_dataset(str(listing))
    data = open_dataset(str(listing), classes=12)
    assert data.num_classes == 12 and data[0][1].tolist() == label.tolist()
    data = PairsDataset(str(listing), classes="camvid", ignore_index=11)
    assert data.classes == get_palette("camvid").names and data.label(0)[1, 1] == 11
    with pytest.raises(SourceError, match=r"x.png: unexpected label values \[11\]; pairs labels take 0..9, 255"):
        PairsDataset(str(listing), classes=10)[0]
    with pytest.raises(ConfigError, match="ignore index 5"):
        PairsDataset(str(listing), classes=10, ignore_index=5)


def test_synthetic_spec():
    data = open_dataset("synthetic:3:64x48")
    assert isinstance(data, SyntheticScenes) and len(data) == 3 and data.num_classes == 8
    image, label = data[2]
    expected_image, expected_label = synthetic.render_scene(2, 64, 48)
    assert np.array_equal(image, expected_image) and np.array_equal(label, expected_label)
    assert not np.array_equal(open_dataset("synthetic:3:64x48", "val")[2][1], label)  # disjoint seeds
    assert len(list(data)) == 3
    assert open_dataset("synthetic:1")[0][0].shape == (360, 480, 3)
    for bad in ("synthetic:", "synthetic:x", "synthetic:0", "synthetic:2:64", "synthetic:2:8x8"):
        with pytest.raises(ConfigError):
            open_dataset(bad)


# ---------------------------------------------------------------------------------- bad input


def test_size_mismatch_names_both_files(tmp_path):
    write(tmp_path / "images" / "a.png", np.zeros((4, 6, 3), np.uint8))
    write(tmp_path / "labels" / "a.png", np.zeros((4, 5), np.uint8))
    with pytest.raises(SourceError, match=r"images/a.png: image is 6x4 but its label .*labels/a.png is 5x4"):
        PairsDataset(str(tmp_path), classes=2)[0]


def test_unreadable_and_multichannel_files(tmp_path):
    write(tmp_path / "images" / "a.png", np.zeros((4, 6, 3), np.uint8))
    write(tmp_path / "labels" / "a.png", np.zeros((4, 6, 3), np.uint8))
    data = PairsDataset(str(tmp_path), classes=2)
    with pytest.raises(SourceError, match="labels/a.png: label is uint8 with 3 channel"):
        data[0]
    (tmp_path / "images" / "a.png").write_bytes(b"not a png")
    with pytest.raises(SourceError, match="images/a.png: cannot read image"):
        data[0]


def test_missing_files_in_list(tmp_path):
    write(tmp_path / "x.png", np.zeros((2, 2, 3), np.uint8))
    listing = tmp_path / "list.txt"
    listing.write_text("x.png nowhere.png\n")
    with pytest.raises(SourceError, match="nowhere.png: label not found for image .*x.png"):
        PairsDataset(str(listing), classes=2)
    listing.write_text("gone.png x.png\n")
    with pytest.raises(SourceError, match="gone.png: image not found"):
        PairsDataset(str(listing), classes=2)


def test_nothing_found(tmp_path):
    with pytest.raises(SourceError, match="nope: no such folder"):
        open_dataset(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="empty: no dataset found; expected one of: CamVid: .*Cityscapes: .*VOC"):
        open_dataset(str(tmp_path / "empty"))
    (tmp_path / "empty" / "images").mkdir()
    (tmp_path / "empty" / "labels").mkdir()
    with pytest.raises(SourceError, match="empty: no image/label pairs found"):
        open_dataset(str(tmp_path / "empty"), classes=2)


# -------------------------------------------------------------------------------- shared data


@pytest.mark.shared_data
def test_shared_camvid_val():
    root = os.path.join(shared_data_dir(), "camvid")
    if not os.path.isdir(root):
        pytest.skip("shared CamVid not found at {} (set EDGESEG_SHARED_DATA)".format(root))
    data = open_dataset(root, "val")
    assert isinstance(data, CamVid) and len(data) == 101 and data.num_classes == 11
    image, label = data[0]
    assert image.shape == (360, 480, 3) and label.shape == (360, 480)
    for i in range(len(data)):
        values = np.unique(data.label(i))
        assert ((values < 11) | (values == 255)).all()
