"""The INT8 accuracy guard: FP32 vs each shipped INT8 model's mIoU on labelled data, and the ops to keep in float.

`edgeseg calibrate` ships two INT8 models: the s8/s8 Q/DQ model that `build` gives TensorRT (what a Jetson
user runs) and the u8/s8 model for ONNX Runtime. Both are scored, the TensorRT one run on ONNX Runtime's
CPU, which executes Q/DQ as written: a faithful simulation of TensorRT's explicit INT8 (TensorRT fuses
Q/DQ into INT8 kernels with the same scales; it rounds differently within a step). `max_drop` applies
to each model; the verdict is the worst one's.

Layer sensitivity comes from ONNX Runtime's own QDQ debugging tools (`qdq_loss_debug`): the signal to
quantization-noise ratio of every quantized activation (over calibration images) and weight, measured
on the model that fails. A quantized op's sensitivity is the lowest SQNR among its quantized inputs; the
least SQNR, the more sensitive. The guard keeps the 1, 2, 4, ... most sensitive ops in float (in both
models) until every drop is within the limit, or stops after a few rounds with a report.
"""
import json
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader
from onnxruntime.quantization.qdq_loss_debug import (
    collect_activations,
    compute_activation_error,
    compute_weight_error,
    create_activation_matching,
    create_weight_matching,
    modify_model_output_intermediate_tensors,
)

from ..artifacts import write_json_atomic
from ..evaluate import evaluate
from ..metrics import drop_interval, drop_text
from ..preprocess import PreprocessSpec
from ..runtime.artifact import open_artifact
from .lint import WEIGHTED
from .manifest import read_manifest
from .reader import ImageCalibrationReader
from .stage import requantize


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
        if node.op_type not in WEIGHTED:
            continue
        scores = [sqnr[t] for t in node.input if t in sqnr]
        if scores:
            ranked.append({"node": node.name, "op": node.op_type, "sqnr_db": float(min(scores))})
    return sorted(ranked, key=lambda r: r["sqnr_db"])


def _miou(path: str, data: str, ignore_index: Optional[int], limit: Optional[int],
          per_image: Optional[List[np.ndarray]] = None) -> Dict[str, Any]:
    with open_artifact(path) as segmenter:
        return evaluate(segmenter, data, ignore_index=ignore_index, limit=limit, per_image=per_image)


ACCURACY_REPORT = "accuracy.json"
SHIPPED = {"tensorrt_qdq": "TensorRT Q/DQ", "onnxruntime_int8": "ONNX Runtime"}  # manifest key -> label


def _change(fp32: Dict[str, Any], int8: Dict[str, Any]) -> Dict[str, Any]:
    """One INT8 model's figures against FP32: mIoU, drop in points, per-class IoU change in points."""
    change = {name: None if value is None or fp32["per_class_iou"].get(name) is None
              else 100 * (value - fp32["per_class_iou"][name]) for name, value in int8["per_class_iou"].items()}
    return {"miou": int8["miou"], "drop_points": 100 * (fp32["miou"] - int8["miou"]),
            "per_class_iou": int8["per_class_iou"], "per_class_change_points": change}


def guard(fp32_path: str, int8_paths: Callable[[], Dict[str, str]], requantize: Callable[[Sequence[str]], Any],
          reader: CalibrationDataReader, val: str, ignore_index: Optional[int] = 255, max_drop: float = 1.0,
          limit: Optional[int] = None, max_rounds: int = 6, log=print) -> Dict[str, Any]:
    """Evaluate FP32 and every INT8 model `int8_paths()` names ({SHIPPED key: path}) on `val`; while the
    worst mIoU drop (points) exceeds `max_drop`, keep more of the most sensitive ops in float
    (`requantize(excluded)` rewrites the INT8 models). Returns the report: "passed" when every model's
    drop is within the limit, "verdict_model" the worst one, "models" each one's figures, "sensitivity" the
    ranking of each model that failed (ops in float grow from that model's ranking while it is the worst:
    the TensorRT model keeps its image layers float, so the two models quantize different ops)."""
    fp32_counts: List[np.ndarray] = []  # per image, for the drops' intervals
    fp32 = _miou(fp32_path, val, ignore_index, limit, fp32_counts)

    def score() -> Dict[str, Dict[str, Any]]:
        models = {}
        for key, path in int8_paths().items():
            counts: List[np.ndarray] = []
            models[key] = _change(fp32, _miou(path, val, ignore_index, limit, counts))
            models[key]["drop_interval_points"] = list(drop_interval(fp32_counts, counts, ignore_index))
        return models

    models = score()
    worst = max(models, key=lambda key: models[key]["drop_points"])
    rounds = [{"float_ops": [], "int8_miou": {key: m["miou"] for key, m in models.items()}}]
    log("INT8 accuracy: FP32 mIoU {:.2%}; {} (limit {:.2f} points; in brackets the 95% interval over the "
        "images)".format(fp32["miou"], "; ".join("{} {:.2%}, {}".format(
            SHIPPED.get(k, k), m["miou"], drop_text(m["drop_points"], m["drop_interval_points"]))
            for k, m in models.items()), max_drop))
    rankings: Dict[str, List[Dict[str, Any]]] = {}  # per model, measured when it first fails
    count = 1
    while models[worst]["drop_points"] > max_drop and len(rounds) <= max_rounds:
        if worst not in rankings:
            rankings[worst] = rank_sensitive_ops(fp32_path, int8_paths()[worst], reader)
        excluded = list(rounds[-1]["float_ops"])
        candidates = [r["node"] for r in rankings[worst] if r["node"] not in excluded]
        if not candidates:
            break  # everything the failing model quantizes is already in float
        excluded += candidates[:max(1, count - len(excluded))]
        requantize(excluded)
        models = score()
        worst = max(models, key=lambda key: models[key]["drop_points"])
        rounds.append({"float_ops": excluded, "int8_miou": {key: m["miou"] for key, m in models.items()}})
        log("  {} most sensitive op(s) kept in float: worst drop {:.2f} points ({})".format(
            len(excluded), models[worst]["drop_points"], SHIPPED.get(worst, worst)))
        count = 2 * len(excluded)
    return {
        "passed": all(m["drop_points"] <= max_drop for m in models.values()),
        "max_drop": max_drop,
        "verdict_model": worst,
        "drop_points": models[worst]["drop_points"],
        "fp32": fp32,
        "models": models,
        "float_ops": rounds[-1]["float_ops"],
        "rounds": rounds,
        "sensitivity": rankings,
    }


def guard_calibration(manifest_path: str, val: str, ignore_index: Optional[int] = 255, max_drop: float = 1.0,
                      limit: Optional[int] = None, log=print) -> Dict[str, Any]:
    """The guard on a calibration: both shipped INT8 models of the manifest against its FP32 model, the
    sensitivity measured on 8 of its calibration images. Writes the full report to `accuracy.json` beside
    the manifest and each model's figures into the manifest ("accuracy"), and returns the report."""
    manifest = read_manifest(manifest_path)
    fp32_path = os.path.normpath(os.path.join(manifest["folder"], manifest["model"]["path"]))
    images = [os.path.join(manifest["data_root"], record["path"]) for record in manifest["images"][:8]]
    reader = ImageCalibrationReader(images, PreprocessSpec.from_dict(manifest["preprocess"]), manifest["input_name"])

    shipped = {key: manifest["outputs"][key] for key in SHIPPED}  # requantize rewrites these files in place
    report = guard(fp32_path, lambda: dict(shipped),
                   lambda excluded: requantize(manifest_path, excluded, log=lambda *_: None),
                   reader, val, ignore_index=ignore_index, max_drop=max_drop, limit=limit, log=log)
    write_json_atomic(os.path.join(manifest["folder"], ACCURACY_REPORT), report)
    with open(manifest_path) as f:
        record = json.load(f)
    record["accuracy"] = summary(report, val)
    write_json_atomic(manifest_path, record)
    return report


def summary(report: Dict[str, Any], val: str) -> Dict[str, Any]:
    """What the manifest keeps of a guard report: the verdict and each model's mIoU and drop."""
    return {"val": val, "passed": report["passed"], "max_drop": report["max_drop"],
            "verdict_model": report["verdict_model"], "drop_points": report["drop_points"],
            "fp32_miou": report["fp32"]["miou"], "float_ops": report["float_ops"], "report": ACCURACY_REPORT,
            "models": {key: {"miou": m["miou"], "drop_points": m["drop_points"],
                             "drop_interval_points": m.get("drop_interval_points")}
                       for key, m in report["models"].items()}}


def accuracy_table(report: Dict[str, Any]) -> str:
    """Per-class IoU of FP32 and of each shipped INT8 model, with the change in points, and a verdict line."""
    fp32, models = report["fp32"]["per_class_iou"], report["models"]
    width = max(len(name) for name in fp32) + 2

    def cell(value: Any, sign: bool = False) -> str:
        return "n/a" if value is None else ("{:+.2f}" if sign else "{:.2f}").format(value)

    columns = ["FP32"] + [label for key in models for label in (SHIPPED.get(key, key), "change")]
    lines = ["class".ljust(width) + "".join("{:>16}".format(c) for c in columns)]
    for name in fp32:
        cells = [cell(None if fp32[name] is None else 100 * fp32[name])]
        for model in models.values():
            value = model["per_class_iou"].get(name)
            cells += [cell(None if value is None else 100 * value), cell(model["per_class_change_points"].get(name),
                                                                          sign=True)]
        lines.append(name.ljust(width) + "".join("{:>16}".format(c) for c in cells))
    lines.append("mIoU FP32 {:.2f}; {} (limit {} points, verdict on {}); kept in float: {}".format(
        100 * report["fp32"]["miou"], "; ".join("{} {:.2f} ({})".format(
            SHIPPED.get(key, key), 100 * m["miou"], drop_text(m["drop_points"], m.get("drop_interval_points")))
            for key, m in models.items()),
        report["max_drop"], SHIPPED.get(report["verdict_model"]), ", ".join(report["float_ops"]) or "nothing"))
    return "\n".join(lines)


def failure_message(report: Dict[str, Any], manifest_path: str) -> str:
    """Why a guard report failed, naming the accuracy report beside the manifest."""
    return "INT8 mIoU drop {:.2f} points ({}) > --max-drop {} even with {} op(s) in float; see {}".format(
        report["drop_points"], report["verdict_model"], report["max_drop"], len(report["float_ops"]),
        os.path.join(os.path.dirname(manifest_path), ACCURACY_REPORT))
