"""The calibration subset: `num` images spread over a dataset's groups (sub-folders, or CamVid-style file-name
prefixes) and, where labels exist, towards images that show classes not yet covered; deterministic by seed."""
import functools
import os
import random
from typing import Callable, Dict, List, Optional, Set, Tuple

import cv2
import numpy as np

from ..errors import ConfigError, EdgesegError, SourceError
from ..imageio import IMAGE_EXTENSIONS, read_list_file, scan_images
from .onnx_model import Log

CLASS_WINDOW = 8          # candidates per group looked at when preferring images with new classes


class _Item(object):
    """One candidate calibration image: its path, group, and (lazily) the classes its label shows."""

    __slots__ = ("path", "group", "_classes", "_label")

    def __init__(self, path: str, group: str = "", label: Optional[Callable[[], Set[int]]] = None) -> None:
        self.path = path
        self.group = group
        self._label = label
        self._classes: Optional[Set[int]] = None

    def classes(self) -> Set[int]:
        if self._classes is None:
            try:
                self._classes = self._label() if self._label is not None else set()
            except (EdgesegError, OSError, ValueError):
                self._classes = set()  # a bad label only loses the class-spread hint
        return self._classes


def _raw_label_classes(path: str, ignore: int = 255) -> Set[int]:
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        return set()
    if label.ndim == 3:  # colour-coded labels: one class per distinct colour
        label = label[:, :, :3].astype(np.int32)
        packed = (label[:, :, 0] << 16) | (label[:, :, 1] << 8) | label[:, :, 2]
        return set(int(v) for v in np.unique(packed))
    return set(int(v) for v in np.unique(label) if int(v) != ignore)


def _labelled_items(data: str) -> Optional[Tuple[List[_Item], str]]:
    """Items of a labelled dataset `open_dataset` understands (its images, with class presence from
    its labels), or None when `data` is not one."""
    from ..data.datasets import FileDataset, open_dataset
    from ..data.pairs import find_pairs

    try:
        dataset = open_dataset(data)
    except ConfigError:  # a pairs folder without class names: raw label values stand for classes
        try:
            pairs = find_pairs(data)
        except SourceError:
            return None
        return [_Item(image, label=functools.partial(_raw_label_classes, label)) for image, label in pairs], data
    except SourceError:
        return None
    if not isinstance(dataset, FileDataset):
        return None
    ignore = dataset.ignore_index

    def classes(i: int) -> Set[int]:
        return set(int(v) for v in np.unique(dataset.label(i)) if int(v) != ignore)

    items = [_Item(image, label=functools.partial(classes, i)) for i, (image, _) in enumerate(dataset.pairs)]
    return items, dataset.root


def _assign_groups(items: List[_Item], root: str) -> None:
    """Group = sub-folder when the images span several, else the file-name prefix before the first
    `_` (CamVid's sequences: 0001TP_006690.png, Seq05VD_f00000.png)."""
    folders = [os.path.relpath(os.path.dirname(os.path.abspath(item.path)), os.path.abspath(root))
               for item in items]
    if len(set(folders)) > 1:
        for item, folder in zip(items, folders):
            item.group = folder
        return
    for item in items:
        name = os.path.basename(item.path)
        item.group = name.split("_", 1)[0] if "_" in name else ""


def _collect_items(data: str) -> Tuple[List[_Item], str]:
    """Candidate images of `data` and the root their paths are recorded against."""
    if data.startswith("synthetic:"):
        raise ConfigError("calibration needs image files, not {!r}; write scenes to disk first with "
                          "`python -m edgeseg.data.synthetic images OUT_DIR --count N`".format(data))
    if os.path.isfile(data):
        entries = read_list_file(data, fields=(1, 2), required=1)
        items = [_Item(entry[0], label=functools.partial(_raw_label_classes, entry[1])
                       if len(entry) == 2 and os.path.isfile(entry[1]) else None) for entry in entries]
        root = os.path.dirname(os.path.abspath(data))
        if not items:
            raise SourceError("{}: list file names no images".format(data))
    elif os.path.isdir(data):
        labelled = _labelled_items(data)
        if labelled is not None:
            items, root = labelled
        else:
            items, root = [_Item(path) for path in scan_images(data)], data
        if not items:
            raise SourceError("{}: no images found (looked for {} files, recursively)".format(
                data, ", ".join(IMAGE_EXTENSIONS)))
    else:
        raise SourceError("{}: no such folder or list file".format(data))
    _assign_groups(items, root)
    return items, root


def _spread(items: List[_Item], num: int, seed: int) -> List[_Item]:
    """Round-robin over the groups (group order and order within each group shuffled by `seed`);
    from each group take, among its next CLASS_WINDOW candidates, the one whose label adds the most
    classes not yet covered (the first on ties; plain order where there are no labels)."""
    rng = random.Random(seed)
    groups: Dict[str, List[_Item]] = {}
    for item in sorted(items, key=lambda it: it.path):
        groups.setdefault(item.group, []).append(item)
    order = sorted(groups)
    rng.shuffle(order)
    queues = []
    for name in order:
        queue = list(groups[name])
        rng.shuffle(queue)
        queues.append(queue)
    covered: Set[int] = set()
    chosen: List[_Item] = []
    while len(chosen) < num and any(queues):
        for queue in queues:
            if not queue or len(chosen) >= num:
                continue
            best = 0
            if queue[0]._label is not None:
                window = queue[:CLASS_WINDOW]
                gains = [len(item.classes() - covered) for item in window]
                best = gains.index(max(gains))
            item = queue.pop(best)
            covered |= item.classes() if item._label is not None else set()
            chosen.append(item)
    return chosen


def select(data: str, num: int, seed: int, log: Log) -> Tuple[List[_Item], List[_Item], str]:
    """(chosen items, all candidates, the root paths are recorded against)."""
    if num < 1:
        raise ConfigError("the calibration subset needs at least 1 image, not {}".format(num))
    items, root = _collect_items(data)
    if len(items) < num:
        log("warning: {} has only {} image(s), fewer than the {} asked for; calibrating on all of them".format(
            data, len(items), num))
    return _spread(items, num, seed), items, root


def select_subset(data: str, num: int = 500, seed: int = 0, log: Log = print) -> List[str]:
    """`num` image paths from `data`: a folder of images (searched recursively), a list file of
    'image [label]' lines, or a labelled dataset root that `open_dataset` understands (its images).

    The choice is spread round-robin over the dataset's groups (sub-folders, or CamVid-style file-name
    prefixes) and, where labels exist, towards images that show classes not yet covered;
    deterministic for a given seed. Fewer than `num` images: all of them, with a warning line."""
    return [item.path for item in select(data, num, seed, log)[0]]
