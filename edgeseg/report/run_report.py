"""The report of one `edgeseg run`: the loop fills it frame by frame and with the run's facts; it owns the
statistics and writes its own files: REPORT.json, the per-frame REPORT.csv (streamed during the run, so an
interrupted run leaves a valid one) and the latency plot REPORT.png."""
import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from ..artifacts import write_json_atomic
from .frame_log import FrameLog


class RunReport:
    """Fields of the JSON report (read with `report[key]`), and the frames' log. `path` is REPORT.json; None
    keeps everything in memory (statistics only, no files)."""

    def __init__(self, path: Optional[str] = None) -> None:
        self.path = path
        self.fields: "OrderedDict[str, Any]" = OrderedDict()
        self.frames = FrameLog(self.files(path)[1] if path else None)

    @staticmethod
    def files(path: str) -> List[str]:
        """REPORT.json and the REPORT.csv and REPORT.png beside it."""
        stem = os.path.splitext(path)[0]
        return [path, stem + ".csv", stem + ".png"]

    def add_frame(self, record: Dict[str, Any]) -> None:
        """One completed frame's record (see `report.frames`)."""
        self.frames.add(record)

    def finish(self, mode: str, wall_seconds: float, dropped_frames: int, reconnects: int,
               interrupted: bool) -> None:
        """Close the frames' CSV and record the run's figures: per-stage statistics, fps, drops."""
        self.frames.close()
        count = self.frames.count
        self.update(mode=mode, frames=count, dropped_frames=dropped_frames, reconnects=reconnects,
                    wall_seconds=wall_seconds, fps=count / wall_seconds if wall_seconds > 0 else 0.0,
                    stages_ms=self.frames.statistics(), interrupted=interrupted)

    def update(self, **fields: Any) -> None:
        """Add facts of the run; the JSON keeps the order they came in."""
        self.fields.update(fields)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def __contains__(self, key: str) -> bool:
        return key in self.fields

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.fields)

    def write(self) -> List[str]:
        """Write REPORT.json, and the latency plot REPORT.png when frames came; returns the files there now
        (the CSV too, written during the run)."""
        from .plot import plot_latency_png

        if self.path is None:
            return []
        json_path, csv_path, png_path = self.files(self.path)
        write_json_atomic(json_path, self.fields)
        sample = self.frames.sample()
        if not sample:
            return [json_path]
        plot_latency_png(sample, png_path, title="{} on {}".format(os.path.basename(self["artifact"]), self["backend"]),
                         end_to_end=self["stages_ms"]["end_to_end"])
        return [json_path, csv_path, png_path]
