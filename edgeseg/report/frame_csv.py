"""The per-frame CSV of a run: its columns, one row per frame, streamed to a partial file moved into place at
`close()` (an interrupted run still leaves a valid CSV of the frames it finished)."""
import csv
import os
from typing import Any, Dict, List, Optional, Sequence

from ..artifacts import partial_path, remove_partials
from .frames import (
    BOUNDARIES,
    PART_OF,
    STAGES,
    WORK_PREFIX,
    boundary_stage_ms,
    end_to_end_ms,
    number,
    queue_wait_ms,
    work_stage_ms,
)


def csv_columns(frames: Sequence[Dict[str, Any]]) -> List[str]:
    """The header `write_frames_csv` writes for these frames."""
    has_work = any(number(f.get(WORK_PREFIX + s)) is not None for f in frames for s in STAGES)
    columns = ["index"] + ["t_{}_ms".format(b) for b in BOUNDARIES]
    columns += ["{}_ms".format(s) for s in STAGES]
    if has_work:
        columns += ["work_{}_ms".format(s) for s in STAGES]
    columns += ["work_{}_ms".format(p) for p in PART_OF if any(number(f.get(WORK_PREFIX + p)) is not None
                                                                for f in frames)]
    columns.append("end_to_end_ms")
    if has_work:
        columns.append("queue_wait_ms")
    return columns


def csv_row(record: Dict[str, Any], columns: Sequence[str], origin: Optional[float], position: int) -> List[str]:
    """One frame's CSV row for the header `columns` (see `csv_columns`)."""
    index = number(record.get("index"))
    row = [str(int(index)) if index is not None else str(position)]
    for boundary in BOUNDARIES:
        t = number(record.get(boundary))
        row.append(_cell(None if t is None or origin is None else (t - origin) * 1000.0))
    row += [_cell(v) for v in boundary_stage_ms(record).values()]
    if "queue_wait_ms" in columns:
        row += [_cell(v) for v in work_stage_ms(record).values()]
    row += [_cell(number(record.get(WORK_PREFIX + p))) for p in PART_OF if "work_{}_ms".format(p) in columns]
    row.append(_cell(end_to_end_ms(record)))
    if "queue_wait_ms" in columns:
        row.append(_cell(queue_wait_ms(record)))
    return row


def _cell(value: Optional[float]) -> str:
    return "" if value is None else "{:.3f}".format(value)


class FrameCsv:
    """Rows written as frames complete: `add(record)`, then `close()` to move the file into place. `columns`
    fixes the header (default: from the first record); `origin` the time zero of its t_*_ms columns (default:
    the first capture)."""

    def __init__(self, path: str, columns: Optional[Sequence[str]] = None, origin: Optional[float] = None) -> None:
        self.path, self.columns, self.origin = path, list(columns) if columns else None, origin
        self.count = 0
        self._file: Any = None
        self._writer: Any = None
        self._partial: Optional[str] = None

    def _open(self) -> None:
        remove_partials(self.path)
        self._partial = partial_path(self.path)
        self._file = open(self._partial, "w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.columns)

    def add(self, record: Dict[str, Any]) -> None:
        if self._writer is None:
            self.columns = self.columns or csv_columns([record])
            if self.origin is None:
                self.origin = number(record.get("capture_start"))
            self._open()
        assert self.columns is not None  # fixed when the file opened
        self._writer.writerow(csv_row(record, self.columns, self.origin, self.count))
        self.count += 1

    def close(self) -> None:
        """Move the CSV into place: it holds every frame added so far (the header alone when `columns` was
        given and no frame came)."""
        if self._file is None and self.columns is not None:
            self._open()
        if self._file is not None and self._partial is not None:
            self._file.close()
            self._file = self._writer = None
            os.replace(self._partial, self.path)


def write_frames_csv(frames: Sequence[Dict[str, Any]], path: str) -> None:
    """One row per frame, atomically: index; every boundary timestamp in ms after the first capture_start;
    each stage's boundary difference (`<stage>_ms`); when any record has work times, each stage's work time
    (`work_<stage>_ms`) and that of each recorded part of a stage (`work_render_ms`); end-to-end ms; and,
    with work times, the queue wait. Missing values are empty cells."""
    starts = [t for t in (number(f.get("capture_start")) for f in frames) if t is not None]
    stamps = starts or [t for f in frames for t in (number(f.get(b)) for b in BOUNDARIES) if t is not None]
    rows = FrameCsv(path, csv_columns(frames), min(stamps) if stamps else None)
    for frame in frames:
        rows.add(frame)
    rows.close()
