"""`edgeseg.quantize.abs_histogram`: |x| histograms merged in constant memory, and the int8 threshold of least squared
error, checked against the error measured on the samples themselves."""
import numpy as np
import pytest

from edgeseg.quantize.abs_histogram import BINS, AbsHistograms, mse_amax


def fake_int8(values, amax):
    """What TensorRT's int8 symmetric Q/DQ does to `values` with this threshold."""
    step = amax / 127.0
    return np.clip(np.round(values / step), -127, 127) * step


def measured_error(values, amax):
    return float(np.mean((values - fake_int8(values, amax)) ** 2))


def collected(*batches):
    histograms = AbsHistograms()
    for batch in batches:
        histograms.collect({"t": [batch]})
    return histograms


def test_threshold_clips_the_long_tail_and_beats_max_and_percentiles():
    """Laplace activations (a long tail, as after a convolution): max |x| spends the int8 steps on the tail;
    the chosen threshold clips it, and its error measured on the samples is the least of the thresholds
    tried (max |x| and the percentiles calibrators use)."""
    values = np.random.default_rng(0).laplace(0, 1, 400000).astype(np.float32)
    low, high = collected(values[:200000], values[200000:]).ranges()["t"]
    peak = float(np.abs(values).max())
    assert low == -high and high < 0.8 * peak  # clipped symmetrically
    error = measured_error(values, high)
    candidates = [peak] + [float(np.percentile(np.abs(values), q)) for q in (99.0, 99.9, 99.99, 99.999)]
    assert all(error <= measured_error(values, other) * 1.01 for other in candidates), (high, candidates)
    assert error < 0.8 * measured_error(values, peak)


def test_uniform_values_keep_their_whole_range():
    values = np.random.default_rng(1).uniform(0, 3, 100000).astype(np.float32)
    low, high = collected(values).ranges()["t"]
    assert low == pytest.approx(float(values.min()))  # never negative: the lower bound stays the minimum
    assert high == pytest.approx(3.0, rel=0.01)


def test_growing_range_merges_bins_exactly():
    """A later batch past the range doubles it (twice here): the histogram is the one all values would give
    over the final range, and nothing is counted twice or lost."""
    rng = np.random.default_rng(2)
    first, later = rng.uniform(-1, 1, 5000).astype(np.float32), rng.uniform(-3.5, 3.5, 5000).astype(np.float32)
    first[0] = 1.0  # the first batch's top is exactly 1, so the final one is 4
    histograms = collected(first, later)
    hist, top, low, high = histograms.histograms["t"]
    assert top == 4.0 and len(hist) == BINS and hist.sum() == 10000
    expected = np.histogram(np.abs(np.concatenate([first, later])), bins=BINS, range=(0.0, 4.0))[0]
    assert np.abs(hist - expected).sum() <= 2  # only the first batch's top (its last bin's closed edge) moves
    assert (low, high) == (float(min(first.min(), later.min())), float(max(first.max(), later.max())))


def test_odd_tensors():
    """Constant zero, non-finite values, empty batches and plain arrays (not lists) are taken without error."""
    histograms = AbsHistograms()
    histograms.collect({"zero": np.zeros((2, 3), np.float32), "empty": [np.zeros((0,), np.float32)],
                        "nan": [np.array([np.nan, np.inf, 2.0, -1.0], np.float32)]})
    ranges = histograms.ranges()
    assert ranges["zero"] == (0.0, 0.0)
    assert "empty" not in ranges
    assert ranges["nan"][0] == -1.0 and ranges["nan"][1] == pytest.approx(2.0, rel=0.01)
    assert mse_amax(np.zeros(16), 1.0) == 0.0
