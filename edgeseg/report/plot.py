"""The latency plot of a run: end-to-end latency over frame index on top, per-stage distributions below.
OpenCV only (no matplotlib), so it draws on a device too.
"""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..artifacts import write_bytes_atomic
from .frames import STAGES, end_to_end_ms, frame_stage_ms, number, queue_wait_ms

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
    indices: List[float] = []
    totals: List[float] = []
    for position, frame in enumerate(frames):
        total = end_to_end_ms(frame)
        if total is not None:
            index = number(frame.get("index"))
            indices.append(index if index is not None else float(position))
            totals.append(total)
    p50, p99 = (float(np.percentile(totals, 50)), float(np.percentile(totals, 99))) if totals else (0.0, 0.0)
    count = len(totals)
    if end_to_end and end_to_end.get("count"):
        count, p50, p99 = end_to_end["count"], end_to_end["p50"], end_to_end["p99"]
    heading = title or "latency"
    heading += "  ({} frames, end-to-end p50 {:.2f} ms, p99 {:.2f} ms)".format(count, p50, p99)
    _text(cv2, img, heading, (20, 28), scale=0.6, thickness=1)

    left, right = 200, width - 30
    split = int(height * 0.5)
    _draw_timeline(cv2, img, (left, 60, right, split - 20), indices, totals, p50, p99)

    columns: "OrderedDict[str, List[float]]" = OrderedDict((stage, []) for stage in STAGES)
    waits: List[float] = []
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
