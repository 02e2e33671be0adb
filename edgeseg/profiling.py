"""Percentile summaries of latencies and their text table."""
from collections import OrderedDict
from typing import Dict, Sequence

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


def format_table(rows: "OrderedDict[str, Dict[str, float]]", title: str = "stage") -> str:
    """Aligned text table of per-row statistics in milliseconds."""
    columns = ["mean"] + ["p{}".format(p) for p in PERCENTILES] + ["max"]
    width = max([len(title)] + [len(name) for name in rows]) + 2
    lines = [title.ljust(width) + "".join("{:>10}".format(c + " ms" if c == "mean" else c) for c in columns)]
    for name, stats in rows.items():
        cells = "".join("{:>10.2f}".format(stats[c]) if c in stats else "{:>10}".format("-") for c in columns)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)
