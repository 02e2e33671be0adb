"""`edgeseg info`: an artifact's sidecar (or what its runtime says without one), or this machine; --json for
scripts."""
import argparse
import json
from collections import OrderedDict
from typing import Any, Dict

from ..artifacts import read_sidecar
from .common import open_segmenter

SIDECAR_LABELS = OrderedDict([
    ("stage", "made by"), ("model", "model"), ("num_classes", "classes"), ("input_shape", "input shape"),
    ("output_kind", "output"), ("precision", "precision"), ("runtime", "runtime"), ("opset", "opset"),
    ("tensorrt_version", "TensorRT"), ("gpu_name", "GPU"), ("onnxruntime_version", "onnxruntime"),
    ("created", "created"), ("sha256", "sha256"),
])


def describe_sidecar(path: str, record: Dict[str, Any]) -> str:
    """An artifact's sidecar as aligned "label  value" lines."""
    lines = ["{}".format(path)]
    for key, label in SIDECAR_LABELS.items():
        if record.get(key) is not None:
            lines.append("  {:<14}{}".format(label, record[key]))
    edits = record.get("pixel_graph") or {}
    if "preprocess" in record:
        spec = record["preprocess"]
        lines.append("  {:<14}{}x{} {} x*{:.5g} mean {} std {}{}".format(
            "preprocess", spec["size"][0], spec["size"][1], spec["color_order"].upper(), spec["scale"],
            spec["mean"], spec["std"], " (in the graph: it takes the resized uint8 BGR frame)" if edits.get("input")
            else ""))
    if edits.get("output"):
        lines.append("  {:<14}{} in the graph, {} class map out".format(
            "argmax", " → ".join(edits["output"]["ops"]), edits["output"]["dtype"]))
    if record.get("classes"):
        lines.append("  {:<14}{}".format("class names", ", ".join(record["classes"])))
    if record.get("parity"):
        lines.append("  {:<14}argmax agreement {:.4%} on {}".format(
            "parity", record["parity"]["argmax_agreement"], record["parity"]["runtime"]))
    if record.get("weights"):
        lines.append("  {:<14}{}".format("weights", record["weights"].get("source")))
    if record.get("parent"):
        parent = record["parent"]
        lines.append("  {:<14}{} ({}...)".format("built from", parent["file"], parent["sha256"][:12]))
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> None:
    if args.artifact is None:
        from ..envinfo import collect, format_report

        info = collect()
        print(json.dumps(info, indent=2) if args.json else format_report(info))
        return
    from ..artifacts import require_file

    require_file(args.artifact, "artifact", "check the path")
    record = read_sidecar(args.artifact)
    if record is not None and "preprocess" in record:
        print(json.dumps(record, indent=2) if args.json else describe_sidecar(args.artifact, record))
        return
    with open_segmenter(args, args.artifact) as segmenter:
        backend = segmenter.backend
        if args.json:
            print(json.dumps({"artifact": args.artifact, "sidecar": None, "input": str(backend.input_spec),
                              "output": str(backend.output_spec), "runtime": backend.describe()}, indent=2))
            return
        print("{} (no sidecar: preprocessing from flags or defaults)".format(args.artifact))
        print("  input   {}\n  output  {}\n  runtime {}".format(backend.input_spec, backend.output_spec,
                                                             backend.describe()))


def register(sub, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    p = sub.add_parser("info", parents=[common, model], help="an artifact's sidecar, or this machine")
    p.add_argument("artifact", nargs="?", help="engine or ONNX model (default: describe this machine)")
    p.add_argument("--json", action="store_true", help="print JSON instead of aligned text")
    p.set_defaults(func=cmd_info)
