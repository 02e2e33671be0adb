"""`edgeseg bench`: engine-only latency like trtexec (warm-up, N iterations or T seconds, percentiles,
throughput, optional batch), end to end on a video, and mIoU on labelled data: one row per artifact."""
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np

from .errors import ConfigError
from .profiling import summarize
from .runtime.artifact import Segmenter


def bench(segmenter: Segmenter, iterations: int = 100, warmup: int = 10, seconds: Optional[float] = None,
          batch: int = 1) -> Dict[str, Any]:
    """Time `infer` alone on one fixed preprocessed input (`seconds` overrides `iterations`);
    throughput is batch * 1000 / mean ms."""
    width, height = segmenter.spec.size
    if batch > 1 and segmenter.backend.input_spec.shape[0] > 0:
        raise ConfigError("{}: batch {} needs a model exported with --dynamic (its batch is fixed at {})".format(
            segmenter.path, batch, segmenter.backend.input_spec.shape[0]))
    frame = np.random.RandomState(0).randint(0, 256, size=(height, width, 3)).astype(np.uint8)
    blob = segmenter.preprocess(frame)  # at batch 1 the runtime's own input buffer, as `run` feeds it
    if batch > 1:
        blob = np.ascontiguousarray(np.repeat(blob, batch, axis=0))
    infer = segmenter.backend.infer
    for _ in range(warmup):
        infer(blob)
    samples: List[float] = []
    deadline = time.perf_counter() + seconds if seconds else None
    while (len(samples) < iterations) if deadline is None else (time.perf_counter() < deadline):
        started = time.perf_counter()
        infer(blob)
        samples.append((time.perf_counter() - started) * 1000.0)
    stats = summarize(samples)
    return dict(describe(segmenter), warmup=warmup, batch=batch, latency_ms=stats,
                fps=batch * 1000.0 / stats["mean"])


def describe(segmenter: Segmenter) -> Dict[str, Any]:
    """The columns that say what was measured: model, precision, backend, input size, file size."""
    sidecar = segmenter.sidecar or {}
    width, height = segmenter.spec.size
    return {
        "artifact": segmenter.path,
        "model": sidecar.get("model", os.path.basename(segmenter.path)),
        "precision": sidecar.get("precision", "fp32"),
        "backend": segmenter.describe(),
        "input_size": "{}x{}".format(width, height),
        "size_mb": os.path.getsize(segmenter.path) / 1e6,
    }


COLUMNS = [("artifact", "artifact"), ("model", "model"), ("precision", "precision"), ("backend", "backend"),
           ("input_size", "input"), ("size_mb", "MB"), ("p50", "p50 ms"), ("p99", "p99 ms"), ("fps", "fps"),
           ("e2e_fps", "end-to-end fps"), ("miou", "mIoU")]


def table_rows(results: List[Dict[str, Any]]) -> List[List[str]]:
    """Formatted cells per result; a failed row says why in place of the numbers."""
    rows = []
    for r in results:
        if "error" in r:
            rows.append([os.path.basename(r["artifact"]), "failed: " + r["error"]] + [""] * (len(COLUMNS) - 2))
            continue
        values = {"artifact": os.path.basename(r["artifact"]), "model": r["model"], "precision": r["precision"],
                  "backend": r["backend"], "input_size": r["input_size"], "size_mb": "{:.1f}".format(r["size_mb"]),
                  "p50": "{:.2f}".format(r["latency_ms"]["p50"]), "p99": "{:.2f}".format(r["latency_ms"]["p99"]),
                  "fps": "{:.1f}".format(r["fps"]),
                  "e2e_fps": "{:.1f}".format(r["end_to_end"]["fps"]) if "end_to_end" in r else "-",
                  "miou": "{:.2%}".format(r["miou"]) if r.get("miou") is not None else "-"}
        rows.append([values[key] for key, _ in COLUMNS])
    return rows


def markdown(results: List[Dict[str, Any]]) -> str:
    header = [title for _, title in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells in table_rows(results):
        if cells[1].startswith("failed: "):
            lines.append("| {} | {} |".format(cells[0], cells[1]))
        else:
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(path: str, results: List[Dict[str, Any]]) -> None:
    """The results table as CSV (the markdown table's columns), atomically."""
    import csv

    from .artifacts import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([title for _, title in COLUMNS])
            writer.writerows(table_rows(results))
