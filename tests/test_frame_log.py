"""report.frame_log: statistics exact for short runs and within 0.5% past EXACT_VALUES, in bounded memory; the CSV
streamed as frames complete (a partial file until close); a bounded, evenly spread sample for the plot."""
import csv
import os

import numpy as np
import pytest

from edgeseg.report import frame_log
from edgeseg.report.frame_log import FrameLog
from edgeseg.report.stats import EXACT_VALUES, StageStats


def record(index, infer_ms):
    start = 100.0 + index * 0.05
    times = {"index": index, "capture_start": start}
    for i, boundary in enumerate(("captured", "preprocessed", "inferred", "postprocessed", "written")):
        times[boundary] = start + (i + 1) * 0.001 + (infer_ms / 1000.0 if i >= 2 else 0.0)
    times.update(work_capture=1.0, work_preprocess=1.0, work_infer=infer_ms, work_postprocess=1.0, work_render=0.5,
                 work_write=1.0)
    return times


def test_short_runs_get_numpys_exact_percentiles():
    values = np.random.RandomState(0).lognormal(3.0, 0.5, size=999)
    stats = StageStats()
    for v in values:
        stats.add(float(v))
    summary = stats.summary()
    assert summary["p90"] == pytest.approx(np.percentile(values, 90), rel=1e-12) and "approximate" not in summary


def test_long_runs_stay_bounded_and_within_half_a_percent():
    values = np.random.RandomState(1).lognormal(3.0, 0.7, size=EXACT_VALUES * 5)
    stats = StageStats()
    for v in values:
        stats.add(float(v))
    summary = stats.summary()
    assert summary["count"] == len(values) and summary["approximate"]
    assert summary["mean"] == pytest.approx(values.mean(), rel=1e-9)  # exact
    assert (summary["min"], summary["max"]) == (values.min(), values.max())
    for p in (50, 90, 99):
        assert summary["p{}".format(p)] == pytest.approx(np.percentile(values, p), rel=0.005), p
    assert stats._values is None and len(stats._buckets) < 2000  # no values kept, a few hundred buckets


def test_the_sample_is_bounded_and_spread_over_the_whole_run():
    log = FrameLog(sample_size=64)
    for i in range(10000):
        log.add(record(i, 10.0 + i % 7))
    sample = log.sample()
    indices = [r["index"] for r in sample]
    assert 32 < len(sample) <= 64 and indices[0] == 0 and indices[-1] > 9000
    gaps = np.diff(indices)
    assert gaps.min() == gaps.max()  # evenly spread
    assert log.count == 10000 and log.statistics()["infer"]["count"] == 10000


def test_the_csv_is_streamed_and_valid_even_when_the_run_stops_early(tmp_path):
    path = str(tmp_path / "run.csv")
    log = FrameLog(path)
    for i in range(5):
        log.add(record(i, 20.0))
    assert not os.path.exists(path)  # still a partial file
    partials = [n for n in os.listdir(str(tmp_path)) if ".partial" in n]
    assert len(partials) == 1
    log.close()  # as Pipeline.run does, however the run ended
    rows = list(csv.DictReader(open(path)))
    assert [int(r["index"]) for r in rows] == [0, 1, 2, 3, 4] and float(rows[0]["work_render_ms"]) == 0.5
    assert float(rows[0]["t_capture_start_ms"]) == 0.0 and float(rows[4]["work_infer_ms"]) == 20.0
    assert os.listdir(str(tmp_path)) == ["run.csv"]


def test_stage_statistics_of_a_list_equal_the_logs():
    frames = [record(i, 5.0 + i) for i in range(20)]
    log = FrameLog()
    for frame in frames:
        log.add(frame)
    assert frame_log.stage_statistics(frames) == log.statistics()
    assert list(log.statistics())[:6] == ["capture", "preprocess", "infer", "postprocess", "render", "write"]
