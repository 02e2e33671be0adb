"""Q/DQ placement of the TensorRT INT8 models: what `edgeseg calibrate` writes for four architectures, read
by the fusion lint (edgeseg/quantize/lint.py): weighted layers in INT8, Adds after a weighted layer whose
branch is quantized, float islands between INT8 layers, and the Q/DQ pairs per consumer op type.

Placement does not depend on the weights, so the models are exported untrained and calibrated on a few
synthetic scenes (minmax): seconds per model.

    .venv/bin/python benchmarks/qdq_placement.py [--models deeplabv3_mobilenetv3,bisenetv2,...] [--size 512x256]
"""
import argparse
import collections
import os
import tempfile
from typing import Any, Dict, Tuple

import onnx

from edgeseg.data.synthetic import write_dataset
from edgeseg.preprocess import parse_size
from edgeseg.quantize import calibrate, read_manifest
from edgeseg.quantize.lint import lint
from edgeseg.workstation.export import export

MODELS = ("deeplabv3_mobilenetv3", "bisenetv2", "enet_deconv", "fcn_resnet18")


def qdq_consumers(model) -> collections.Counter:
    """How many DequantizeLinear outputs feed each op type (weights included)."""
    consumers = collections.Counter()
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    for node in model.graph.node:
        consumers.update(node.op_type for name in node.input if name in dequantized)
    return consumers


def placement_arguments(doc: str, *extra: Tuple[str, Dict[str, Any]]) -> Tuple[argparse.Namespace, Tuple[int, int],
                                                                                str, str]:
    """--models and --size (and `extra` arguments), then a temporary folder with 4 synthetic scenes at that
    size: (arguments, size, folder, scenes folder)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for flag, options in extra:
        parser.add_argument(flag, **options)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--size", default="512x256")
    args = parser.parse_args()
    size = parse_size(args.size)
    folder = tempfile.mkdtemp(prefix="edgeseg-qdq-placement-")
    return args, size, folder, write_dataset(os.path.join(folder, "scenes"), 4, size[0], size[1], seed=3)


def main() -> None:
    args, size, folder, scenes = placement_arguments(__doc__)
    print("| model | weighted layers | INT8 | Adds after weighted | branch quantized | float islands | "
          "island nodes | largest island | Q/DQ consumers |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        path = os.path.join(folder, "{}.onnx".format(name))
        export(name, 19, size, path, log=lambda *_: None)
        manifest = calibrate(path, scenes, num=4, method="minmax", out_dir=os.path.join(folder, "calibration"),
                             log=lambda *_: None)
        model = onnx.load(read_manifest(manifest["path"])["outputs"]["tensorrt_qdq"])
        report = lint(model)
        largest = report["islands"][0] if report["islands"] else None
        print("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            name, len(report["weighted_layers"]), report["int8_layers"], len(report["adds_after_weighted"]),
            report["adds_with_branch_quantized"], report["float_islands"], report["float_island_nodes"],
            "{} ({})".format(len(largest["nodes"]), ", ".join(largest["ops"])) if largest else "-",
            ", ".join("{} {}".format(op, n) for op, n in sorted(qdq_consumers(model).items()))), flush=True)


if __name__ == "__main__":
    main()
