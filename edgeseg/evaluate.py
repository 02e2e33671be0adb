"""`edgeseg eval`: mIoU, per-class IoU and pixel accuracy of any artifact on labelled images."""
from typing import Any, Dict, List, Optional

import cv2
import numpy as np

from .data.pairs import find_pairs, read_pair
from .metrics import ConfusionMatrix
from .runtime.artifact import Segmenter


def evaluate(segmenter: Segmenter, data: str, ignore_index: Optional[int] = 255,
             limit: Optional[int] = None, progress=None,
             per_image: Optional[List[np.ndarray]] = None) -> Dict[str, Any]:
    """Predict each image at the model's input size, compare at the label's size (nearest). With a list as
    `per_image`, each image's confusion counts are appended to it (for `metrics.drop_interval`)."""
    pairs = find_pairs(data)[:limit]
    matrix = ConfusionMatrix(segmenter.num_classes, ignore_index)
    for done, (image_path, label_path) in enumerate(pairs, 1):
        image, label = read_pair(image_path, label_path)
        prediction = segmenter.predict(image)
        if prediction.shape != label.shape:
            prediction = cv2.resize(prediction, (label.shape[1], label.shape[0]), interpolation=cv2.INTER_NEAREST)
        image_matrix = ConfusionMatrix(segmenter.num_classes, ignore_index)
        image_matrix.update(prediction, label)
        matrix.counts += image_matrix.counts
        if per_image is not None:
            per_image.append(image_matrix.counts)
        if progress is not None:
            progress(done, len(pairs))
    summary = matrix.summary(segmenter.palette.names)
    summary.update(artifact=segmenter.path, backend=segmenter.describe(), data=data, images=len(pairs),
                   ignore_index=ignore_index)
    return summary
