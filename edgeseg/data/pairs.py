"""Image/label pairs on disk: `images/` + `labels/` folders with matching names, or a list file."""
import os
from typing import List, Tuple

import cv2
import numpy as np

from ..errors import SourceError
from ..imageio import IMAGE_DIRS, LABEL_DIRS, is_image_name, read_image, read_list_file


def _files(folder: str) -> List[str]:
    return sorted(f for f in os.listdir(folder) if is_image_name(f))


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
        pairs = [(image, label) for image, label in read_list_file(data, fields=(2, 2))]
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
    image = read_image(image_path)
    label = cv2.imread(label_path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise SourceError("{}: cannot read label".format(label_path))
    if label.ndim != 2:
        raise SourceError("{}: label has {} channels; labels must be single-channel class ids".format(
            label_path, label.shape[2]))
    return image, label
