"""Segmentation datasets on disk and synthetic ones (numpy + OpenCV only, no torch).

Every dataset yields (HxWx3 uint8 BGR image, HxW uint8 label) with ignored pixels set to
`ignore_index` (255 for all of these formats). Raw label values go through a 256-entry table:

- CamVid (SegNet split): ids 0..10 as they are, 11 (void) -> 255.
- Cityscapes: gtFine labelIds 0..33 -> the 19 train ids, all other ids -> 255.
- VOC2012: palette PNG colours -> indices 0..20, 255 (object boundaries) stays 255.
- ADE20K (ADEChallengeData2016): 0 ("other") -> 255, 1..150 -> 0..149 (mmseg's reduce_zero_label).
- Pairs folders and list files: values as they are (0..num_classes-1 and ignore_index).

A label value outside its format's table, a label whose size differs from its image, a missing
or unreadable file and an empty dataset each raise a one-line SourceError naming the file.
"""
import glob
import os
from typing import Dict, Iterator, List, Sequence, Tuple, Union

import cv2
import numpy as np

from ..errors import ConfigError, SourceError
from ..imageio import IMAGE_DIRS, LABEL_DIRS, read_image
from ..palettes import default_palette, get_palette, known_palettes, read_names
from ..preprocess import parse_size
from . import synthetic
from .pairs import find_pairs

Classes = Union[None, int, str, Sequence[str]]

IGNORE_INDEX = 255

# cityscapesScripts labels.py: labelId -> trainId for the 19 evaluated classes; the other
# labelIds 0..33 are ignored (license plate, id -1, is never drawn into labelIds images).
CITYSCAPES_TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}

_ADE20K_SPLITS = {"train": "training", "val": "validation", "training": "training",
                  "validation": "validation"}
_SYNTHETIC_SEEDS = {"train": 0, "val": 1000000, "test": 2000000}  # disjoint scenes per split


def _lut(mapping: Dict[int, int]) -> np.ndarray:
    """256-entry raw value -> class id (or ignore) table; -1 marks values the format never uses."""
    lut: np.ndarray = np.full(256, -1, np.int16)
    for raw, target in mapping.items():
        lut[raw] = target
    return lut


def _ranges(values: np.ndarray) -> str:
    """[0 1 2 3 255] -> '0..3, 255'."""
    runs = np.split(values, np.flatnonzero(np.diff(values) != 1) + 1)
    return ", ".join("{}..{}".format(r[0], r[-1]) if len(r) > 1 else str(r[0]) for r in runs)


class SegmentationDataset:
    """Indexable (image, label) samples: HxWx3 uint8 BGR image, HxW uint8 label."""

    name = "dataset"

    def __init__(self, classes: Sequence[str], ignore_index: int = IGNORE_INDEX) -> None:
        self.classes: List[str] = list(classes)
        self.ignore_index = ignore_index

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        return (self[i] for i in range(len(self)))

    def label(self, i: int) -> np.ndarray:
        """The label of sample i alone (file datasets skip reading the image)."""
        return self[i][1]

    def __repr__(self) -> str:
        return "{}({} samples, {} classes)".format(type(self).__name__, len(self), self.num_classes)


class FileDataset(SegmentationDataset):
    """Samples from (image, label) file pairs; raw 8-bit label values are mapped through `lut`."""

    layout = ""  # what the format expects on disk, "{split}" filled in; for error messages

    def __init__(self, root: str, split: str, pairs: Sequence[Tuple[str, str]],
                 classes: Sequence[str], lut: np.ndarray, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__(classes, ignore_index)
        self.root, self.split = root, split
        if not pairs:
            raise SourceError("{}: no {} samples found; {} expects {}".format(
                root, split, self.name, self.layout.format(split=split)))
        for image, label in pairs:
            if not os.path.isfile(image):
                raise SourceError("{}: image not found ({} data at {})".format(image, self.name, root))
            if not os.path.isfile(label):
                raise SourceError("{}: label not found for image {}".format(label, image))
        self.pairs = list(pairs)
        self._lut = lut
        self._lut8 = lut.astype(np.uint8)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Tuple[np.ndarray, np.ndarray]:
        image_path, label_path = self.pairs[i]
        image = read_image(image_path)
        label = self.label(i)
        if image.shape[:2] != label.shape:
            raise SourceError("{}: image is {}x{} but its label {} is {}x{}; labels must match their images".format(
                image_path, image.shape[1], image.shape[0], label_path, label.shape[1], label.shape[0]))
        return image, label

    def label(self, i: int) -> np.ndarray:
        path = self.pairs[i][1]
        raw = self._read_label(path)
        if raw.ndim != 2 or raw.dtype != np.uint8:
            raise SourceError("{}: label is {} with {} channel(s); labels must be single-channel 8-bit "
                              "class ids".format(path, raw.dtype, 1 if raw.ndim == 2 else raw.shape[2]))
        seen = np.bincount(raw.ravel(), minlength=256) > 0
        bad = np.flatnonzero(seen & (self._lut < 0))
        if len(bad):
            raise SourceError("{}: unexpected label values {}; {} labels take {} (wrong dataset or class "
                              "count?)".format(path, bad[:10].tolist(), self.name,
                                               _ranges(np.flatnonzero(self._lut >= 0))))
        return np.take(self._lut8, raw)

    def _read_label(self, path: str) -> np.ndarray:
        label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if label is None:
            raise SourceError("{}: cannot read label".format(path))
        return label


def _class_names(classes: Classes, path: str) -> List[str]:
    """Names from a list, a count, a palette name or a names file; else classes.txt near `path`."""
    if isinstance(classes, int):
        return default_palette(classes).names
    if isinstance(classes, str):
        if classes.strip().lower() in known_palettes():
            return get_palette(classes).names
        if os.path.isfile(classes):
            return read_names(classes)
        raise ConfigError("classes {!r} is neither a palette name ({}) nor a names file".format(
            classes, ", ".join(known_palettes())))
    if classes is not None:
        return [str(c) for c in classes]
    folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path))
    for candidate in (os.path.join(folder, "classes.txt"), os.path.join(os.path.dirname(folder), "classes.txt")):
        if os.path.isfile(candidate):
            return read_names(candidate)
    raise ConfigError("{}: unknown classes; pass the class names, count or palette name, or put a "
                      "classes.txt (one name a line) beside it".format(path))


class PairsDataset(FileDataset):
    """images/ + labels/ folders matched by name, or a list file of 'image label' lines."""

    name = "pairs"
    layout = "images/ and labels/ with matching file names, or a list file of 'image label' lines"

    def __init__(self, path: str, classes: Classes = None, ignore_index: int = IGNORE_INDEX) -> None:
        names = _class_names(classes, path)
        if not 0 <= ignore_index <= 255 or ignore_index < len(names):
            raise ConfigError("ignore index {} must be in {}..255 for {} classes".format(
                ignore_index, len(names), len(names)))
        lut = _lut({c: c for c in list(range(len(names))) + [ignore_index]})
        super().__init__(path, "", find_pairs(path), names, lut, ignore_index)


class CamVid(FileDataset):
    """SegNet's CamVid: <split>.txt lists 'image label' paths relative to root; 11 = void -> 255.

    Absolute paths as in the SegNet tutorial (/SegNet/CamVid/train/x.png) are resolved by their
    last two components under root.
    """

    name = "camvid"
    layout = "{split}.txt listing '{split}/x.png {split}annot/x.png' lines"

    def __init__(self, root: str, split: str = "train") -> None:
        list_file = os.path.join(root, split + ".txt")
        if not os.path.isfile(list_file):
            raise SourceError("{}: no {}.txt; CamVid (SegNet layout) expects {}".format(
                root, split, self.layout.format(split=split)))
        pairs = find_pairs(list_file)
        lut = _lut({c: c if c < 11 else IGNORE_INDEX for c in range(12)})
        super().__init__(root, split, pairs, get_palette("camvid").names, lut)


class Cityscapes(FileDataset):
    """leftImg8bit/<split>/<city>/*_leftImg8bit.png with gtFine *_gtFine_labelIds.png -> 19 train ids."""

    name = "cityscapes"
    layout = "leftImg8bit/{split}/<city>/*_leftImg8bit.png and gtFine/{split}/<city>/*_gtFine_labelIds.png"

    def __init__(self, root: str, split: str = "train") -> None:
        pairs = []
        for image in sorted(glob.glob(os.path.join(root, "leftImg8bit", split, "*", "*_leftImg8bit.png"))):
            city = os.path.basename(os.path.dirname(image))
            stem = os.path.basename(image)[:-len("_leftImg8bit.png")]
            pairs.append((image, os.path.join(root, "gtFine", split, city, stem + "_gtFine_labelIds.png")))
        lut = _lut({i: CITYSCAPES_TRAIN_IDS.get(i, IGNORE_INDEX) for i in range(34)})
        super().__init__(root, split, pairs, get_palette("cityscapes").names, lut)


def _voc_colour_table() -> Tuple[np.ndarray, np.ndarray]:
    """Sorted packed RGB values of the VOC colour map and the index of each (the map is bijective)."""
    rgb = np.array(default_palette(256).colors, np.int32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    order = np.argsort(packed)
    return packed[order], order.astype(np.uint8)


_VOC_PACKED, _VOC_INDEX = _voc_colour_table()


class VOC(FileDataset):
    """PASCAL VOC2012: JPEGImages/, SegmentationClass/ palette PNGs, ImageSets/Segmentation/<split>.txt.

    OpenCV expands palette PNGs to BGR, so colours are mapped back to indices through the VOC
    colour map; single-channel index PNGs (e.g. SegmentationClassAug) are read as they are.
    """

    name = "voc"
    layout = "JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/{split}.txt (or a VOC2012/ folder)"

    def __init__(self, root: str, split: str = "train") -> None:
        if os.path.isdir(os.path.join(root, "VOC2012")):
            root = os.path.join(root, "VOC2012")
        list_file = os.path.join(root, "ImageSets", "Segmentation", split + ".txt")
        if not os.path.isfile(list_file):
            raise SourceError("{}: split list not found; VOC expects {}".format(
                list_file, self.layout.format(split=split)))
        with open(list_file) as f:
            ids = [line.strip() for line in f if line.strip()]
        pairs = [(os.path.join(root, "JPEGImages", i + ".jpg"), os.path.join(root, "SegmentationClass", i + ".png"))
                 for i in ids]
        lut = _lut({c: c for c in list(range(21)) + [IGNORE_INDEX]})
        super().__init__(root, split, pairs, get_palette("voc").names, lut)

    def _read_label(self, path: str) -> np.ndarray:
        label = super()._read_label(path)
        if label.ndim == 2:
            return label
        bgr: np.ndarray = label[:, :, :3].astype(np.int32)
        packed = (bgr[:, :, 2] << 16) | (bgr[:, :, 1] << 8) | bgr[:, :, 0]
        pos = np.minimum(np.searchsorted(_VOC_PACKED, packed), 255)
        unknown = _VOC_PACKED[pos] != packed
        if unknown.any():
            b, g, r = bgr[unknown][0]
            raise SourceError("{}: colour RGB({}, {}, {}) is not in the VOC colour map; labels must be VOC "
                              "palette PNGs or single-channel class ids".format(path, r, g, b))
        return _VOC_INDEX[pos]


class ADE20K(FileDataset):
    """ADEChallengeData2016: images/{training,validation}/*.jpg + annotations/.../*.png; 0 -> 255."""

    name = "ade20k"
    layout = "ADEChallengeData2016/images/<training|validation>/*.jpg with annotations/<...>/*.png"

    def __init__(self, root: str, split: str = "train") -> None:
        if os.path.isdir(os.path.join(root, "ADEChallengeData2016")):
            root = os.path.join(root, "ADEChallengeData2016")
        if split not in _ADE20K_SPLITS:
            raise ConfigError("ADE20K split {!r} unknown; use train or val".format(split))
        folder = _ADE20K_SPLITS[split]
        pairs = [(image, os.path.join(root, "annotations", folder, os.path.basename(image)[:-4] + ".png"))
                 for image in sorted(glob.glob(os.path.join(root, "images", folder, "*.jpg")))]
        lut = _lut({c: c - 1 if c else IGNORE_INDEX for c in range(151)})
        super().__init__(root, split, pairs, get_palette("ade20k").names, lut)


class SyntheticScenes(SegmentationDataset):
    """`count` synthetic street scenes rendered on the fly: sample i is scene seed + i."""

    name = "synthetic"

    def __init__(self, count: int, width: int = 480, height: int = 360, seed: int = 0) -> None:
        if count < 1 or width < 16 or height < 16 or seed < 0:
            raise ConfigError("synthetic scenes need count >= 1, size >= 16x16 and seed >= 0 (got {}, {}x{}, {})"
                              .format(count, width, height, seed))
        super().__init__(synthetic.CLASSES)
        self.count, self.size, self.seed = count, (width, height), seed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Tuple[np.ndarray, np.ndarray]:
        if not -self.count <= i < self.count:
            raise IndexError("sample {} out of range for {} scenes".format(i, self.count))
        return synthetic.render_scene(self.seed + i % self.count, *self.size)


def _synthetic_spec(spec: str, split: str) -> SyntheticScenes:
    parts = spec.split(":")[1:]
    if not 1 <= len(parts) <= 2 or not parts[0].isdigit():
        raise ConfigError("{!r} is not synthetic:COUNT[:WIDTHxHEIGHT] (for example synthetic:200:480x360)".format(spec))
    if split not in _SYNTHETIC_SEEDS:
        raise ConfigError("synthetic split {!r} unknown; use one of {}".format(split, ", ".join(_SYNTHETIC_SEEDS)))
    width, height = parse_size(parts[1]) if len(parts) == 2 else (480, 360)
    return SyntheticScenes(int(parts[0]), width, height, seed=_SYNTHETIC_SEEDS[split])


def _is_pairs_folder(folder: str) -> bool:
    return (any(os.path.isdir(os.path.join(folder, d)) for d in IMAGE_DIRS)
            and any(os.path.isdir(os.path.join(folder, d)) for d in LABEL_DIRS))


def open_dataset(path_or_spec: str, split: str = "train", classes: Classes = None) -> SegmentationDataset:
    """The dataset at a path (layout detected, see below) or from a `synthetic:N[:WxH]` spec.

    In order: a synthetic spec; a list file (pairs); a CamVid root (a trainannot/, valannot/ or
    testannot/ folder); Cityscapes (leftImg8bit/ and gtFine/); VOC (JPEGImages/ and
    SegmentationClass/, or VOC2012/); ADE20K (ADEChallengeData2016/ or images/training/); a pairs
    folder <path>/<split> or <path> itself. `classes` is for pairs folders and list files only.
    """
    if path_or_spec.startswith("synthetic:"):
        return _synthetic_spec(path_or_spec, split)
    path = path_or_spec
    if os.path.isfile(path):
        return PairsDataset(path, classes)
    if not os.path.isdir(path):
        raise SourceError("{}: no such folder or list file (nor a synthetic:N[:WxH] spec)".format(path))

    def has(*names: str) -> bool:
        return all(os.path.exists(os.path.join(path, *name.split("/"))) for name in names)

    if has("trainannot") or has("valannot") or has("testannot"):
        return CamVid(path, split)
    if has("leftImg8bit", "gtFine"):
        return Cityscapes(path, split)
    if has("JPEGImages", "SegmentationClass") or has("VOC2012"):
        return VOC(path, split)
    if has("ADEChallengeData2016") or has("images/training"):
        return ADE20K(path, split)
    for folder in (os.path.join(path, split), path):
        if _is_pairs_folder(folder):
            return PairsDataset(folder, classes)
    layouts = ["CamVid: " + CamVid.layout, "Cityscapes: " + Cityscapes.layout, "VOC: " + VOC.layout,
               "ADE20K: " + ADE20K.layout, "pairs: [{split}/]" + PairsDataset.layout]
    raise SourceError("{}: no dataset found; expected one of: {}".format(
        path, "; ".join(layout.format(split=split) for layout in layouts)))
