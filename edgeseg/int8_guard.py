"""The INT8 accuracy guard: FP32 vs INT8 mIoU on labelled data, and the layers to keep in float.

Layer sensitivity comes from ONNX Runtime's own QDQ debugging tools (`qdq_loss_debug`): the signal to
quantization-noise ratio of every quantized activation (over calibration images) and weight. A
quantized op's sensitivity is the lowest SQNR among its quantized inputs; the least SQNR, the more
sensitive. The guard keeps the 1, 2, 4, ... most sensitive ops in float until the mIoU drop is within
the limit, or stops after a few rounds with a report.
"""
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence

import onnx
from onnxruntime.quantization import CalibrationDataReader
from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                      compute_weight_error, create_activation_matching,
                                                      create_weight_matching,
                                                      modify_model_output_intermediate_tensors)

from .evaluate import evaluate
from .runtime.artifact import open_artifact

QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")


def rank_sensitive_ops(fp32_path: str, qdq_path: str, reader: CalibrationDataReader) -> List[Dict[str, Any]]:
    """Quantized ops of the FP32 model, most sensitive first: [{"node", "op", "sqnr_db"}]."""
    with tempfile.TemporaryDirectory(prefix="edgeseg-sqnr-") as folder:
        activations = {}
        for name, path in (("float", fp32_path), ("qdq", qdq_path)):
            augmented = os.path.join(folder, name + ".onnx")
            modify_model_output_intermediate_tensors(path, augmented)
            reader.rewind()
            activations[name] = collect_activations(augmented, reader, execution_providers=["CPUExecutionProvider"])
    errors = compute_activation_error(create_activation_matching(activations["qdq"], activations["float"]))
    sqnr = {tensor: e["qdq_err"] for tensor, e in errors.items()}
    sqnr.update({tensor: float(e) for tensor, e in compute_weight_error(
        create_weight_matching(fp32_path, qdq_path)).items()})
    ranked = []
    for node in onnx.load(fp32_path, load_external_data=False).graph.node:
        if node.op_type not in QUANTIZED_OPS:
            continue
        scores = [sqnr[t] for t in node.input if t in sqnr]
        if scores:
            ranked.append({"node": node.name, "op": node.op_type, "sqnr_db": float(min(scores))})
    return sorted(ranked, key=lambda r: r["sqnr_db"])


def _miou(path: str, data: str, ignore_index: Optional[int], limit: Optional[int]) -> Dict[str, Any]:
    with open_artifact(path) as segmenter:
        return evaluate(segmenter, data, ignore_index=ignore_index, limit=limit)


def guard(fp32_path: str, int8_path: Callable[[], str], requantize: Callable[[Sequence[str]], None],
          reader: CalibrationDataReader, val: str, ignore_index: Optional[int] = 255, max_drop: float = 1.0,
          limit: Optional[int] = None, max_rounds: int = 6, log=print) -> Dict[str, Any]:
    """Evaluate FP32 and INT8 on `val`; while the mIoU drop (points) exceeds `max_drop`, keep more of
    the most sensitive ops in float (`requantize(excluded)` rewrites the INT8 models; `int8_path()`
    names the ONNX Runtime one). Returns the report; its "passed" says whether the drop is within."""
    fp32 = _miou(fp32_path, val, ignore_index, limit)
    int8 = _miou(int8_path(), val, ignore_index, limit)
    rounds = [{"float_ops": [], "int8_miou": int8["miou"]}]
    drop = 100 * (fp32["miou"] - int8["miou"])
    log("INT8 accuracy: FP32 mIoU {:.2%}, INT8 {:.2%}, drop {:.2f} points (limit {:.2f})".format(
        fp32["miou"], int8["miou"], drop, max_drop))
    ranked = []  # type: List[Dict[str, Any]]
    count = 1
    while drop > max_drop and len(rounds) <= max_rounds:
        if not ranked:
            ranked = rank_sensitive_ops(fp32_path, int8_path(), reader)
        if len(rounds[-1]["float_ops"]) == len(ranked):
            break  # everything quantized is already in float
        count = min(count, len(ranked))
        excluded = [r["node"] for r in ranked[:count]]
        requantize(excluded)
        int8 = _miou(int8_path(), val, ignore_index, limit)
        drop = 100 * (fp32["miou"] - int8["miou"])
        rounds.append({"float_ops": excluded, "int8_miou": int8["miou"]})
        log("  {} most sensitive op(s) kept in float: INT8 mIoU {:.2%}, drop {:.2f} points".format(
            count, int8["miou"], drop))
        count *= 2
    return {
        "passed": drop <= max_drop,
        "max_drop": max_drop,
        "drop_points": drop,
        "fp32": fp32,
        "int8": int8,
        "float_ops": rounds[-1]["float_ops"],
        "rounds": rounds,
        "sensitivity": ranked,
    }
