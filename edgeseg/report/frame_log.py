"""The frames of a run, in memory that stays flat however long it runs: statistics per stage, the CSV rows
(streamed, see `frame_csv`), and a sample of at most SAMPLE_SIZE records evenly spread over the run for the
latency plot."""
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .frame_csv import FrameCsv
from .frames import PART_OF, STAGES, WORK_PREFIX, end_to_end_ms, frame_stage_ms, number, queue_wait_ms
from .stats import StageStats

SAMPLE_SIZE = 512


class FrameLog:
    """Per-frame records as a run produces them: `add(record)` per frame, then `statistics()`, `sample()`,
    and `close()` to finish the CSV (when `csv_path` is given; `columns` and `origin` as in `FrameCsv`)."""

    def __init__(self, csv_path: Optional[str] = None, columns: Optional[Sequence[str]] = None,
                 origin: Optional[float] = None, sample_size: int = SAMPLE_SIZE) -> None:
        self.count = 0
        self._stats: "OrderedDict[str, StageStats]" = OrderedDict()
        self._sample: List[Dict[str, Any]] = []
        self._stride, self._sample_size = 1, sample_size
        self._csv = FrameCsv(csv_path, columns, origin) if csv_path else None

    def add(self, record: Dict[str, Any]) -> None:
        if self.count % self._stride == 0:
            self._sample.append(record)
            if len(self._sample) > self._sample_size:  # keep every other one, sample half as often
                self._sample, self._stride = self._sample[::2], self._stride * 2
        self.count += 1
        values = [(stage, value) for stage, value in frame_stage_ms(record).items()]
        values += [(part, number(record.get(WORK_PREFIX + part))) for part in PART_OF]
        values += [("end_to_end", end_to_end_ms(record)), ("queue_wait", queue_wait_ms(record))]
        for name, value in values:
            if value is not None:
                self._stats.setdefault(name, StageStats()).add(value)
        if self._csv is not None:
            self._csv.add(record)

    def statistics(self) -> "OrderedDict[str, Dict[str, Any]]":
        """Each stage (and part of one, right after it), end_to_end and queue_wait, as `profiling.summarize`
        gives them; stages no record had are left out (end_to_end is always there)."""
        order: List[str] = []
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
        """Move the CSV into place (see `FrameCsv.close`)."""
        if self._csv is not None:
            self._csv.close()

    def __enter__(self) -> "FrameLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def stage_statistics(frames: Iterable[Dict[str, Any]]) -> "OrderedDict[str, Dict[str, Any]]":
    """Per-stage statistics of a list of frame records (see `FrameLog.statistics`)."""
    log = FrameLog()
    for frame in frames:
        log.add(frame)
    return log.statistics()
