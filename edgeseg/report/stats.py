"""One stage's milliseconds over a run, in memory that stays flat however long it runs.

A camera loop may run for days: `StageStats` keeps count, sum, min and max exactly, and the values themselves
up to EXACT_VALUES; past that, a histogram of geometric buckets (ratio BUCKET_RATIO), so a percentile is
within 0.5% (half a bucket, relative) of the exact one. Runs up to EXACT_VALUES frames get numpy's exact
percentiles.
"""
import array
import math
from typing import Any, Dict, Optional

from ..profiling import PERCENTILES, summarize

EXACT_VALUES = 1000
BUCKET_RATIO = 1.01  # a bucket's geometric middle is within 0.5% of any value in it
SMALLEST_MS = 1e-4  # values at or below land in one bucket, reported as 0


class StageStats:
    """count/mean/p50/p90/p99/min/max of one stage's milliseconds, in bounded memory (see the module)."""

    def __init__(self) -> None:
        self.count, self.total = 0, 0.0
        self.low, self.high = math.inf, -math.inf
        self._values: Optional[array.array] = array.array("d")
        self._buckets: Dict[int, int] = {}

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
        stats: Dict[str, Any] = {"count": self.count, "mean": self.total / self.count}
        for p in PERCENTILES:
            stats["p{}".format(p)] = self._percentile(p)
        stats.update(min=self.low, max=self.high, approximate="percentiles within 0.5% (relative)")
        return stats
