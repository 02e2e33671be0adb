"""Joint image/label augmentation (numpy + OpenCV only).

Each transform is called as `transform(image, label, rng)` with an HxWx3 uint8 BGR image, an
HxW integer label and a `np.random.Generator`, and returns the new (image, label). Geometric
transforms move both identically: images are resampled bilinearly, labels by nearest neighbour
with the same pixel-centre convention as OpenCV's bilinear resize, so the two stay aligned.
`BatchMix` (CutMix, MixUp) works on a batch instead: it needs each sample's partner.
"""
from typing import Any, Callable, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import ConfigError

Transform = Callable[[np.ndarray, np.ndarray, np.random.Generator], Tuple[np.ndarray, np.ndarray]]


def resize_pair(image: np.ndarray, label: np.ndarray, width: int, height: int) -> Tuple[np.ndarray, np.ndarray]:
    """Image bilinear, label nearest: output pixel (x, y) takes the label under its centre."""
    h, w = label.shape
    rows = np.minimum(((np.arange(height) + 0.5) * (h / height)).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * (w / width)).astype(np.intp), w - 1)
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return resized, label[rows[:, None], cols[None, :]]


class Resize:
    """Resize to width x height (the model's input size)."""

    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
                 ) -> Tuple[np.ndarray, np.ndarray]:
        return resize_pair(image, label, *self.size)


class RandomScale:
    """Scale by a factor drawn uniformly from [min_scale, max_scale].

    With `size` (width, height), the factor is relative to the scale at which the image just
    covers that size (aspect ratio kept), so factor 1 fits the image to the crop.
    """

    def __init__(self, min_scale: float = 0.5, max_scale: float = 2.0,
                 size: Optional[Tuple[int, int]] = None) -> None:
        if not 0 < min_scale <= max_scale:
            raise ConfigError("scale range must satisfy 0 < min <= max, got {}..{}".format(min_scale, max_scale))
        self.range = (min_scale, max_scale)
        self.size = size

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
                 ) -> Tuple[np.ndarray, np.ndarray]:
        h, w = label.shape
        factor = rng.uniform(*self.range)
        if self.size is not None:
            factor *= max(self.size[0] / w, self.size[1] / h)
        return resize_pair(image, label, max(1, int(round(w * factor))), max(1, int(round(h * factor))))


def _span(size: int, target: int, rng: np.random.Generator) -> Tuple[slice, slice]:
    """(source, destination) slices along one axis: a random window, or a random placement if smaller."""
    offset = int(rng.integers(0, abs(size - target) + 1))
    if size >= target:
        return slice(offset, offset + target), slice(0, target)
    return slice(0, size), slice(offset, offset + size)


class RandomCrop:
    """Crop a random width x height window; a smaller image is placed at a random offset on a
    canvas filled with `fill` (BGR) in the image and `ignore_index` in the label."""

    def __init__(self, width: int, height: int, ignore_index: int = 255,
                 fill: Tuple[float, float, float] = (0, 0, 0)) -> None:
        self.size = (width, height)
        self.ignore_index = ignore_index
        self.fill = fill

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
                 ) -> Tuple[np.ndarray, np.ndarray]:
        (width, height), (h, w) = self.size, label.shape
        (src_y, dst_y), (src_x, dst_x) = _span(h, height, rng), _span(w, width, rng)
        out_image = np.empty((height, width, 3), image.dtype)
        out_image[:] = self.fill
        out_label = np.full((height, width), self.ignore_index, label.dtype)
        out_image[dst_y, dst_x] = image[src_y, src_x]
        out_label[dst_y, dst_x] = label[src_y, src_x]
        return out_image, out_label


class HorizontalFlip:
    """Mirror left-right with probability p."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
                 ) -> Tuple[np.ndarray, np.ndarray]:
        if rng.random() < self.p:
            return np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(label[:, ::-1])
        return image, label


class ColorJitter:
    """Random brightness, contrast and saturation factors in [1 - a, 1 + a]; the label is untouched."""

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2) -> None:
        if not all(0 <= a < 1 for a in (brightness, contrast, saturation)):
            raise ConfigError("colour jitter amounts must be in [0, 1), got {}, {}, {}".format(
                brightness, contrast, saturation))
        self.amounts = (brightness, contrast, saturation)

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
                 ) -> Tuple[np.ndarray, np.ndarray]:
        brightness, contrast, saturation = (rng.uniform(1 - a, 1 + a) for a in self.amounts)
        x = image.astype(np.float32) * brightness
        mean = cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).mean()
        x = (x - mean) * contrast + mean
        gray = cv2.cvtColor(x, cv2.COLOR_BGR2GRAY)[:, :, None]
        x = (x - gray) * saturation + gray
        return np.rint(np.clip(x, 0, 255)).astype(np.uint8), label


class Compose:
    """Apply transforms in order with the same rng."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator
                 ) -> Tuple[np.ndarray, np.ndarray]:
        for transform in self.transforms:
            image, label = transform(image, label, rng)
        return image, label


CUTMIX_ALPHA = 1.0  # Yun et al.: the box's area fraction is uniform
MIXUP_ALPHA = 0.2  # Zhang et al.'s ImageNet setting: most blends stay close to one image


def cutmix_box(height: int, width: int, rng: np.random.Generator) -> Tuple[slice, slice]:
    """CutMix's box (rows, columns): sides sqrt(1 - lam) of the image's for lam ~ Beta(1, 1), centred at a
    uniform pixel, clipped to the image."""
    side = np.sqrt(1.0 - rng.beta(CUTMIX_ALPHA, CUTMIX_ALPHA))
    half_h, half_w = int(height * side) // 2, int(width * side) // 2
    y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
    return slice(max(y - half_h, 0), min(y + half_h, height)), slice(max(x - half_w, 0), min(x + half_w, width))


class BatchMix:
    """Segmentation CutMix (Yun et al., ICCV 2019) and MixUp (Zhang et al., ICLR 2018), each applied to a whole
    batch with its own probability (0: off). Each sample's partner is drawn by a permutation of the batch.
    CutMix pastes one box (`cutmix_box`) from the partner into the image and the label alike. MixUp blends
    each image with its partner's by one weight lam ~ Beta(0.2, 0.2) and leaves the labels: the loss mixes
    them, lam * loss(labels) + (1 - lam) * loss(partner labels). With both, MixUp blends CutMix's result.

    `mix(images, labels, rng)` takes N x C x H x W float images and N x H x W labels, numpy arrays or torch
    tensors alike (it only slices, indexes and multiplies), mixes them in place, and returns (partner labels,
    lam) when MixUp was applied, else None.
    """

    def __init__(self, cutmix: float = 0.0, mixup: float = 0.0) -> None:
        for flag, p in (("--cutmix", cutmix), ("--mixup", mixup)):
            if not 0 <= p <= 1:
                raise ConfigError("{} is a probability in [0, 1], not {}".format(flag, p))
        self.cutmix, self.mixup = cutmix, mixup

    def __call__(self, images: Any, labels: Any, rng: np.random.Generator) -> Optional[Tuple[Any, float]]:
        batch, height, width = labels.shape
        if self.cutmix and rng.random() < self.cutmix:
            rows, cols = cutmix_box(height, width, rng)
            partner = rng.permutation(batch).tolist()
            images[..., rows, cols] = images[partner][..., rows, cols]
            labels[..., rows, cols] = labels[partner][..., rows, cols]
        if not (self.mixup and rng.random() < self.mixup):
            return None
        lam = float(rng.beta(MIXUP_ALPHA, MIXUP_ALPHA))
        partner = rng.permutation(batch).tolist()
        blend = images[partner] * (1 - lam)
        images *= lam
        images += blend
        return labels[partner], lam


def train_transforms(width: int, height: int, ignore_index: int = 255,
                     scale: Tuple[float, float] = (0.5, 2.0)) -> Compose:
    """Random scale (relative to fitting width x height), random crop, flip and colour jitter."""
    return Compose([RandomScale(scale[0], scale[1], size=(width, height)),
                    RandomCrop(width, height, ignore_index),
                    HorizontalFlip(0.5),
                    ColorJitter(0.2, 0.2, 0.2)])


def eval_transforms(width: int, height: int) -> Compose:
    """Resize to the model's input size, as the deployed preprocessing does."""
    return Compose([Resize(width, height)])
