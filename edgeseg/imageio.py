"""The one image reader of every stage (calibrate, eval, run): image file names, the conversion of any
decoded image to 8-bit BGR, folder scans and list files. One rule each, so that every stage sees the
same pixels from the same file."""
import os
from typing import List, Optional, Tuple

import cv2
import numpy as np

from .errors import SourceError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
                    ".pnm", ".jp2")
IMAGE_DIRS = ("images", "image", "img", "leftImg8bit")
LABEL_DIRS = ("labels", "label", "masks", "annotations", "gtFine")  # skipped when scanning for images


def is_image_name(name: str) -> bool:
    """True for a visible file name with an image extension (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS) and not os.path.basename(name).startswith(".")


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded image as HxWx3 uint8 BGR: grey, grey+alpha and BGRA are converted; 16-bit samples are
    scaled by 255/65535 (rounded), signed ones shifted to unsigned first; float samples are taken as 0..1
    when none exceeds 1, else as 0..255 (NaN as 0). ValueError for a layout it cannot convert."""
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    if image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("unsupported image shape {}".format(image.shape))
    if image.dtype == np.int8:
        image = (image.astype(np.int16) + 128).astype(np.uint8)
    elif image.dtype == np.int16:
        image = (image.astype(np.int32) + 32768).astype(np.uint16)
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif image.dtype in (np.float16, np.float32, np.float64):
        data = np.nan_to_num(image.astype(np.float32))
        data = data * 255.0 if float(data.max()) <= 1.0 else data
        image = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError("unsupported sample type {}".format(image.dtype))
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if channels == 2:  # grey + alpha
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, 0]), cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if channels == 3:
        return image
    raise ValueError("unsupported channel count {}".format(channels))


def decode_bgr8(path: str) -> Optional[np.ndarray]:
    """The image file as uint8 BGR, or None when OpenCV cannot decode or convert it."""
    try:
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        return None if image is None or image.size == 0 else to_bgr8(image)
    except (cv2.error, ValueError, OSError):
        return None


def read_image(path: str) -> np.ndarray:
    """The image file as HxWx3 uint8 BGR (see `to_bgr8`); a one-line SourceError naming the file when it is
    missing, unreadable or of a layout no stage can use."""
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise SourceError("{}: cannot read image (missing, unreadable or not an image)".format(path))
    try:
        return to_bgr8(image)
    except ValueError as exc:
        raise SourceError("{}: {}; use a grey, BGR or BGRA image with 8-bit, 16-bit or float samples".format(
            path, exc))


def scan_images(folder: str) -> List[str]:
    """Image files under `folder`, recursively, sorted; label folders and hidden entries skipped."""
    found: List[str] = []
    errors: List[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=errors.append):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in LABEL_DIRS)
        found.extend(os.path.join(root, f) for f in sorted(files) if is_image_name(f))
    if errors and not found:
        raise SourceError("{}: cannot read this folder ({})".format(folder, errors[0].strerror or errors[0]))
    return found


def resolve_listed(entry: str, root: str) -> str:
    """A path from a list file: as written when it exists (absolute or relative to the working folder),
    else under the list's folder `root`, else (SegNet's absolute paths such as /SegNet/CamVid/train/x.png)
    by its last two components under `root`."""
    if os.path.isabs(entry) and os.path.exists(entry):
        return entry
    candidate = os.path.join(root, entry.lstrip("/"))
    if os.path.exists(candidate):
        return candidate
    tail = os.path.join(root, os.path.basename(os.path.dirname(entry)), os.path.basename(entry))
    return tail if os.path.exists(tail) else candidate


def read_list_file(path: str, fields: Tuple[int, int] = (1, 2), required: int = 0) -> List[Tuple[str, ...]]:
    """The lines of a list file ('image [label]' paths, blank lines skipped) with each path resolved by
    `resolve_listed`; `fields` is the (fewest, most) paths a line may hold, and the first `required` paths of
    a line must be files. One-line SourceError naming the file and line otherwise."""
    root = os.path.dirname(os.path.abspath(path))
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError("{}: cannot read list file ({})".format(path, exc))
    expected = "'image label'" if fields[0] == 2 else "'image [label]'"
    entries: List[Tuple[str, ...]] = []
    for number, line in enumerate(lines, 1):
        paths = line.split()
        if not paths:
            continue
        if not fields[0] <= len(paths) <= fields[1]:
            raise SourceError("{}:{}: expected {}, got {!r}".format(path, number, expected, line.strip()))
        resolved = tuple(resolve_listed(p, root) for p in paths)
        missing = [p for p in resolved[:required] if not os.path.isfile(p)]
        if missing:
            raise SourceError("{}:{}: image {} not found".format(path, number, missing[0]))
        entries.append(resolved)
    return entries
