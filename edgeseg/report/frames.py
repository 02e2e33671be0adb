"""A frame record and the times in it: each stage's time, end-to-end latency, queue wait.

A frame record is a dict of `time.perf_counter()` timestamps (seconds) taken at stage boundaries:
`capture_start`, `captured`, `preprocessed`, `inferred`, `postprocessed`, `written`, plus `index`.
A stage lasts from one boundary to the next (capture = captured - capture_start, ..., write =
written - postprocessed); end-to-end latency is written - capture_start. In a pipelined loop those
differences include queue waits, so a record may also carry each stage's own work time in
milliseconds (`work_capture`, `work_preprocess`, `work_infer`, `work_postprocess`, `work_write`);
those are preferred where present, and what end-to-end latency has beyond them is `queue_wait`.
"""
from collections import OrderedDict
from typing import Any, Dict, Optional

import numpy as np

STAGES = ("capture", "preprocess", "infer", "postprocess", "write")
PART_OF = {"render": "postprocess"}  # work timed inside a stage: render = the output image, within postprocess
# Boundary timestamps in order; stage i runs from BOUNDARIES[i] to BOUNDARIES[i + 1].
BOUNDARIES = ("capture_start", "captured", "preprocessed", "inferred", "postprocessed", "written")
WORK_PREFIX = "work_"


def number(value: Any) -> Optional[float]:
    """`value` as a finite float, else None."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def boundary_stage_ms(frame: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """Each stage's boundary difference in ms (None where a boundary is missing)."""
    out: "OrderedDict[str, Optional[float]]" = OrderedDict()
    for stage, start, end in zip(STAGES, BOUNDARIES[:-1], BOUNDARIES[1:]):
        t0, t1 = number(frame.get(start)), number(frame.get(end))
        out[stage] = None if t0 is None or t1 is None else (t1 - t0) * 1000.0
    return out


def work_stage_ms(frame: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """Each stage's recorded work time in ms (None where the record has none)."""
    return OrderedDict((stage, number(frame.get(WORK_PREFIX + stage))) for stage in STAGES)


def end_to_end_ms(frame: Dict[str, Any]) -> Optional[float]:
    t0, t1 = number(frame.get("capture_start")), number(frame.get("written"))
    return None if t0 is None or t1 is None else (t1 - t0) * 1000.0


def frame_stage_ms(frame: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """Each stage's time in ms: its work time when recorded, else its boundary difference."""
    boundary, work = boundary_stage_ms(frame), work_stage_ms(frame)
    return OrderedDict((s, work[s] if work[s] is not None else boundary[s]) for s in STAGES)


def queue_wait_ms(frame: Dict[str, Any]) -> Optional[float]:
    """End-to-end latency minus the stage times, for a record with at least one work time.

    A stage without a work time counts with its boundary difference. None when the record has no
    work times (its stages then add up to the end-to-end latency by construction)."""
    if all(v is None for v in work_stage_ms(frame).values()):
        return None
    total, stages = end_to_end_ms(frame), frame_stage_ms(frame)
    if total is None or any(v is None for v in stages.values()):
        return None
    return total - sum(v for v in stages.values() if v is not None)

