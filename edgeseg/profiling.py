"""Per-stage latency records, percentile summaries and their table/JSON forms."""
import time
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

PERCENTILES = (50, 90, 99)


def summarize(samples_ms: Sequence[float]) -> Dict[str, float]:
    """mean, p50, p90, p99, min and max of a list of milliseconds."""
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        return {"count": 0}
    stats = {"count": int(values.size), "mean": float(values.mean())}
    for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES)):
        stats["p{}".format(p)] = float(v)
    stats["min"] = float(values.min())
    stats["max"] = float(values.max())
    return stats


class StageTimer:
    """Collects one duration per stage per frame: `with timer.stage("infer"): ...`."""

    def __init__(self, stages: Iterable[str]) -> None:
        self.samples = OrderedDict((name, []) for name in stages)  # type: Dict[str, List[float]]
        self._started = time.perf_counter()
        self._stopped = None  # type: Optional[float]

    def add(self, stage: str, milliseconds: float) -> None:
        self.samples[stage].append(milliseconds)

    def stage(self, name: str) -> "_Span":
        return _Span(self, name)

    def stop(self) -> None:
        self._stopped = time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        return (self._stopped or time.perf_counter()) - self._started

    def report(self, frames: int) -> Dict[str, object]:
        """Per-stage statistics, the sum of stage means, and throughput over the wall time."""
        stages = OrderedDict((name, summarize(values)) for name, values in self.samples.items())
        elapsed = self.elapsed_s
        return {
            "frames": frames,
            "wall_seconds": elapsed,
            "fps": frames / elapsed if elapsed > 0 else 0.0,
            "stages_ms": stages,
        }


class _Span:
    def __init__(self, timer: StageTimer, name: str) -> None:
        self._timer, self._name = timer, name

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self._timer.add(self._name, (time.perf_counter() - self._start) * 1000.0)


def format_table(rows: "OrderedDict[str, Dict[str, float]]", title: str = "stage") -> str:
    """Aligned text table of per-row statistics in milliseconds."""
    columns = ["mean"] + ["p{}".format(p) for p in PERCENTILES] + ["max"]
    width = max([len(title)] + [len(name) for name in rows]) + 2
    lines = [title.ljust(width) + "".join("{:>10}".format(c + " ms" if c == "mean" else c) for c in columns)]
    for name, stats in rows.items():
        cells = "".join("{:>10.2f}".format(stats[c]) if c in stats else "{:>10}".format("-") for c in columns)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)
