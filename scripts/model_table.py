"""The model table of docs/models.md: parameters (vs the papers / reference implementations), GMACs at
1024x512 and 512x256, ONNX op counts, ONNX Runtime CPU latency. Every model is exported through
`edgeseg export` (so parity is checked too) at 1024x512 with 19 classes. `name:width` (e.g. `unet:0.25`) sets the
channel width factor of a model that takes one.

    .venv/bin/python scripts/model_table.py [--models a,b,unet:0.25] [--iterations 10] [--markdown table.md]
"""
import argparse
import os
import tempfile
import time
from collections import Counter
from typing import Dict, List, Optional

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgeseg.workstation.export import export
from edgeseg.workstation.models import available_models, build_model

CLASSES = 19
# Reference parameter counts (their class count) and where they come from.
REFERENCES = {
    "deeplabv3_mobilenetv3": (11_029_328, 21, "torchvision docs"),
    "lraspp_mobilenetv3": (3_221_538, 21, "torchvision docs"),
    "deeplabv3plus_mobilenetv3": (11_029_328, 21, "torchvision DeepLabV3-MobileNetV3 (same backbone + ASPP)"),
    "bisenetv2": (3_341_614, 19, "CoinCheung/BiSeNet BiSeNetV2, aux heads off"),
    "enet": (370_000, 12, "ENet paper: 0.37 M"),
    "enet_deconv": (370_000, 12, "ENet paper: 0.37 M"),
    "icnet_resnet18": (None, None, "no published count (paper's PSPNet-50 ICNet: 26.5 M)"),
    "icnet_mobilenetv3": (None, None, "no published count (paper's PSPNet-50 ICNet: 26.5 M)"),
    "fcn_resnet18": (None, None, "no published count (jetson-inference lists accuracy and fps only)"),
    "fcn8s_resnet18": (None, None, "no published count"),
    "fcn_resnet50": (35_322_218, 21, "torchvision docs, its 2.37 M training-only aux head included"),
    "fcn8s_resnet50": (None, None, "no published count"),
    "unet": (31_030_658, 2, "U-Net paper's layout (1 input channel, conv biases, no BN)"),
}


def inference_params(model: torch.nn.Module) -> int:
    """Parameters the eval-mode output depends on (training-only auxiliary heads excluded)."""
    model.eval().zero_grad(set_to_none=True)
    model(torch.zeros(1, 3, 64, 128)).sum().backward()
    count = sum(p.numel() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    return count


def gmacs(model: torch.nn.Module, width: int, height: int) -> float:
    """Multiply-accumulates of convolutions and matrix products (torch's FLOP counter / 2)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, height, width))
    return counter.get_total_flops() / 2e9


def latency_ms(path: str, width: int, height: int, iterations: int) -> float:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.RandomState(0).standard_normal((1, 3, height, width)).astype(np.float32)
    name = session.get_inputs()[0].name
    for _ in range(2):
        session.run(None, {name: x})
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def row(name: str, folder: str, iterations: int, width: Optional[float] = None) -> Dict[str, object]:
    model = build_model(name, CLASSES, width=width)
    params = inference_params(model)
    reference, ref_classes, source = (None, None, "no published count at this width") if width else REFERENCES[name]
    if reference is not None and ref_classes != CLASSES:
        params_at_ref = inference_params(build_model(name, ref_classes))
    else:
        params_at_ref = params
    path = os.path.join(folder, name + ".onnx")
    record = export(name, CLASSES, (1024, 512), path, width=width, log=lambda *_: None)
    ops = Counter(node.op_type for node in onnx.load(path).graph.node)
    return {
        "model": name if width is None else "{} --width {}".format(name, width),
        "params_m": params / 1e6,
        "reference": "{:.2f} M ({} cl.), {}: {:+.1%}".format(reference / 1e6, ref_classes, source,
                                                             params_at_ref / reference - 1) if reference else source,
        "gmacs_1024": gmacs(model, 1024, 512),
        "gmacs_512": gmacs(model, 512, 256),
        "onnx": "opset {}, {} nodes, {} op types".format(record["opset"], sum(ops.values()), len(ops)),
        "agreement": record["parity"]["argmax_agreement"],
        "ms_512": latency_ms(export_small(name, folder, width), 512, 256, iterations),
        "ms_1024": latency_ms(path, 1024, 512, iterations),
    }


def export_small(name: str, folder: str, width: Optional[float]) -> str:
    path = os.path.join(folder, name + "_512.onnx")
    export(name, CLASSES, (512, 256), path, width=width, log=lambda *_: None)
    return path


def markdown(rows: List[Dict[str, object]]) -> str:
    lines = ["| model | inference params | reference params (diff) | GMACs 1024x512 | GMACs 512x256 | ONNX | parity "
             "| ORT CPU ms 512x256 | ORT CPU ms 1024x512 |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| {model} | {params_m:.2f} M | {reference} | {gmacs_1024:.2f} | {gmacs_512:.2f} | {onnx} "
                     "| {agreement:.2%} | {ms_512:.1f} | {ms_1024:.1f} |".format(**r))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(available_models()))
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args()
    torch.manual_seed(0)
    folder = tempfile.mkdtemp(prefix="edgeseg-models-")
    rows = []
    for spec in args.models.split(","):
        name, _, width = spec.partition(":")
        rows.append(row(name, folder, args.iterations, float(width) if width else None))
        print("done", spec, flush=True)
    table = markdown(rows)
    print("{} classes; ONNX Runtime {} CPU, {} threads; torch {}\n".format(
        CLASSES, ort.__version__, os.cpu_count(), torch.__version__))
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
