"""`edgeseg bench`: engine-only latency like trtexec (warm-up, N timed iterations, percentiles)."""
import os
import time
from typing import Any, Dict

import numpy as np

from .profiling import summarize
from .runtime.artifact import Segmenter


def bench(segmenter: Segmenter, iterations: int = 100, warmup: int = 10) -> Dict[str, Any]:
    """Time `infer` alone on one fixed preprocessed input; throughput is 1000 / mean ms."""
    width, height = segmenter.spec.size
    rng = np.random.RandomState(0)
    frame = rng.randint(0, 256, size=(height, width, 3)).astype(np.uint8)
    blob = segmenter.preprocess(frame)
    infer = segmenter.backend.infer
    for _ in range(warmup):
        infer(blob)
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        infer(blob)
        samples.append((time.perf_counter() - started) * 1000.0)
    stats = summarize(samples)
    sidecar = segmenter.sidecar or {}
    return {
        "artifact": segmenter.path,
        "model": sidecar.get("model", os.path.basename(segmenter.path)),
        "precision": sidecar.get("precision", "fp32"),
        "backend": segmenter.describe(),
        "input_size": "{}x{}".format(width, height),
        "size_mb": os.path.getsize(segmenter.path) / 1e6,
        "warmup": warmup,
        "latency_ms": stats,
        "fps": 1000.0 / stats["mean"],
    }
