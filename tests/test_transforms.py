"""Joint transforms keep image and label aligned, pad with ignore, and are deterministic per rng."""
import cv2
import numpy as np
import pytest

from edgeseg.data.transforms import (
    BatchMix,
    ColorJitter,
    Compose,
    HorizontalFlip,
    RandomCrop,
    RandomScale,
    Resize,
    cutmix_box,
    eval_transforms,
    resize_pair,
    train_transforms,
)
from edgeseg.errors import ConfigError

COLOURS = np.array([(40 * k, 250 - 40 * k, (97 * k) % 256) for k in range(6)], np.uint8)


def coded_pair(width=128, height=96, block=8, seed=0):
    """A blocky label and an image whose colour at each pixel is COLOURS[label]."""
    cells = np.random.default_rng(seed).integers(0, len(COLOURS), (height // block, width // block))
    label = np.repeat(np.repeat(cells, block, axis=0), block, axis=1).astype(np.uint8)
    return COLOURS[label], label


def assert_aligned(image, label, ignore=255):
    """Where the label is uniform over 3x3, the image colour is that label's colour (bilinear
    resampling only mixes colours next to label boundaries); padding is black."""
    kernel = np.ones((3, 3), np.uint8)
    interior = (cv2.erode(label, kernel) == cv2.dilate(label, kernel)) & (label != ignore)
    assert interior.sum() > 0.3 * (label != ignore).sum()
    difference = np.abs(image[interior].astype(int) - COLOURS[label[interior]].astype(int))
    assert difference.max() <= 1
    assert (image[label == ignore] == 0).all()


@pytest.mark.parametrize("seed", range(12))
def test_scale_crop_flip_keep_alignment(seed):
    image, label = coded_pair(seed=seed)
    transform = Compose([RandomScale(0.5, 2.0, size=(100, 70)), RandomCrop(100, 70, 255), HorizontalFlip(0.5)])
    out_image, out_label = transform(image, label, np.random.default_rng(seed))
    assert out_image.shape == (70, 100, 3) and out_label.shape == (70, 100)
    assert out_image.dtype == np.uint8 and out_label.dtype == np.uint8
    assert_aligned(out_image, out_label)


@pytest.mark.parametrize("factor", [0.5, 0.77, 1.0, 1.3, 2.0])
def test_resize_alignment_and_nearest_convention(factor):
    image, label = coded_pair()
    size = (int(round(128 * factor)), int(round(96 * factor)))
    out_image, out_label = resize_pair(image, label, *size)
    assert_aligned(out_image, out_label)


@pytest.mark.skipif(not hasattr(cv2, "INTER_NEAREST_EXACT"), reason="OpenCV < 4.5 has no INTER_NEAREST_EXACT")
@pytest.mark.parametrize("size,new_size", [(96, 48), (96, 125), (128, 166), (128, 99), (50, 200)])
def test_nearest_is_opencv_pixel_centre_nearest(size, new_size):
    """Labels take the source pixel under each output pixel's centre, as INTER_NEAREST_EXACT does
    (which may pick the other pixel when a centre falls exactly on a pixel border)."""
    ramp = np.tile(np.arange(size, dtype=np.uint8)[:, None], (1, 3))
    ours = resize_pair(np.dstack([ramp] * 3), ramp, 3, new_size)[1][:, 0]
    exact = cv2.resize(ramp, (3, new_size), interpolation=cv2.INTER_NEAREST_EXACT)[:, 0]
    centres = (np.arange(new_size) + 0.5) * size / new_size
    assert ((ours == exact) | (centres == np.round(centres))).all()
    _, transposed = resize_pair(np.dstack([ramp.T] * 3), ramp.T, new_size, 3)
    assert np.array_equal(transposed[0], ours)


def test_padding_uses_ignore_index_and_fill():
    image, label = coded_pair(6, 4, block=2)
    out_image, out_label = RandomCrop(10, 8, ignore_index=99, fill=(1, 2, 3))(image, label, np.random.default_rng(1))
    assert out_image.shape == (8, 10, 3) and out_label.shape == (8, 10)
    assert (out_label == 99).sum() == 80 - 24
    assert (out_image[out_label == 99] == (1, 2, 3)).all()
    ys, xs = np.nonzero(out_label != 99)
    assert np.array_equal(out_label[ys.min():ys.max() + 1, xs.min():xs.max() + 1], label)  # placed whole
    assert np.array_equal(out_image[ys.min():ys.max() + 1, xs.min():xs.max() + 1], image)


def test_crop_is_a_window_of_the_input():
    image, label = coded_pair()
    out_image, out_label = RandomCrop(50, 40)(image, label, np.random.default_rng(3))
    matches = [(y, x) for y in range(96 - 40 + 1) for x in range(128 - 50 + 1)
               if np.array_equal(image[y:y + 40, x:x + 50], out_image)
               and np.array_equal(label[y:y + 40, x:x + 50], out_label)]
    assert matches


def test_flip():
    image, label = coded_pair()
    flipped_image, flipped_label = HorizontalFlip(1.0)(image, label, np.random.default_rng(0))
    assert np.array_equal(flipped_image, image[:, ::-1]) and np.array_equal(flipped_label, label[:, ::-1])
    same_image, same_label = HorizontalFlip(0.0)(image, label, np.random.default_rng(0))
    assert same_image is image and same_label is label


def test_same_seed_same_result():
    image, label = coded_pair()
    transform = train_transforms(100, 70, ignore_index=255)
    first = transform(image, label, np.random.default_rng(42))
    second = transform(image, label, np.random.default_rng(42))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    results = [transform(image, label, np.random.default_rng(seed))[1] for seed in range(5)]
    assert any(not np.array_equal(results[0], r) for r in results[1:])
    assert first[0].shape == (70, 100, 3) and first[1].shape == (70, 100)


def test_colour_jitter_changes_image_only():
    image, label = coded_pair()
    keep = label.copy()
    out_image, out_label = ColorJitter(0.4, 0.4, 0.4)(image, label, np.random.default_rng(5))
    assert np.array_equal(out_label, keep) and out_image.dtype == np.uint8 and out_image.shape == image.shape
    assert not np.array_equal(out_image, image)
    unchanged, _ = ColorJitter(0, 0, 0)(image, label, np.random.default_rng(5))
    assert np.array_equal(unchanged, image)


def test_eval_transforms_resize():
    image, label = coded_pair()
    out_image, out_label = eval_transforms(64, 48)(image, label, np.random.default_rng(0))
    assert out_image.shape == (48, 64, 3) and out_label.shape == (48, 64)
    assert np.array_equal(out_label, label[1::2, 1::2])
    assert Resize(128, 96)(image, label, np.random.default_rng(0))[1] is not None


def test_bad_parameters():
    with pytest.raises(ConfigError):
        RandomScale(2.0, 1.0)
    with pytest.raises(ConfigError):
        ColorJitter(brightness=1.5)


def coded_batch(batch=6, height=40, width=56, seed=0):
    """Float NCHW images whose every pixel encodes (sample, label): channel 0 holds the sample, 1 and 2 the
    label (and label + 100); labels are random blocks."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.repeat(rng.integers(0, 19, (batch, height // 4, width // 4)), 4, axis=1), 4, axis=2)
    samples = np.broadcast_to(np.arange(batch)[:, None, None], labels.shape)
    images = np.stack([samples, labels, labels + 100], axis=1).astype(np.float32)
    return images, labels


@pytest.mark.parametrize("seed", range(8))
def test_cutmix_pastes_one_box_from_one_partner_into_image_and_label(seed):
    images, labels = coded_batch(seed=seed)
    original_images, original_labels = images.copy(), labels.copy()
    assert BatchMix(cutmix=1.0)(images, labels, np.random.default_rng(seed)) is None
    assert np.array_equal(images[:, 1], labels) and np.array_equal(images[:, 2], labels + 100)  # aligned
    sources = images[:, 0].astype(int)
    assert np.array_equal(labels, original_labels[sources, np.arange(40)[:, None], np.arange(56)])
    pasted = sources != np.arange(6)[:, None, None]
    box = pasted.any(axis=0)
    if box.any():
        rows, cols = np.nonzero(box)
        rectangle = np.zeros_like(box)
        rectangle[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
        assert np.array_equal(box, rectangle)  # one box, the same in every sample
        for i in range(6):  # filled from one partner, or untouched where the partner is the sample itself
            inside = np.unique(sources[i][rectangle])
            assert len(inside) == 1 and np.array_equal(images[i][:, rectangle],
                                                        original_images[inside[0]][:, rectangle])
            assert (sources[i][~rectangle] == i).all()


def test_cutmix_box_follows_the_paper():
    rng = np.random.default_rng(0)
    areas = []
    for _ in range(2000):
        rows, cols = cutmix_box(100, 200, rng)
        assert 0 <= rows.start <= rows.stop <= 100 and 0 <= cols.start <= cols.stop <= 200
        areas.append((rows.stop - rows.start) * (cols.stop - cols.start) / 20000)
    assert 0.2 < np.mean(areas) < 0.5  # 1 - lam ~ U(0, 1) of the area, less what the clipping cuts


@pytest.mark.parametrize("seed", range(4))
def test_mixup_blends_images_by_one_weight_and_returns_the_partner_labels(seed):
    images, labels = coded_batch(seed=seed)
    original_images, original_labels = images.copy(), labels.copy()
    partner_labels, lam = BatchMix(mixup=1.0)(images, labels, np.random.default_rng(seed))
    assert 0 <= lam <= 1 and np.array_equal(labels, original_labels)  # labels untouched: the loss mixes them
    for i in range(6):
        partner = [j for j in range(6) if np.array_equal(original_labels[j], partner_labels[i])]
        assert any(np.allclose(images[i], lam * original_images[i] + (1 - lam) * original_images[j], atol=1e-4)
                   for j in partner)
    assert np.allclose(images[:, 1], lam * labels + (1 - lam) * partner_labels, atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_cutmix_then_mixup_keeps_every_pixel_aligned(seed):
    images, labels = coded_batch(seed=seed)
    partner_labels, lam = BatchMix(cutmix=1.0, mixup=1.0)(images, labels, np.random.default_rng(seed))
    assert np.allclose(images[:, 1], lam * labels + (1 - lam) * partner_labels, atol=1e-4)
    assert np.allclose(images[:, 2], lam * (labels + 100) + (1 - lam) * (partner_labels + 100), atol=1e-4)


def test_batch_mix_is_off_by_default_and_repeats_with_the_seed():
    images, labels = coded_batch()
    keep_images, keep_labels = images.copy(), labels.copy()
    assert BatchMix()(images, labels, np.random.default_rng(0)) is None
    assert np.array_equal(images, keep_images) and np.array_equal(labels, keep_labels)
    mix = BatchMix(cutmix=0.5, mixup=0.5)
    runs = [coded_batch() for _ in range(2)]
    results = [mix(*run, np.random.default_rng(7)) for run in runs]
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert (results[0] is None) == (results[1] is None)
    with pytest.raises(ConfigError, match="--cutmix"):
        BatchMix(cutmix=1.5)
    with pytest.raises(ConfigError, match="--mixup"):
        BatchMix(mixup=-0.1)
