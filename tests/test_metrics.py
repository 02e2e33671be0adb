import numpy as np
import pytest

from edgeseg.metrics import ConfusionMatrix


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
