import csv
import os
from pathlib import Path

import numpy as np
import pytest

from edgeseg.errors import ConfigError
from edgeseg.palettes import (
    Palette,
    colorize,
    default_palette,
    get_palette,
    known_palettes,
    palette_for,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EDGESEG_SHARED_DATA", str(REPO.parent / "shared" / "data")))


@pytest.mark.parametrize(
    "name, count, first, last",
    [
        ("cityscapes", 19, ("road", (128, 64, 128)), ("bicycle", (119, 11, 32))),
        ("camvid", 11, ("sky", (128, 128, 128)), ("bicyclist", (0, 128, 192))),
        ("voc", 21, ("background", (0, 0, 0)), ("tvmonitor", (0, 64, 128))),
        ("ade20k", 150, ("wall", (120, 120, 120)), ("flag", (92, 0, 255))),
    ],
)
def test_dataset_palettes(name, count, first, last):
    palette = get_palette(name)
    assert len(palette.names) == len(palette.colors) == count
    assert len(set(palette.names)) == count
    assert (palette.names[0], palette.colors[0]) == first
    assert (palette.names[-1], palette.colors[-1]) == last
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in palette.colors)


def test_cityscapes_official_colours():
    palette = dict(zip(*get_palette("cityscapes")))
    assert palette["traffic light"] == (250, 170, 30)
    assert palette["vegetation"] == (107, 142, 35)
    assert palette["person"] == (220, 20, 60)
    assert palette["car"] == (0, 0, 142)


def test_voc_standard_colours():
    palette = dict(zip(*get_palette("voc")))
    assert palette["aeroplane"] == (128, 0, 0)
    assert palette["person"] == (192, 128, 128)
    assert palette["train"] == (128, 192, 0)


def test_ade20k_names_are_clean():
    names = get_palette("ade20k").names
    assert names[7] == "bed"
    assert all(n == n.strip() for n in names)
    assert get_palette("ade20k").colors[12] == (150, 5, 61)  # person


def test_camvid_matches_shared_classes_csv():
    path = SHARED_DATA / "camvid" / "classes.csv"
    if not path.is_file():
        pytest.skip("no {} (set EDGESEG_SHARED_DATA)".format(path))
    with open(str(path), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["name"] != "void"]
    rows.sort(key=lambda r: int(r["id"]))
    palette = get_palette("camvid")
    assert palette.names == [r["name"] for r in rows]
    assert palette.colors == [(int(r["r"]), int(r["g"]), int(r["b"])) for r in rows]


def test_synthetic_palette_comes_from_the_data_module():
    try:
        from edgeseg.data.synthetic import CLASSES, PALETTE
    except ImportError as e:
        pytest.skip("edgeseg.data.synthetic not importable yet: {}".format(e))
    palette = get_palette("synthetic")
    assert palette.names == list(CLASSES)
    assert palette.colors == [tuple(int(v) for v in c) for c in PALETTE]


def test_get_palette_is_case_insensitive_and_returns_copies():
    palette = get_palette(" CityScapes ")
    palette.names.append("extra")
    assert len(get_palette("cityscapes").names) == 19


def test_unknown_palette_lists_known_names():
    with pytest.raises(ConfigError) as info:
        get_palette("kitti")
    message = str(info.value)
    assert "\n" not in message and "kitti" in message
    for name in known_palettes():
        assert name in message


def test_known_palettes():
    assert known_palettes() == ["cityscapes", "camvid", "voc", "ade20k", "synthetic"]


def test_default_palette_is_the_voc_generator():
    palette = default_palette(256)
    assert palette.names[:2] == ["class_0", "class_1"]
    assert palette.names[-1] == "class_255"
    assert palette.colors[:21] == get_palette("voc").colors
    assert palette.colors[255] == (224, 224, 192)
    assert len(set(palette.colors)) == 256
    assert len(default_palette(1000).colors) == 1000
    assert default_palette(0) == Palette([], [])


def test_bgr_array():
    bgr = get_palette("cityscapes").bgr_array()
    assert bgr.shape == (19, 3) and bgr.dtype == np.uint8
    assert bgr.flags["C_CONTIGUOUS"]
    assert tuple(bgr[0]) == (128, 64, 128)[::-1]
    assert tuple(bgr[13]) == (142, 0, 0)  # car


def test_palette_for_none_and_name():
    assert palette_for(5, None) == default_palette(5)
    assert palette_for(19, "cityscapes") == get_palette("cityscapes")


def test_palette_for_names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("background\n  lane \n\ncurb\n")
    palette = palette_for(3, str(path))
    assert palette.names == ["background", "lane", "curb"]
    assert palette.colors == default_palette(3).colors


def test_palette_for_wrong_count_names_both_counts_and_source(tmp_path):
    with pytest.raises(ConfigError, match=r"cityscapes.*19.*21"):
        palette_for(21, "cityscapes")
    path = tmp_path / "names.txt"
    path.write_text("a\nb\n")
    with pytest.raises(ConfigError) as info:
        palette_for(3, str(path))
    assert str(path) in str(info.value) and "2" in str(info.value) and "3" in str(info.value)


def test_palette_for_neither_name_nor_file(tmp_path):
    with pytest.raises(ConfigError, match="neither"):
        palette_for(3, str(tmp_path / "missing.txt"))


COLORS = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], dtype=np.uint8)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.uint64])
def test_colorize_known_answer(dtype):
    class_map = np.array([[0, 1], [2, 0]], dtype=dtype)
    out = colorize(class_map, COLORS)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 0, 255]
    assert out[0, 1].tolist() == [0, 255, 0]
    assert out[1, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize("dtype, ids", [(np.uint8, [3, 255]), (np.int64, [3, -1, 1 << 40])])
def test_colorize_out_of_range_is_black(dtype, ids):
    class_map = np.array([[1] + ids], dtype=dtype)
    out = colorize(class_map, COLORS)
    assert out[0, 0].tolist() == [0, 255, 0]
    assert (out[0, 1:] == 0).all()


def test_colorize_full_frame_and_input_untouched():
    rng = np.random.RandomState(0)
    class_map = rng.randint(-2, 22, size=(512, 1024)).astype(np.int64)
    before = class_map.copy()
    colors = get_palette("voc").bgr_array()
    out = colorize(class_map, colors)
    assert out.shape == (512, 1024, 3)
    assert np.array_equal(class_map, before)
    valid = (class_map >= 0) & (class_map < 21)
    assert np.array_equal(out[valid], colors[class_map[valid]])
    assert (out[~valid] == 0).all()


def test_colorize_rejects_float_maps():
    with pytest.raises(TypeError):
        colorize(np.zeros((2, 2), dtype=np.float32), COLORS)
