"""`edgeseg bench`: engine-only latency like trtexec (warm-up, N iterations or T seconds, percentiles,
throughput, optional batch, H2D / compute / D2H per iteration and trtexec's --exportTimes trace), end to
end on a video, and mIoU on labelled data: one row per artifact."""
import contextlib
import json
import os
import time
from typing import IO, Any, Dict, Iterator, List, Optional

import numpy as np

from .errors import ConfigError
from .profiling import summarize
from .runtime.artifact import Segmenter
from .runtime.base import PhaseTimes

PHASES = (("h2d", "H2d"), ("compute", "Compute"), ("d2h", "D2h"))  # edgeseg's key, trtexec's spelling


def trace_record(phases: PhaseTimes) -> Dict[str, float]:
    """One iteration as trtexec's --exportTimes writes it (its keys, its order), for the phases measured:
    start/end of each (ms since timing began), their durations, latencyMs (their sum) and endToEndMs
    (first start to last end)."""
    measured = [(key, name, phases[key]) for key, name in PHASES if key in phases]
    record: Dict[str, float] = {}
    for _, name, (start, end) in measured:
        record["start{}Ms".format(name)], record["end{}Ms".format(name)] = start, end
    for key, _, (start, end) in measured:
        record[key + "Ms"] = end - start
    record["latencyMs"] = sum(end - start for _, _, (start, end) in measured)
    record["endToEndMs"] = measured[-1][2][1] - measured[0][2][0]
    return record


class _Trace:
    """A JSON array written one record at a time (memory stays flat however many iterations)."""

    def __init__(self, stream: Optional[IO[str]]) -> None:
        self._stream, self._separator = stream, "[\n  "

    def add(self, phases: PhaseTimes) -> None:
        if self._stream is not None:
            self._stream.write(self._separator + json.dumps(trace_record(phases)))
            self._separator = ",\n  "

    def close(self) -> None:
        if self._stream is not None:
            self._stream.write("[]\n" if self._separator.startswith("[") else "\n]\n")


@contextlib.contextmanager
def _trace(path: Optional[str]) -> Iterator[_Trace]:
    """A _Trace writing to `path` atomically (nothing there unless the run completes), or discarding."""
    if not path:
        yield _Trace(None)
        return
    from .artifacts import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            trace = _Trace(f)
            yield trace
            trace.close()


def bench(segmenter: Segmenter, iterations: int = 100, warmup: int = 10, seconds: Optional[float] = None,
          batch: int = 1, times_path: Optional[str] = None) -> Dict[str, Any]:
    """Time `infer` alone on one fixed preprocessed input (`seconds` overrides `iterations`);
    throughput is batch * 1000 / mean ms. Each iteration's phases are timed as the backend can (TensorRT:
    H2D, compute, D2H by CUDA events; otherwise `infer` on the host clock, as compute) and, given
    `times_path`, written there in trtexec's --exportTimes layout."""
    width, height = segmenter.spec.size
    if batch > 1 and segmenter.backend.input_spec.shape[0] > 0:
        raise ConfigError("{}: batch {} needs a model exported with --dynamic (its batch is fixed at {})".format(
            segmenter.path, batch, segmenter.backend.input_spec.shape[0]))
    frame = np.random.RandomState(0).randint(0, 256, size=(height, width, 3)).astype(np.uint8)
    blob = segmenter.preprocess(frame)  # at batch 1 the runtime's own input buffer, as `run` feeds it
    if batch > 1:
        blob = np.ascontiguousarray(np.repeat(blob, batch, axis=0))
    backend = segmenter.backend
    infer = backend.infer
    for _ in range(warmup):
        infer(blob)
    samples: List[float] = []
    durations: Dict[str, List[float]] = {}
    phased = backend.time_phases(True)
    try:
        with _trace(times_path) as trace:
            origin = time.perf_counter()
            deadline = origin + seconds if seconds else None
            while (len(samples) < iterations) if deadline is None else (time.perf_counter() < deadline):
                started = time.perf_counter()
                infer(blob)
                ended = time.perf_counter()
                samples.append((ended - started) * 1000.0)
                phases = backend.phase_times() if phased else {
                    "compute": ((started - origin) * 1000.0, (ended - origin) * 1000.0)}
                for key, (start, end) in phases.items():
                    durations.setdefault(key, []).append(end - start)
                trace.add(phases)
    finally:
        backend.time_phases(False)
    stats = summarize(samples)
    result = dict(describe(segmenter), warmup=warmup, batch=batch, latency_ms=stats,
                  fps=batch * 1000.0 / stats["mean"],
                  phases_ms={key: summarize(durations[key]) for key, _ in PHASES if key in durations})
    if times_path:
        result["times"] = times_path
    return result


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
           ("input_size", "input"), ("size_mb", "MB"), ("p50", "p50 ms"), ("p99", "p99 ms"),
           ("h2d", "H2D ms mean/median"), ("compute", "compute ms mean/median"), ("d2h", "D2H ms mean/median"),
           ("fps", "fps"), ("e2e_fps", "end-to-end fps"), ("miou", "mIoU")]


def _phase_cell(result: Dict[str, Any], key: str) -> str:
    stats = result.get("phases_ms", {}).get(key)
    return "{:.3f}/{:.3f}".format(stats["mean"], stats["p50"]) if stats else "-"


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
                  "h2d": _phase_cell(r, "h2d"), "compute": _phase_cell(r, "compute"), "d2h": _phase_cell(r, "d2h"),
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
