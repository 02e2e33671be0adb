"""Segmentation metrics from one confusion matrix: IoU per class, mIoU, pixel accuracy; and how far an mIoU
drop measured on a set of images can be trusted (a paired bootstrap over the images)."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


class ConfusionMatrix:
    """Accumulates counts[label, prediction] over images; pixels labelled `ignore_index` are skipped.

    Labels outside 0..num_classes-1 (other than the ignore index) are skipped too; predictions
    outside that range count as wrong for their label's class.
    """

    def __init__(self, num_classes: int, ignore_index: Optional[int] = 255) -> None:
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.counts: np.ndarray = np.zeros((self.num_classes, self.num_classes + 1), dtype=np.int64)

    def update(self, prediction: np.ndarray, label: np.ndarray) -> None:
        if prediction.shape != label.shape:
            raise ValueError("prediction {} and label {} differ in shape".format(prediction.shape, label.shape))
        label = label.reshape(-1).astype(np.int64)
        prediction = prediction.reshape(-1).astype(np.int64)
        keep = (label >= 0) & (label < self.num_classes)
        if self.ignore_index is not None:
            keep &= label != self.ignore_index
        label, prediction = label[keep], prediction[keep]
        prediction = np.where((prediction >= 0) & (prediction < self.num_classes), prediction, self.num_classes)
        width = self.num_classes + 1
        self.counts += np.bincount(label * width + prediction, minlength=self.num_classes * width).reshape(
            self.num_classes, width)

    def iou(self) -> np.ndarray:
        """IoU per class; NaN for a class absent from both labels and predictions, and for the
        ignore index when it is one of the model's outputs (a void class: predicting it is wrong)."""
        square = self.counts[:, : self.num_classes]
        true_pos = np.diag(square).astype(np.float64)
        union = self.counts.sum(axis=1) + square.sum(axis=0) - true_pos
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, true_pos / np.maximum(union, 1), np.nan)
        if self.ignore_index is not None and 0 <= self.ignore_index < self.num_classes:
            iou[self.ignore_index] = np.nan
        return iou

    def mean_iou(self) -> float:
        iou = self.iou()
        return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan")

    def pixel_accuracy(self) -> float:
        total = self.counts.sum()
        return float(np.trace(self.counts[:, : self.num_classes]) / total) if total else float("nan")

    def summary(self, class_names: Optional[Sequence[str]] = None) -> Dict[str, object]:
        names: List[str] = list(class_names) if class_names else ["class_{}".format(i) for i in range(self.num_classes)]
        iou = self.iou()
        return {
            "miou": self.mean_iou(),
            "pixel_accuracy": self.pixel_accuracy(),
            "pixels": int(self.counts.sum()),
            "per_class_iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(names, iou)},
        }


def _mean_iou(counts: np.ndarray, ignore_index: Optional[int]) -> float:
    matrix = ConfusionMatrix(counts.shape[0], ignore_index)
    matrix.counts = counts
    return matrix.mean_iou()


def drop_interval(reference: Sequence[np.ndarray], other: Sequence[np.ndarray], ignore_index: Optional[int] = 255,
                  draws: int = 1000, seed: int = 0) -> Tuple[float, float]:
    """95% interval of the mIoU drop, in points, from `reference` to `other`: their per-image confusion counts
    (`ConfusionMatrix.counts` of each image, in the same order) resampled `draws` times with replacement, both
    summed over the same draw (paired), the 2.5th and 97.5th percentiles of the drops."""
    first, second = np.asarray(reference), np.asarray(other)
    if first.shape != second.shape or not len(first):
        raise ValueError("per-image counts {} and {} do not pair up".format(first.shape, second.shape))
    rng = np.random.RandomState(seed)
    drops = []
    for _ in range(draws):
        pick = rng.randint(0, len(first), len(first))
        drops.append(100 * (_mean_iou(first[pick].sum(axis=0), ignore_index)
                            - _mean_iou(second[pick].sum(axis=0), ignore_index)))
    bounds = np.nanpercentile(np.array(drops), [2.5, 97.5])
    return float(bounds[0]), float(bounds[1])


def drop_text(drop_points: float, interval: Optional[Sequence[float]] = None) -> str:
    """"drop 0.45 points [0.32, 0.58]": an mIoU drop and, where measured, its 95% interval."""
    return "drop {:.2f} points{}".format(drop_points, " [{:.2f}, {:.2f}]".format(*interval) if interval else "")
