"""Image/label pairs on disk: `images/` + `labels/` folders with matching names, or a list file."""
import os
from typing import List, Tuple

import cv2
import numpy as np

from ..errors import SourceError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
IMAGE_DIRS = ("images", "image", "img", "leftImg8bit")
LABEL_DIRS = ("labels", "label", "masks", "annotations", "gtFine")


def _files(folder: str) -> List[str]:
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))


def resolve_listed(entry: str, root: str) -> str:
    """A path from a list file, the one rule for every stage: as written when it exists (absolute or relative
    to the working folder), else under the list's folder, else (SegNet's absolute paths such as
    /SegNet/CamVid/train/x.png) by its last two components under the list's folder."""
    if os.path.isabs(entry) and os.path.exists(entry):
        return entry
    candidate = os.path.join(root, entry.lstrip("/"))
    if os.path.exists(candidate):
        return candidate
    tail = os.path.join(root, os.path.basename(os.path.dirname(entry)), os.path.basename(entry))
    return tail if os.path.exists(tail) else candidate


def _from_list(list_file: str) -> List[Tuple[str, str]]:
    root = os.path.dirname(os.path.abspath(list_file))
    pairs = []
    with open(list_file) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise SourceError("{}:{}: expected 'image label', got {!r}".format(list_file, number, line.strip()))
            pairs.append(tuple(resolve_listed(p, root) for p in fields))
    return pairs


def _from_folders(root: str) -> List[Tuple[str, str]]:
    image_dir = next((os.path.join(root, d) for d in IMAGE_DIRS if os.path.isdir(os.path.join(root, d))), None)
    label_dir = next((os.path.join(root, d) for d in LABEL_DIRS if os.path.isdir(os.path.join(root, d))), None)
    if image_dir is None or label_dir is None:
        return []
    labels = {os.path.splitext(f)[0]: os.path.join(label_dir, f) for f in _files(label_dir)}
    return [(os.path.join(image_dir, f), labels[os.path.splitext(f)[0]]) for f in _files(image_dir)
            if os.path.splitext(f)[0] in labels]


def find_pairs(data: str) -> List[Tuple[str, str]]:
    """(image, label) paths from a folder (images/ + labels/, matched by name) or a list file."""
    if os.path.isfile(data):
        pairs = _from_list(data)
    elif os.path.isdir(data):
        pairs = _from_folders(data)
    else:
        raise SourceError("{}: no such folder or list file".format(data))
    if not pairs:
        raise SourceError("{}: no image/label pairs found; expected images/ and labels/ with matching file "
                          "names, or a list file of 'image label' lines".format(data))
    return pairs


def read_pair(image_path: str, label_path: str) -> Tuple[np.ndarray, np.ndarray]:
    """BGR image and single-channel label map; a one-line SourceError for anything unreadable."""
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError("{}: cannot read image".format(image_path))
    label = cv2.imread(label_path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise SourceError("{}: cannot read label".format(label_path))
    if label.ndim != 2:
        raise SourceError("{}: label has {} channels; labels must be single-channel class ids".format(
            label_path, label.shape[2]))
    return image, label
