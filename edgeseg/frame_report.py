"""Per-frame latency records (stage times, CSV columns, PNG plot) and Jetson tegrastats / jetson_clocks probes.
Statistics and CSV rows of a run, in bounded memory, are `frame_log`'s.

Device side: Python 3.8, numpy and OpenCV only (no torch, no matplotlib).

A frame record is a dict of `time.perf_counter()` timestamps (seconds) taken at stage boundaries:
`capture_start`, `captured`, `preprocessed`, `inferred`, `postprocessed`, `written`, plus `index`.
A stage lasts from one boundary to the next (capture = captured - capture_start, ..., write =
written - postprocessed); end-to-end latency is written - capture_start. In a pipelined loop those
differences include queue waits, so a record may also carry each stage's own work time in
milliseconds (`work_capture`, `work_preprocess`, `work_infer`, `work_postprocess`, `work_write`);
those are preferred where present, and what end-to-end latency has beyond them is `queue_wait`.

tegrastats formats handled (one line per interval; the JetPack 5+ tools prefix a timestamp):
  Xavier NX, JetPack 4/5:  ... CPU [9%@1190,...,off] EMC_FREQ 10%@1600 GR3D_FREQ 62%@306 ...
                           AO@41.5C GPU@43C ... VDD_IN 4067/4067 VDD_CPU_GPU_CV 738/738 ...
  Orin, JetPack 5/6:       ... GR3D_FREQ 0%@[305,305] (or GR3D_FREQ 0%) ... cpu@53.062C tj@53C ...
                           VDD_IN 5704mW/5704mW VDD_CPU_GPU_CV 831mW/831mW ...
  AGX Xavier / AGX Orin have no input rail (GPU 0/0 CPU 311/311 ... SYS5V 1482/1482, or
  VDD_GPU_SOC 3205mW/3205mW VDD_CPU_CV ... VIN_SYS_5V0 ...): their total is the sum of the rails.
"""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .artifacts import write_bytes_atomic

STAGES = ("capture", "preprocess", "infer", "postprocess", "write")
PART_OF = {"render": "postprocess"}  # work timed inside a stage: render = the output image, within postprocess
# Boundary timestamps in order; stage i runs from BOUNDARIES[i] to BOUNDARIES[i + 1].
BOUNDARIES = ("capture_start", "captured", "preprocessed", "inferred", "postprocessed", "written")
WORK_PREFIX = "work_"


# ----------------------------------------------------------------------------------------------
# Frame statistics
# ----------------------------------------------------------------------------------------------


def _number(value: Any) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def boundary_stage_ms(frame: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """Each stage's boundary difference in ms (None where a boundary is missing)."""
    out = OrderedDict()  # type: OrderedDict[str, Optional[float]]
    for stage, start, end in zip(STAGES, BOUNDARIES[:-1], BOUNDARIES[1:]):
        t0, t1 = _number(frame.get(start)), _number(frame.get(end))
        out[stage] = None if t0 is None or t1 is None else (t1 - t0) * 1000.0
    return out


def work_stage_ms(frame: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """Each stage's recorded work time in ms (None where the record has none)."""
    return OrderedDict((stage, _number(frame.get(WORK_PREFIX + stage))) for stage in STAGES)


def end_to_end_ms(frame: Dict[str, Any]) -> Optional[float]:
    t0, t1 = _number(frame.get("capture_start")), _number(frame.get("written"))
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


def csv_columns(frames: Sequence[Dict[str, Any]]) -> List[str]:
    """The header `write_frames_csv` writes for these frames."""
    has_work = any(_number(f.get(WORK_PREFIX + s)) is not None for f in frames for s in STAGES)
    columns = ["index"] + ["t_{}_ms".format(b) for b in BOUNDARIES]
    columns += ["{}_ms".format(s) for s in STAGES]
    if has_work:
        columns += ["work_{}_ms".format(s) for s in STAGES]
    columns += ["work_{}_ms".format(p) for p in PART_OF if any(_number(f.get(WORK_PREFIX + p)) is not None
                                                                for f in frames)]
    columns.append("end_to_end_ms")
    if has_work:
        columns.append("queue_wait_ms")
    return columns


# ----------------------------------------------------------------------------------------------
# Latency plot (OpenCV only)
# ----------------------------------------------------------------------------------------------

_WHITE = (255, 255, 255)
_BLACK = (30, 30, 30)
_GRID = (225, 225, 225)
_AXIS = (90, 90, 90)
_LINE = (180, 110, 30)  # BGR: blue
_P50 = (60, 160, 40)  # green
_P99 = (40, 40, 210)  # red
_BOX = (235, 200, 150)  # light blue fill
_BOX_EDGE = (170, 110, 40)
_MAX = (40, 40, 210)
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def _nice_ticks(low: float, high: float, count: int = 6) -> List[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k) from at or below `low` to at or above `high`."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10.0 ** np.floor(np.log10(raw))
    step = magnitude * 10.0
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * magnitude >= raw:
            step = factor * magnitude
            break
    first = np.floor(low / step + 1e-9) * step
    last = np.ceil(high / step - 1e-9) * step
    count = int(round((last - first) / step)) + 1
    return [float(first + k * step) for k in range(count)]


def _tick_label(value: float) -> str:
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return "{:g}".format(round(value, 3))


def _text(cv2, img, text, org, scale=0.45, color=_BLACK, thickness=1, anchor="left", backdrop=False):
    (w, h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    x, y = org
    if anchor == "right":
        x -= w
    elif anchor == "center":
        x -= w // 2
    if backdrop:
        cv2.rectangle(img, (int(x) - 3, int(y) - h - 3), (int(x) + w + 3, int(y) + baseline), _WHITE, -1)
    cv2.putText(img, text, (int(x), int(y)), _FONT, scale, color, thickness, cv2.LINE_AA)
    return w, h


def _dashed_hline(cv2, img, x0, x1, y, color, dash=10, gap=6, thickness=1):
    x = x0
    while x < x1:
        cv2.line(img, (int(x), int(y)), (int(min(x + dash, x1)), int(y)), color, thickness, cv2.LINE_AA)
        x += dash + gap


def _draw_timeline(cv2, img, box, indices, values, p50, p99) -> None:
    x0, y0, x1, y1 = box
    x_lo, x_hi = (float(min(indices)), float(max(indices))) if indices else (0.0, 1.0)
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    y_top = max(values) if values else 1.0
    y_ticks = _nice_ticks(0.0, y_top * 1.05 if y_top > 0 else 1.0)
    y_hi = y_ticks[-1]

    def px(i):
        return x0 + (i - x_lo) / (x_hi - x_lo) * (x1 - x0)

    def py(v):
        return y1 - v / y_hi * (y1 - y0)

    for t in y_ticks:
        y = int(round(py(t)))
        cv2.line(img, (x0, y), (x1, y), _GRID, 1)
        cv2.line(img, (x0 - 5, y), (x0, y), _AXIS, 1)
        _text(cv2, img, _tick_label(t), (x0 - 8, y + 5), anchor="right")
    for t in _nice_ticks(x_lo, x_hi, 8):
        if x_lo - 1e-9 <= t <= x_hi + 1e-9:
            x = int(round(px(t)))
            cv2.line(img, (x, y1), (x, y1 + 5), _AXIS, 1)
            _text(cv2, img, _tick_label(t), (x, y1 + 20), anchor="center")
    cv2.rectangle(img, (x0, y0), (x1, y1), _AXIS, 1)
    if values:
        points = np.array([[px(i), py(v)] for i, v in zip(indices, values)], dtype=np.float64)
        points = np.round(points).astype(np.int32).reshape(-1, 1, 2)
        if len(points) == 1:
            cv2.circle(img, tuple(int(c) for c in points[0, 0]), 3, _LINE, -1, cv2.LINE_AA)
        else:
            cv2.polylines(img, [points], False, _LINE, 1, cv2.LINE_AA)
        # Labels in the left margin (nothing drawn over the data), kept 18 px apart.
        y50, y99 = int(round(py(p50))), int(round(py(p99)))
        label_y99 = min(y99, y50 - 18)
        for value, y, label_y, color, name in ((p50, y50, y50, _P50, "p50"), (p99, y99, label_y99, _P99, "p99")):
            _dashed_hline(cv2, img, x0, x1, y, color, thickness=2)
            _text(cv2, img, "{} {:.2f} ms".format(name, value), (20, label_y + 5), scale=0.5, color=color)
    else:
        _text(cv2, img, "no complete frames", ((x0 + x1) // 2, (y0 + y1) // 2), anchor="center")
    _text(cv2, img, "end-to-end latency (ms)", (x0, y0 - 10), scale=0.5)
    _text(cv2, img, "frame index", ((x0 + x1) // 2, y1 + 40), scale=0.5, anchor="center")


def _draw_distributions(cv2, img, box, rows) -> None:
    """rows: (name, values) pairs; one horizontal box per row."""
    x0, y0, x1, y1 = box
    label_x = 20
    top = max((max(values) for _, values in rows if values), default=1.0)
    ticks = _nice_ticks(0.0, top * 1.02 if top > 0 else 1.0, 8)
    hi = ticks[-1]

    def px(v):
        return x0 + v / hi * (x1 - x0)

    row_h = (y1 - y0) / max(len(rows), 1)
    for t in ticks:
        x = int(round(px(t)))
        cv2.line(img, (x, y0), (x, y1), _GRID, 1)
        cv2.line(img, (x, y1), (x, y1 + 5), _AXIS, 1)
        _text(cv2, img, _tick_label(t), (x, y1 + 20), anchor="center")
    cv2.rectangle(img, (x0, y0), (x1, y1), _AXIS, 1)
    for k, (name, values) in enumerate(rows):
        cy = int(round(y0 + (k + 0.5) * row_h))
        half = int(max(4, min(12, row_h * 0.28)))
        if not values:
            _text(cv2, img, "{}  -".format(name), (label_x, cy + 5))
            continue
        p10, p50, p90, p99 = (float(v) for v in np.percentile(np.asarray(values, np.float64), (10, 50, 90, 99)))
        vmax = float(max(values))
        _text(cv2, img, name, (label_x, cy - 2), scale=0.5)
        _text(cv2, img, "p50 {:.2f} ms".format(p50), (label_x, cy + 16), scale=0.42, color=_AXIS)
        bx0, bx1 = int(round(px(p10))), int(round(px(p90)))
        cv2.line(img, (bx1, cy), (int(round(px(p99))), cy), _BOX_EDGE, 1, cv2.LINE_AA)
        cv2.line(img, (int(round(px(p99))), cy - half // 2), (int(round(px(p99))), cy + half // 2), _BOX_EDGE, 2)
        cv2.rectangle(img, (bx0, cy - half), (max(bx1, bx0 + 1), cy + half), _BOX, -1)
        cv2.rectangle(img, (bx0, cy - half), (max(bx1, bx0 + 1), cy + half), _BOX_EDGE, 1)
        x50 = int(round(px(p50)))
        cv2.line(img, (x50, cy - half - 3), (x50, cy + half + 3), _BLACK, 2)
        cv2.circle(img, (int(round(px(vmax))), cy), 4, _MAX, -1, cv2.LINE_AA)
    _text(cv2, img, "per-stage time (ms): box p10-p90, bar p50, whisker to p99, dot max", (x0, y0 - 10), scale=0.5)
    _text(cv2, img, "ms", (x1, y1 + 40), scale=0.5, anchor="right")


def render_latency_image(
    frames: Sequence[Dict[str, Any]], title: str = "", size: Tuple[int, int] = (1000, 700),
    end_to_end: Optional[Dict[str, Any]] = None,
) -> np.ndarray:
    """The latency plot as a BGR uint8 image of `size` (width, height), from frame records (all of a run's,
    or a sample of them); `end_to_end` (the run's statistics) gives the heading's count, p50 and p99."""
    import cv2

    width, height = int(size[0]), int(size[1])
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    indices, totals = [], []  # type: List[float], List[float]
    for position, frame in enumerate(frames):
        total = end_to_end_ms(frame)
        if total is not None:
            index = _number(frame.get("index"))
            indices.append(index if index is not None else float(position))
            totals.append(total)
    p50, p99 = (float(v) for v in np.percentile(totals, (50, 99))) if totals else (0.0, 0.0)
    count = len(totals)
    if end_to_end and end_to_end.get("count"):
        count, p50, p99 = end_to_end["count"], end_to_end["p50"], end_to_end["p99"]
    heading = title or "latency"
    heading += "  ({} frames, end-to-end p50 {:.2f} ms, p99 {:.2f} ms)".format(count, p50, p99)
    _text(cv2, img, heading, (20, 28), scale=0.6, thickness=1)

    left, right = 200, width - 30
    split = int(height * 0.5)
    _draw_timeline(cv2, img, (left, 60, right, split - 20), indices, totals, p50, p99)

    columns = OrderedDict((stage, []) for stage in STAGES)  # type: OrderedDict[str, List[float]]
    waits = []  # type: List[float]
    for frame in frames:
        for stage, value in frame_stage_ms(frame).items():
            if value is not None:
                columns[stage].append(value)
        wait = queue_wait_ms(frame)
        if wait is not None:
            waits.append(wait)
    rows = [(stage, values) for stage, values in columns.items() if values]
    if waits:
        rows.append(("queue_wait", waits))
    rows.append(("end_to_end", totals))
    _draw_distributions(cv2, img, (left, split + 50, right, height - 50), rows)
    return img


def plot_latency_png(
    frames: Sequence[Dict[str, Any]], path: str, title: str = "", size: Tuple[int, int] = (1000, 700),
    end_to_end: Optional[Dict[str, Any]] = None,
) -> None:
    """Write the latency plot (end-to-end over frame index on top, per-stage distributions below)
    to `path` as a PNG, atomically. OpenCV only."""
    import cv2

    ok, encoded = cv2.imencode(".png", render_latency_image(frames, title, size, end_to_end))
    if not ok:
        raise RuntimeError("OpenCV could not encode the latency plot as PNG")
    write_bytes_atomic(path, encoded.tobytes())


# ----------------------------------------------------------------------------------------------
# tegrastats
# ----------------------------------------------------------------------------------------------

_TIMESTAMP_RE = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\b")
_RAM_RE = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP_RE = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU_RE = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?")
_CORE_RE = re.compile(r"^(\d+(?:\.\d+)?)%(?:@(\d+))?$")
_GPU_RE = re.compile(r"\bGR3D_FREQ (\d+(?:\.\d+)?)%(?:@\[?([\d,]+)\]?)?")
_EMC_RE = re.compile(r"\bEMC_FREQ (\d+(?:\.\d+)?)%(?:@(\d+))?")
_TEMP_RE = re.compile(r"(?<![\w@%])([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
# "VDD_IN 3591/3591", "VDD_IN 4846mW/4846mW", or an instantaneous "VDD_IN 4846mW" alone. The
# lookahead keeps "RAM 2448/7765MB" and "SWAP 0/3882MB" out.
_RAIL_RE = re.compile(
    r"(?<![\w@%])([A-Za-z][A-Za-z0-9_]*) (\d+(?:\.\d+)?)(?:mW/(\d+(?:\.\d+)?)mW|mW|/(\d+(?:\.\d+)?))(?![\w/.])"
)
_NOT_RAILS = frozenset(["RAM", "SWAP", "IRAM"])
# Rails that measure the whole module's input: VDD_IN (Xavier NX, Orin NX/Nano, TX1/TX2),
# POM_5V_IN (Nano). Without one (AGX Xavier, AGX Orin) the total is the sum of all rails.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
SUM_OF_RAILS = "sum of rails"
# Sensors left out of the maximum temperature: PMIC reads a fixed placeholder (100C on Nano/TX2,
# 50C on Xavier NX), and an offline sensor reads -256C.
TEMPERATURE_IGNORED = frozenset(["PMIC"])
TEMPERATURE_INVALID_BELOW = -100.0


def parse_tegrastats_line(line: str) -> Dict[str, Any]:
    """One tegrastats line as a dict; fields the line lacks are None (or empty).

    Keys: timestamp (str, JetPack 5+), ram_used_mb, ram_total_mb, swap_used_mb, swap_total_mb,
    cpu (list of {"core", "load", "mhz"} for online cores), cpu_off (indices of 'off' cores),
    cpu_load (mean over online cores, %), gpu_load (GR3D_FREQ %), gpu_mhz, emc_load, emc_mhz,
    temperatures ({name: C}), rails ({name: {"now_mw", "avg_mw"}}; avg None when not printed),
    power_in_mw (instantaneous input power), power_in_avg_mw, and power_in_source (the input
    rail's name, or "sum of rails" when the board prints none)."""
    out = {
        "timestamp": None, "ram_used_mb": None, "ram_total_mb": None, "swap_used_mb": None,
        "swap_total_mb": None, "cpu": [], "cpu_off": [], "cpu_load": None, "gpu_load": None,
        "gpu_mhz": None, "emc_load": None, "emc_mhz": None, "temperatures": OrderedDict(),
        "rails": OrderedDict(), "power_in_mw": None, "power_in_avg_mw": None, "power_in_source": None,
    }  # type: Dict[str, Any]
    match = _TIMESTAMP_RE.search(line)
    if match:
        out["timestamp"] = match.group(1)
    match = _RAM_RE.search(line)
    if match:
        out["ram_used_mb"], out["ram_total_mb"] = int(match.group(1)), int(match.group(2))
    match = _SWAP_RE.search(line)
    if match:
        out["swap_used_mb"], out["swap_total_mb"] = int(match.group(1)), int(match.group(2))
    match = _CPU_RE.search(line)
    if match:
        shared_mhz = match.group(2)  # old "CPU [X%,Y%]@Z" form
        for core, entry in enumerate(match.group(1).split(",")):
            entry = entry.strip()
            if entry.lower() == "off":
                out["cpu_off"].append(core)
                continue
            core_match = _CORE_RE.match(entry)
            if core_match is None:
                continue
            mhz = core_match.group(2) or shared_mhz
            out["cpu"].append({"core": core, "load": float(core_match.group(1)),
                               "mhz": int(mhz) if mhz else None})
        if out["cpu"]:
            out["cpu_load"] = float(np.mean([c["load"] for c in out["cpu"]]))
    match = _GPU_RE.search(line)
    if match:
        out["gpu_load"] = float(match.group(1))
        if match.group(2):
            freqs = [int(f) for f in match.group(2).split(",") if f]
            out["gpu_mhz"] = max(freqs) if freqs else None
    match = _EMC_RE.search(line)
    if match:
        out["emc_load"] = float(match.group(1))
        out["emc_mhz"] = int(match.group(2)) if match.group(2) else None
    for name, value in _TEMP_RE.findall(line):
        out["temperatures"][name] = float(value)
    for name, now, avg_mw, avg_plain in _RAIL_RE.findall(line):
        if name in _NOT_RAILS:
            continue
        avg = avg_mw or avg_plain
        out["rails"][name] = {"now_mw": float(now), "avg_mw": float(avg) if avg else None}
    rails = out["rails"]
    for name in INPUT_RAILS:
        if name in rails:
            out["power_in_mw"] = rails[name]["now_mw"]
            out["power_in_avg_mw"] = rails[name]["avg_mw"]
            out["power_in_source"] = name
            break
    else:
        if rails:
            out["power_in_mw"] = float(sum(r["now_mw"] for r in rails.values()))
            averages = [r["avg_mw"] for r in rails.values()]
            out["power_in_avg_mw"] = None if None in averages else float(sum(averages))
            out["power_in_source"] = SUM_OF_RAILS
    return out


def _mean(values: Sequence[float]) -> Optional[float]:
    return float(np.mean(values)) if len(values) else None


def summarize_tegrastats(samples: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """Summary of parsed samples (None when there are none): samples, gpu_load_mean,
    gpu_load_max, cpu_load_mean (over online cores and samples), temperature_max_c and
    temperature_max_sensor (PMIC placeholders and offline sensors left out), power_in_w_mean,
    power_in_w_max, power_source ("VDD_IN", "POM_5V_IN" or "sum of rails"), ram_used_mb_max."""
    if not samples:
        return None
    gpu = [s["gpu_load"] for s in samples if s.get("gpu_load") is not None]
    cpu = [c["load"] for s in samples for c in s.get("cpu") or []]
    power = [s["power_in_mw"] / 1000.0 for s in samples if s.get("power_in_mw") is not None]
    ram = [s["ram_used_mb"] for s in samples if s.get("ram_used_mb") is not None]
    hottest = None  # type: Optional[Tuple[float, str]]
    for sample in samples:
        for name, value in (sample.get("temperatures") or {}).items():
            if name in TEMPERATURE_IGNORED or value < TEMPERATURE_INVALID_BELOW:
                continue
            if hottest is None or value > hottest[0]:
                hottest = (value, name)
    sources = [s["power_in_source"] for s in samples if s.get("power_in_source")]
    return OrderedDict([
        ("samples", len(samples)),
        ("gpu_load_mean", _mean(gpu)),
        ("gpu_load_max", float(max(gpu)) if gpu else None),
        ("cpu_load_mean", _mean(cpu)),
        ("temperature_max_c", hottest[0] if hottest else None),
        ("temperature_max_sensor", hottest[1] if hottest else None),
        ("power_in_w_mean", _mean(power)),
        ("power_in_w_max", float(max(power)) if power else None),
        ("power_source", sources[0] if sources else None),
        ("ram_used_mb_max", int(max(ram)) if ram else None),
    ])


class TegraStats:
    """Runs `tegrastats --interval N` in the background and collects parsed samples.

        with TegraStats(interval_ms=500) as stats:
            ... run the benchmark ...
        print(stats.summary())

    Each sample also gets `t`, the `time.perf_counter()` of its arrival, to line it up with frame
    records. When `tegrastats` is not on PATH everything is a no-op: `available` is False and
    `summary()` returns None."""

    def __init__(self, interval_ms: int = 1000, command: str = "tegrastats") -> None:
        self.interval_ms = int(interval_ms)
        self.command = command
        self.executable = shutil.which(command)
        self.samples = []  # type: List[Dict[str, Any]]
        self.error = None  # type: Optional[str]
        self._lock = threading.Lock()
        self._process = None  # type: Optional[subprocess.Popen]
        self._thread = None  # type: Optional[threading.Thread]

    @property
    def available(self) -> bool:
        return self.executable is not None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "TegraStats":
        if not self.available or self._process is not None:
            return self
        try:
            # A session of its own, so stop() can end whatever tegrastats started too.
            self._process = subprocess.Popen(
                [str(self.executable), "--interval", str(self.interval_ms)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                universal_newlines=True, errors="replace", bufsize=1, start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            self.error = "could not start {}: {}".format(self.executable, exc)
            self._process = None
            return self
        self._thread = threading.Thread(
            target=self._read, args=(self._process.stdout,), name="tegrastats-reader", daemon=True
        )
        self._thread.start()
        return self

    def _read(self, stream: Any) -> None:
        try:
            for line in stream:
                line = line.strip()
                if not line:
                    continue
                sample = parse_tegrastats_line(line)
                sample["t"] = time.perf_counter()
                with self._lock:
                    self.samples.append(sample)
        except (OSError, ValueError):  # the pipe closed under us
            pass

    def _signal(self, process: subprocess.Popen, sig: int) -> None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, sig)  # the group outlives a reaped leader only while it has members
            elif process.poll() is None:
                process.send_signal(sig)
        except OSError:  # already gone
            pass

    def stop(self, timeout: float = 3.0) -> None:
        """End tegrastats (and anything in its process group), reap it and join the reader."""
        process, thread = self._process, self._thread
        if process is None:
            return
        self._signal(process, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(process, getattr(signal, "SIGKILL", signal.SIGTERM))
            process.wait(timeout=timeout)
        if hasattr(os, "killpg"):
            self._signal(process, getattr(signal, "SIGKILL", signal.SIGTERM))  # stragglers holding the pipe
        if thread is not None:
            thread.join(timeout)
        if process.stdout is not None and (thread is None or not thread.is_alive()):
            process.stdout.close()  # (closing under a reader still blocked in read() would block too)
        self._process, self._thread = None, None

    def __enter__(self) -> "TegraStats":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def snapshot(self) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self.samples)

    def summary(self) -> Optional[Dict[str, Any]]:
        """`summarize_tegrastats` of the samples so far; None when unavailable or none came."""
        if not self.available:
            return None
        summary = summarize_tegrastats(self.snapshot())
        if summary is not None:
            summary["interval_ms"] = self.interval_ms
        return summary


# ----------------------------------------------------------------------------------------------
# jetson_clocks, fps per watt
# ----------------------------------------------------------------------------------------------

_JC_CPU_RE = re.compile(r"^\s*cpu(\d+):\s*(.*)$")
_JC_UNIT_RE = re.compile(r"^\s*(GPU|EMC)\s+(MinFreq=.*)$")
_JC_FIELD_RE = re.compile(r"(\w+)=(\S*)")


def _fields(text: str) -> Dict[str, str]:
    return dict(_JC_FIELD_RE.findall(text))


def _freqs(fields: Dict[str, str]) -> Optional[Tuple[int, int, int]]:
    try:
        return int(fields["MinFreq"]), int(fields["MaxFreq"]), int(fields["CurrentFreq"])
    except (KeyError, ValueError):
        return None


def parse_jetson_clocks_show(text: str) -> Optional[bool]:
    """Whether `jetson_clocks --show` output says the clocks are pinned at their maximum: every
    online CPU and the GPU with MinFreq == MaxFreq == CurrentFreq, and the EMC at MaxFreq (its
    MinFreq stays low). None when the text has no CPU or GPU clock lines (e.g. "run as root")."""
    checks = []  # type: List[bool]
    seen_cpu = seen_gpu = False
    for line in text.splitlines():
        match = _JC_CPU_RE.match(line)
        if match:
            fields = _fields(match.group(2))
            if fields.get("Online", "1") == "0":
                continue
            freqs = _freqs(fields)
            if freqs is not None:
                seen_cpu = True
                low, high, now = freqs
                checks.append(low == high == now)
            continue
        match = _JC_UNIT_RE.match(line)
        if match:
            freqs = _freqs(_fields(match.group(2)))
            if freqs is None:
                continue
            low, high, now = freqs
            if match.group(1) == "GPU":
                seen_gpu = True
                checks.append(low == high == now)
            else:
                checks.append(now == high)
    if not (seen_cpu or seen_gpu):
        return None
    return all(checks)


def jetson_clocks_active(command: str = "jetson_clocks", timeout: float = 5.0) -> Optional[bool]:
    """`parse_jetson_clocks_show` of `jetson_clocks --show`; None when the command is absent, fails
    (it needs root) or times out. Never raises."""
    try:
        executable = shutil.which(command)
        if executable is None:
            return None
        result = subprocess.run(
            [executable, "--show"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, universal_newlines=True, timeout=timeout,
        )
        return parse_jetson_clocks_show(result.stdout or "")
    except Exception:  # OSError, TimeoutExpired, undecodable output
        return None


def fps_per_watt(fps: float, power_summary: Optional[Dict[str, Any]]) -> Optional[float]:
    """Frames per second per watt of mean input power (`power_in_w_mean` of a tegrastats
    summary); None without a summary or a positive power."""
    if not power_summary:
        return None
    watts = _number(power_summary.get("power_in_w_mean"))
    rate = _number(fps)
    if watts is None or watts <= 0 or rate is None:
        return None
    return rate / watts
