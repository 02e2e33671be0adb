import numpy as np
import pytest

from edgeseg.metrics import ConfusionMatrix, drop_interval, drop_text


def test_perfect_prediction_scores_one():
    label = np.random.RandomState(0).randint(0, 4, size=(20, 30))
    matrix = ConfusionMatrix(4)
    matrix.update(label.copy(), label)
    assert matrix.mean_iou() == 1.0 and matrix.pixel_accuracy() == 1.0


def test_planted_confusion_gives_hand_computed_miou():
    # 10 pixels: class 0 x6, class 1 x4. Two class-0 pixels predicted as 1.
    label = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    prediction = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    matrix = ConfusionMatrix(2)
    matrix.update(prediction, label)
    # IoU0 = 4 / (6 + 4 - 4) = 4/6; IoU1 = 4 / (4 + 6 - 4) = 4/6
    np.testing.assert_allclose(matrix.iou(), [4 / 6, 4 / 6])
    assert matrix.mean_iou() == pytest.approx(4 / 6)
    assert matrix.pixel_accuracy() == pytest.approx(0.8)


def test_ignore_index_is_honoured():
    label = np.array([0, 1, 255, 255])
    prediction = np.array([0, 1, 1, 0])
    matrix = ConfusionMatrix(2, ignore_index=255)
    matrix.update(prediction, label)
    assert matrix.mean_iou() == 1.0 and matrix.counts.sum() == 2


def test_absent_class_is_nan_not_zero():
    label = np.array([0, 0, 1])
    matrix = ConfusionMatrix(3)
    matrix.update(label, label)
    iou = matrix.iou()
    assert np.isnan(iou[2]) and matrix.mean_iou() == 1.0
    assert matrix.summary(["a", "b", "c"])["per_class_iou"]["c"] is None


def test_out_of_range_prediction_counts_as_wrong():
    label = np.array([0, 1])
    prediction = np.array([7, 1])
    matrix = ConfusionMatrix(2, ignore_index=None)
    matrix.update(prediction, label)
    assert matrix.iou()[0] == 0.0 and matrix.pixel_accuracy() == 0.5


def test_accumulates_over_images():
    matrix = ConfusionMatrix(2)
    matrix.update(np.array([0, 0]), np.array([0, 0]))
    matrix.update(np.array([0, 1]), np.array([1, 1]))
    # class 0: tp 2, fp 1, fn 0 -> 2/3 ; class 1: tp 1, fn 1 -> 1/2
    np.testing.assert_allclose(matrix.iou(), [2 / 3, 1 / 2])


def test_void_output_class_is_left_out_of_the_mean():
    # a 3-output model whose class 2 is "void" (= the ignore index): predicting it is simply wrong
    label = np.array([0, 1, 2, 2])
    prediction = np.array([0, 2, 2, 1])
    matrix = ConfusionMatrix(3, ignore_index=2)
    matrix.update(prediction, label)
    iou = matrix.iou()
    assert np.isnan(iou[2]) and iou[0] == 1.0 and iou[1] == 0.0
    assert matrix.mean_iou() == 0.5 and matrix.pixel_accuracy() == 0.5
    assert matrix.counts.sum() == 2  # the void-labelled pixels are not counted at all


def image_counts(label, prediction, classes=3):
    matrix = ConfusionMatrix(classes, None)
    matrix.update(prediction, label)
    return matrix.counts


def whole_drop(reference, other):
    return 100 * (mean_iou_of(sum(reference)) - mean_iou_of(sum(other)))


def mean_iou_of(counts):
    matrix = ConfusionMatrix(counts.shape[0], None)
    matrix.counts = counts
    return matrix.mean_iou()


def test_a_drop_from_one_image_of_twenty_has_an_interval_from_zero():
    """INT8 wrong on one image only: a draw without it (36% of draws) drops nothing, so the interval starts at 0;
    draws with it twice or more drop more than the whole set does."""
    rng = np.random.RandomState(1)
    labels = [rng.randint(0, 3, (8, 8)) for _ in range(20)]
    fp32 = [image_counts(label, label) for label in labels]
    spoiled = labels[0].copy()
    spoiled[:4] = (spoiled[:4] + 1) % 3
    int8 = [image_counts(labels[0], spoiled)] + fp32[1:]
    low, high = drop_interval(fp32, int8, None)
    assert low == 0.0 and high > whole_drop(fp32, int8) > 0
    assert drop_interval(fp32, fp32, None) == (0.0, 0.0)


def test_the_interval_is_paired_so_a_drop_shared_by_every_image_is_tight():
    """Images of very different mIoU, each losing the same pixels: drawn in pairs, the drop barely moves; drawn
    apart (FP32 on one draw, INT8 on another) it would swing with the images' own spread."""
    rng = np.random.RandomState(2)
    fp32, int8 = [], []
    for index in range(30):
        label = rng.randint(0, 3, (16, 16))
        prediction = label.copy()
        wrong = rng.rand(16, 16) < index / 40.0  # images from 100% to 27% right
        prediction[wrong] = (label[wrong] + 1) % 3
        fp32.append(image_counts(label, prediction))
        worse = prediction.copy()
        worse[:1] = (label[:1] + 2) % 3  # the same first row wrong in every image
        int8.append(image_counts(label, worse))
    low, high = drop_interval(fp32, int8, None)
    assert low <= whole_drop(fp32, int8) <= high and high - low < 3  # drawn apart: about 22 points wide
    with pytest.raises(ValueError, match="do not pair up"):
        drop_interval(fp32, int8[1:], None)


def test_drop_text():
    assert drop_text(0.4512) == "drop 0.45 points"
    assert drop_text(0.4512, [0.3211, 0.578]) == "drop 0.45 points [0.32, 0.58]"
