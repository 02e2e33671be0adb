"""Class names and RGB colours of the common segmentation datasets, and class-map colouring."""
import os
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from .errors import ConfigError

RGB = Tuple[int, int, int]

# The 19 train ids, colours from cityscapesScripts' labels.py.
_CITYSCAPES = (
    ("road", (128, 64, 128)),
    ("sidewalk", (244, 35, 232)),
    ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)),
    ("pole", (153, 153, 153)),
    ("traffic light", (250, 170, 30)),
    ("traffic sign", (220, 220, 0)),
    ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)),
    ("sky", (70, 130, 180)),
    ("person", (220, 20, 60)),
    ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)),
    ("bus", (0, 60, 100)),
    ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)),
)

# SegNet's 11 classes; colours as in shared/data/camvid/classes.csv.
_CAMVID = (
    ("sky", (128, 128, 128)),
    ("building", (128, 0, 0)),
    ("pole", (192, 192, 128)),
    ("road", (128, 64, 128)),
    ("pavement", (60, 40, 222)),
    ("tree", (128, 128, 0)),
    ("sign_symbol", (192, 128, 128)),
    ("fence", (64, 64, 128)),
    ("car", (64, 0, 128)),
    ("pedestrian", (64, 64, 0)),
    ("bicyclist", (0, 128, 192)),
)

# Colours come from the VOC colormap generator (default_palette).
_VOC_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)

# ADEChallengeData2016's 150 classes with mmsegmentation's ADE20KDataset METAINFO palette.
_ADE20K_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror",
    "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs",
    "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track",
    "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave",
    "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
    "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
_ADE20K_COLORS = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50),
    (4, 200, 3), (120, 120, 80), (140, 140, 140), (204, 5, 255),
    (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7),
    (150, 5, 61), (120, 120, 70), (8, 255, 51), (255, 6, 82),
    (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3),
    (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255),
    (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220),
    (255, 9, 92), (112, 9, 255), (8, 255, 214), (7, 255, 224),
    (255, 184, 6), (10, 255, 71), (255, 41, 10), (7, 255, 255),
    (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7),
    (255, 122, 8), (0, 255, 20), (255, 8, 41), (255, 5, 153),
    (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255),
    (140, 140, 140), (250, 10, 15), (20, 255, 0), (31, 255, 0),
    (255, 31, 0), (255, 224, 0), (153, 255, 0), (0, 0, 255),
    (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255),
    (0, 255, 112), (0, 255, 133), (255, 0, 0), (255, 163, 0),
    (255, 102, 0), (194, 255, 0), (0, 143, 255), (51, 255, 0),
    (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255),
    (173, 255, 0), (0, 255, 153), (255, 92, 0), (255, 0, 255),
    (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255),
    (255, 0, 204), (0, 255, 194), (0, 255, 82), (0, 10, 255),
    (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255),
    (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0),
    (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0),
    (8, 184, 170), (133, 0, 255), (0, 255, 92), (184, 0, 255),
    (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112),
    (92, 255, 0), (0, 224, 255), (112, 224, 255), (70, 184, 160),
    (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0),
    (255, 0, 235), (245, 0, 255), (255, 0, 122), (255, 245, 0),
    (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255),
    (255, 255, 0), (0, 153, 255), (0, 41, 255), (0, 255, 204),
    (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255),
    (184, 255, 0), (0, 133, 255), (255, 214, 0), (25, 194, 194),
    (102, 255, 0), (92, 0, 255),
)

_KNOWN = ("cityscapes", "camvid", "voc", "ade20k", "synthetic")


class Palette(NamedTuple):
    """Class names and their RGB colours, index = class id."""

    names: List[str]
    colors: List[RGB]

    def bgr_array(self) -> np.ndarray:
        """The colours as an (N, 3) uint8 array in BGR order, ready for `colorize`."""
        rgb = np.array(self.colors, dtype=np.uint8).reshape(-1, 3)
        return np.ascontiguousarray(rgb[:, ::-1])


def _make(names: Sequence[str], colors: Sequence[Sequence[int]]) -> Palette:
    return Palette([str(n) for n in names], [(int(c[0]), int(c[1]), int(c[2])) for c in colors])


def known_palettes() -> List[str]:
    """Names `get_palette` accepts."""
    return list(_KNOWN)


def get_palette(name: str) -> Palette:
    """The palette of a known dataset (case-insensitive name)."""
    key = name.strip().lower()
    if key == "cityscapes":
        return _make([n for n, _ in _CITYSCAPES], [c for _, c in _CITYSCAPES])
    if key == "camvid":
        return _make([n for n, _ in _CAMVID], [c for _, c in _CAMVID])
    if key == "voc":
        return _make(_VOC_NAMES, default_palette(len(_VOC_NAMES)).colors)
    if key == "ade20k":
        return _make(_ADE20K_NAMES, _ADE20K_COLORS)
    if key == "synthetic":
        from .data.synthetic import CLASSES, PALETTE

        return _make(CLASSES, PALETTE)
    raise ConfigError("unknown palette {!r}; known: {}".format(name, ", ".join(_KNOWN)))


def default_palette(num_classes: int) -> Palette:
    """Names class_0... with the PASCAL VOC bit-interleaving colormap, for any count."""
    colors = []
    for i in range(num_classes):
        r = g = b = 0
        c = i
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append((r, g, b))
    return Palette(["class_{}".format(i) for i in range(num_classes)], colors)


def read_names(path: str) -> List[str]:
    """Class names from a text file, one a line."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("cannot read class names from {}: {}".format(path, e)) from e


def palette_for_names(names: Sequence[str]) -> Palette:
    """The known palette with exactly these class names, else these names with default colours."""
    for known in _KNOWN:
        palette = get_palette(known)
        if list(palette.names) == list(names):
            return palette
    return Palette(list(names), default_palette(len(names)).colors)


def palette_for(num_classes: int, name_or_file: Optional[str]) -> Palette:
    """The palette for a model with `num_classes` outputs.

    `name_or_file` is a known palette name, a text file with one class name per line (colours
    from `default_palette`), or None for `default_palette(num_classes)`.
    """
    if name_or_file is None:
        return default_palette(num_classes)
    if name_or_file.strip().lower() in _KNOWN:
        palette = get_palette(name_or_file)
        source = "palette {!r}".format(name_or_file)
    elif os.path.isfile(name_or_file):
        palette = palette_for_names(read_names(name_or_file))
        source = "names file {}".format(name_or_file)
    else:
        raise ConfigError(
            "palette {!r} is neither a known name ({}) nor a file".format(
                name_or_file, ", ".join(_KNOWN)
            )
        )
    if len(palette.names) != num_classes:
        raise ConfigError(
            "{} has {} classes but the model has {}".format(source, len(palette.names), num_classes)
        )
    return palette


def color_lut(colors_bgr: np.ndarray) -> np.ndarray:
    """OpenCV's lookup table (256 x 1 x 3 uint8) for a palette of up to 256 colours; ids past it are black."""
    colors = np.asarray(colors_bgr, dtype=np.uint8).reshape(-1, 3)[:256]
    lut = np.zeros((256, 1, 3), dtype=np.uint8)
    lut[:len(colors), 0] = colors
    return lut


def colorize(class_map: np.ndarray, colors_bgr: np.ndarray, out: Optional[np.ndarray] = None,
             lut: Optional[np.ndarray] = None) -> np.ndarray:
    """HxW integer class map -> HxWx3 uint8 BGR image; ids outside the palette become black.

    A uint8 map takes OpenCV's lookup table (about 4x numpy's `take` at 960x540; `lut` from `color_lut`, made
    once, spares rebuilding it), written into `out` (HxWx3 uint8) when given: the run loop's path."""
    ids = np.asarray(class_map)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError("class map must be integer, got {}".format(ids.dtype))
    colors = np.asarray(colors_bgr, dtype=np.uint8).reshape(-1, 3)
    n = len(colors)
    if ids.dtype == np.uint8 and n <= 256 and ids.ndim == 2:
        if out is None or out.shape != ids.shape + (3,) or out.dtype != np.uint8:
            out = np.empty(ids.shape + (3,), np.uint8)
        cv2.cvtColor(np.ascontiguousarray(ids), cv2.COLOR_GRAY2BGR, dst=out)
        return cv2.LUT(out, color_lut(colors) if lut is None else lut, dst=out)
    # One black row past the end: ids clipped to -1 (negative) or n (too large) both land there.
    table = np.zeros((n + 1, 3), dtype=np.uint8)
    table[:n] = colors
    image = np.take(table, np.clip(ids.astype(np.intp, copy=False), -1, n), axis=0)
    if out is not None and out.shape == image.shape and out.dtype == np.uint8:
        np.copyto(out, image)
        return out
    return image


def read_colors(path: str) -> Tuple[List[RGB], List[Optional[float]]]:
    """jetson-inference's colors.txt: one `R G B [A]` line per class (0-255; blank and # lines skipped). Returns
    the colours and each class's own opacity (0-1), None where A is absent or 255: those take --alpha, as in
    segNet."""
    colors: List[RGB] = []
    alphas: List[Optional[float]] = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.split("#")[0].replace(",", " ").split() for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("cannot read class colours from {}: {}".format(path, e)) from e
    for number, fields in enumerate(lines, 1):
        if not fields:
            continue
        try:
            values = [int(v) for v in fields]
        except ValueError:
            values = []
        if len(values) not in (3, 4) or not all(0 <= v <= 255 for v in values):
            raise ConfigError("{} line {}: expected `R G B` or `R G B A`, each 0-255, got {!r}".format(
                path, number, " ".join(fields)))
        colors.append((values[0], values[1], values[2]))
        alphas.append(values[3] / 255.0 if len(values) == 4 and values[3] != 255 else None)
    return colors, alphas


def with_files(palette: Palette, labels: Optional[str], colors: Optional[str]
               ) -> Tuple[Palette, List[Optional[float]]]:
    """`palette` with names from a labels file (one a line) and colours from a colors.txt, each checked against
    the model's class count; also the per-class opacities of colors.txt (None: --alpha)."""
    names, rgb = list(palette.names), list(palette.colors)
    alphas: List[Optional[float]] = [None] * len(names)
    if labels is not None:
        names = _one_per_class(labels, "labels", read_names(labels), len(names))
    if colors is not None:
        rgb, alphas = read_colors(colors)
        _one_per_class(colors, "colours", rgb, len(names))
    return Palette(names, rgb), alphas


def _one_per_class(path: str, what: str, values: List[Any], num_classes: int) -> List[Any]:
    if len(values) != num_classes:
        raise ConfigError("{}: has {} {} but the model has {} classes; give one line per class".format(
            path, len(values), what, num_classes))
    return values


def ignored_class(names: Sequence[str], name: Optional[str]) -> Optional[int]:
    """segnet's --ignore-class: the id of class `name`; None (not given) means "void" where a class has that name.
    ConfigError for a name the model does not have."""
    if name is None:
        return list(names).index("void") if "void" in names else None
    if name not in names:
        raise ConfigError("--ignore-class {!r}: no such class; the model's classes are {}".format(
            name, ", ".join(names)))
    return list(names).index(name)
