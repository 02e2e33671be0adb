"""Class weights against values computed by hand on a two-image dataset."""
import math

import numpy as np
import pytest

from edgeseg.data.class_weights import (
    class_frequencies,
    class_weights,
    enet_weights,
    inverse_frequency,
    median_frequency,
)
from edgeseg.data.datasets import SegmentationDataset
from edgeseg.errors import ConfigError


class Labels(SegmentationDataset):
    def __init__(self, labels, num_classes=3):
        super().__init__(["c{}".format(i) for i in range(num_classes)])
        self.labels = [np.array(label, np.uint8) for label in labels]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return np.zeros(self.labels[i].shape + (3,), np.uint8), self.labels[i]


# image A: 3 x class 0, 1 x class 1; image B: 1 x class 0, 1 x class 2, 2 ignored
DATA = Labels([[[0, 0], [0, 1]], [[0, 2], [255, 255]]])


def test_frequencies():
    freq = class_frequencies(DATA, 3, 255)
    assert freq.pixels.tolist() == [4, 1, 1]
    assert freq.image_pixels.tolist() == [4 + 2, 4, 2]  # labelled pixels of the images containing the class
    limited = class_frequencies(DATA, 3, 255, limit=1)
    assert limited.pixels.tolist() == [3, 1, 0] and limited.image_pixels.tolist() == [4, 4, 0]


def test_inverse():
    # N / (K * n_c) = 6 / (3 * [4, 1, 1])
    assert class_weights("inverse", DATA) == pytest.approx([0.5, 2.0, 2.0])
    assert inverse_frequency(np.array([5, 5])).tolist() == [1.0, 1.0]


def test_median_frequency():
    # f = [4/6, 1/4, 1/2], median 1/2 -> [0.75, 2, 1]
    assert class_weights("median", DATA) == pytest.approx([0.75, 2.0, 1.0])


def test_enet():
    # p = [4/6, 1/6, 1/6], w = 1 / ln(1.02 + p)
    expected = [1 / math.log(1.02 + 4 / 6), 1 / math.log(1.02 + 1 / 6), 1 / math.log(1.02 + 1 / 6)]
    assert class_weights("enet", DATA) == pytest.approx(expected, rel=1e-6)
    assert enet_weights(np.array([1, 1]), c=1.5) == pytest.approx([1 / math.log(2.0)] * 2)


def test_absent_class_and_none():
    data = Labels(DATA.labels, num_classes=4)
    assert class_weights("inverse", data) == pytest.approx([0.375, 1.5, 1.5, 0.0])  # 6 / (4 * n_c)
    assert class_weights("median", data) == pytest.approx([0.75, 2.0, 1.0, 0.0])  # median over present classes
    assert class_weights("enet", data)[3] == pytest.approx(1 / math.log(1.02))
    assert median_frequency(np.array([2, 0]), np.array([4, 0])).tolist() == [1.0, 0.0]
    none = class_weights("none", data)
    assert none.dtype == np.float32 and none.tolist() == [1.0] * 4


def test_bad_method_and_empty_labels():
    with pytest.raises(ConfigError, match="'focal' unknown"):
        class_weights("focal", DATA)
    with pytest.raises(ConfigError, match="no labelled pixels"):
        class_weights("median", Labels([[[255]]]))
