"""Class weights for the training loss from label statistics (numpy only).

Ignored pixels count nowhere. A class that never occurs gets weight 0 from "inverse" and
"median" (it never reaches the loss anyway); ENet's formula is bounded and needs no exception.
"""
from typing import NamedTuple, Optional

import numpy as np

from ..errors import ConfigError

METHODS = ("none", "inverse", "median", "enet")


class ClassFrequencies(NamedTuple):
    """Per-class pixel counts, and the labelled pixels of the images in which each class occurs."""

    pixels: np.ndarray
    image_pixels: np.ndarray


def class_frequencies(dataset, num_classes: int, ignore_index: int = 255,
                      limit: Optional[int] = None) -> ClassFrequencies:
    """Count label pixels over the first `limit` samples (all by default) of `dataset`.

    `dataset` needs `__len__` and `label(i)` (any SegmentationDataset) giving HxW integer labels.
    """
    pixels: np.ndarray = np.zeros(num_classes, np.int64)
    image_pixels: np.ndarray = np.zeros(num_classes, np.int64)
    for i in range(len(dataset) if limit is None else min(limit, len(dataset))):
        label = np.asarray(dataset.label(i)).ravel()
        counts = np.bincount(label[label != ignore_index], minlength=num_classes)
        if len(counts) > num_classes:
            raise ValueError("sample {}: label values {} exceed {} classes".format(
                i, np.flatnonzero(counts[num_classes:]) + num_classes, num_classes))
        pixels += counts
        image_pixels += (counts > 0) * counts.sum()
    return ClassFrequencies(pixels, image_pixels)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    denominator = np.asarray(denominator, np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def inverse_frequency(pixels: np.ndarray) -> np.ndarray:
    """w_c = N / (K * n_c): 1 for every class when all K classes are equally frequent."""
    pixels = np.asarray(pixels, np.float64)
    return _safe_divide(pixels.sum() / len(pixels), pixels)


def median_frequency(pixels: np.ndarray, image_pixels: np.ndarray) -> np.ndarray:
    """Median frequency balancing (Eigen & Fergus 2015, SegNet): w_c = median(f) / f_c with
    f_c = pixels of c / labelled pixels of the images containing c; median over occurring classes."""
    freq = _safe_divide(np.asarray(pixels, np.float64), image_pixels)
    return _safe_divide(np.median(freq[freq > 0]), freq)


def enet_weights(pixels: np.ndarray, c: float = 1.02) -> np.ndarray:
    """ENet (Paszke et al. 2016): w_c = 1 / ln(c + p_c), p_c = share of labelled pixels of class c."""
    pixels = np.asarray(pixels, np.float64)
    return 1.0 / np.log(c + pixels / pixels.sum())


def class_weights(method: str, dataset, num_classes: Optional[int] = None, ignore_index: Optional[int] = None,
                  limit: Optional[int] = None) -> np.ndarray:
    """float32 weights by `method` (none, inverse, median, enet); class count and ignore index
    default to the dataset's."""
    if method not in METHODS:
        raise ConfigError("class weight method {!r} unknown; use one of {}".format(method, ", ".join(METHODS)))
    num_classes = dataset.num_classes if num_classes is None else num_classes
    if method == "none":
        return np.ones(num_classes, np.float32)
    ignore_index = dataset.ignore_index if ignore_index is None else ignore_index
    freq = class_frequencies(dataset, num_classes, ignore_index, limit)
    if not freq.pixels.any():
        raise ConfigError("no labelled pixels in the dataset: cannot compute {} class weights".format(method))
    if method == "inverse":
        weights = inverse_frequency(freq.pixels)
    elif method == "median":
        weights = median_frequency(freq.pixels, freq.image_pixels)
    else:
        weights = enet_weights(freq.pixels)
    return weights.astype(np.float32)
