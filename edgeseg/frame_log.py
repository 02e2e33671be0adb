"""The frames of a run, in memory that stays flat however long it runs: statistics, CSV rows, a plot sample.

A camera loop may run for days, so nothing here keeps every frame:
- `StageStats` keeps count, sum, min and max exactly, and the values themselves up to EXACT_VALUES; past
  that, a histogram of geometric buckets (ratio BUCKET_RATIO), so a percentile is within 0.5% (half a
  bucket, relative) of the exact one. Runs up to EXACT_VALUES frames get numpy's exact percentiles.
- `FrameLog` streams each frame's CSV row to the file as the frame completes (a partial file, moved into
  place by `close()`, so an interrupted run still leaves a valid CSV of the frames it finished), and keeps
  a sample of at most SAMPLE_SIZE records evenly spread over the run for the latency plot.

Device side: Python 3.8, numpy only.
"""
import array
import csv
import math
import os
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from .artifacts import partial_path, remove_partials
from .frame_report import (BOUNDARIES, PART_OF, STAGES, WORK_PREFIX, _number, boundary_stage_ms, csv_columns,
                           end_to_end_ms, frame_stage_ms, queue_wait_ms, work_stage_ms)
from .profiling import PERCENTILES, summarize

EXACT_VALUES = 1000
BUCKET_RATIO = 1.01  # a bucket's geometric middle is within 0.5% of any value in it
SMALLEST_MS = 1e-4  # values at or below land in one bucket, reported as 0
SAMPLE_SIZE = 512


class StageStats:
    """count/mean/p50/p90/p99/min/max of one stage's milliseconds, in bounded memory (see the module)."""

    def __init__(self) -> None:
        self.count, self.total = 0, 0.0
        self.low, self.high = math.inf, -math.inf
        self._values = array.array("d")  # type: Optional[array.array]
        self._buckets = {}  # type: Dict[int, int]

    @staticmethod
    def _bucket(value: float) -> int:
        return -1 if value <= SMALLEST_MS else int(math.floor(math.log(value / SMALLEST_MS, BUCKET_RATIO)))

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low, self.high = min(self.low, value), max(self.high, value)
        if self._values is not None:
            self._values.append(value)
            if len(self._values) > EXACT_VALUES:  # from here on, the histogram
                for old in self._values:
                    self._count_in_bucket(old)
                self._values = None
        else:
            self._count_in_bucket(value)

    def _count_in_bucket(self, value: float) -> None:
        bucket = self._bucket(value)
        self._buckets[bucket] = self._buckets.get(bucket, 0) + 1

    def _percentile(self, p: float) -> float:
        rank = p / 100.0 * (self.count - 1)  # numpy's default (linear) definition, to the nearest order statistic
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen > rank:
                value = 0.0 if bucket < 0 else SMALLEST_MS * BUCKET_RATIO ** (bucket + 0.5)
                return min(max(value, self.low), self.high)
        return self.high

    def summary(self) -> Dict[str, Any]:
        if self.count == 0:
            return {"count": 0}
        if self._values is not None:
            return summarize(self._values)
        stats = {"count": self.count, "mean": self.total / self.count}  # type: Dict[str, Any]
        for p in PERCENTILES:
            stats["p{}".format(p)] = self._percentile(p)
        stats.update(min=self.low, max=self.high, approximate="percentiles within 0.5% (relative)")
        return stats


class FrameLog:
    """Per-frame records as a run produces them: `add(record)` per frame, then `statistics()`, `sample()`,
    and `close()` to finish the CSV (when `csv_path` is given). `columns` fixes the CSV header (default:
    from the first record); `origin` the time zero of its t_*_ms columns (default: the first capture)."""

    def __init__(self, csv_path: Optional[str] = None, columns: Optional[Sequence[str]] = None,
                 origin: Optional[float] = None, sample_size: int = SAMPLE_SIZE) -> None:
        self.count = 0
        self._stats = OrderedDict()  # type: OrderedDict[str, StageStats]
        self._sample = []  # type: List[Dict[str, Any]]
        self._stride, self._sample_size = 1, sample_size
        self._csv_path, self._columns, self._origin = csv_path, list(columns) if columns else None, origin
        self._file = self._writer = None  # type: Any
        self._partial = None  # type: Optional[str]

    def add(self, record: Dict[str, Any]) -> None:
        if self.count % self._stride == 0:
            self._sample.append(record)
            if len(self._sample) > self._sample_size:  # keep every other one, sample half as often
                self._sample, self._stride = self._sample[::2], self._stride * 2
        self.count += 1
        values = [(stage, value) for stage, value in frame_stage_ms(record).items()]
        values += [(part, _number(record.get(WORK_PREFIX + part))) for part in PART_OF]
        values += [("end_to_end", end_to_end_ms(record)), ("queue_wait", queue_wait_ms(record))]
        for name, value in values:
            if value is not None:
                self._stats.setdefault(name, StageStats()).add(value)
        if self._csv_path:
            self._write_row(record)

    def _open_csv(self) -> None:
        remove_partials(self._csv_path)
        self._partial = partial_path(self._csv_path)
        self._file = open(self._partial, "w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(self._columns)

    def _write_row(self, record: Dict[str, Any]) -> None:
        if self._writer is None:
            self._columns = self._columns or csv_columns([record])
            if self._origin is None:
                self._origin = _number(record.get("capture_start"))
            self._open_csv()
        self._writer.writerow(csv_row(record, self._columns, self._origin, self.count - 1))

    def statistics(self) -> "OrderedDict[str, Dict[str, Any]]":
        """Each stage (and part of one, right after it), end_to_end and queue_wait, as `profiling.summarize`
        gives them; stages no record had are left out (end_to_end is always there)."""
        order = []  # type: List[str]
        for stage in STAGES:
            order.append(stage)
            order += [part for part, whole in PART_OF.items() if whole == stage]
        stats = OrderedDict((name, self._stats[name].summary()) for name in order if name in self._stats)
        stats["end_to_end"] = self._stats["end_to_end"].summary() if "end_to_end" in self._stats else {"count": 0}
        if "queue_wait" in self._stats:
            stats["queue_wait"] = self._stats["queue_wait"].summary()
        return stats

    def sample(self) -> List[Dict[str, Any]]:
        """At most `sample_size` records, evenly spread over the run (every record of a short one)."""
        return list(self._sample)

    def close(self) -> None:
        """Move the CSV into place: it holds every frame added so far (the header alone when `columns` was
        given and no frame came)."""
        if self._file is None and self._csv_path and self._columns is not None:
            self._open_csv()
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None
            os.replace(self._partial, self._csv_path)

    def __enter__(self) -> "FrameLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def csv_row(record: Dict[str, Any], columns: Sequence[str], origin: Optional[float], position: int) -> List[str]:
    """One frame's CSV row for the header `columns` (see `frame_report.csv_columns`)."""
    index = record.get("index")
    row = [str(int(index)) if _number(index) is not None else str(position)]
    for boundary in BOUNDARIES:
        t = _number(record.get(boundary))
        row.append(_cell(None if t is None or origin is None else (t - origin) * 1000.0))
    row += [_cell(v) for v in boundary_stage_ms(record).values()]
    if "queue_wait_ms" in columns:
        row += [_cell(v) for v in work_stage_ms(record).values()]
    row += [_cell(_number(record.get(WORK_PREFIX + p))) for p in PART_OF if "work_{}_ms".format(p) in columns]
    row.append(_cell(end_to_end_ms(record)))
    if "queue_wait_ms" in columns:
        row.append(_cell(queue_wait_ms(record)))
    return row


def _cell(value: Optional[float]) -> str:
    return "" if value is None else "{:.3f}".format(value)


def stage_statistics(frames: Iterable[Dict[str, Any]]) -> "OrderedDict[str, Dict[str, Any]]":
    """Per-stage statistics of a list of frame records (see `FrameLog.statistics`)."""
    log = FrameLog()
    for frame in frames:
        log.add(frame)
    return log.statistics()


def write_frames_csv(frames: Sequence[Dict[str, Any]], path: str) -> None:
    """One row per frame, atomically: index; every boundary timestamp in ms after the first capture_start;
    each stage's boundary difference (`<stage>_ms`); when any record has work times, each stage's work time
    (`work_<stage>_ms`) and that of each recorded part of a stage (`work_render_ms`); end-to-end ms; and,
    with work times, the queue wait. Missing values are empty cells."""
    starts = [t for t in (_number(f.get("capture_start")) for f in frames) if t is not None]
    stamps = starts or [t for f in frames for t in (_number(f.get(b)) for b in BOUNDARIES) if t is not None]
    with FrameLog(path, csv_columns(frames), min(stamps) if stamps else None) as log:
        for frame in frames:
            log.add(frame)
