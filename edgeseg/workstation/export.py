"""`edgeseg export`: PyTorch → ONNX (TorchScript exporter, opset 17), checked, parity-tested, with sidecar.

Opset 17 because TensorRT 8.5 (JetPack 5, the last for Xavier NX) stops there, and the dynamo
exporter writes opset 18, whose ReduceMean takes `axes` as an input that TensorRT 8.5's parser
ignores (it silently averages over every axis). The one exception is a model whose registry entry
says `exporter="dynamo"` (ENet's paper decoder: the TorchScript exporter fails on max_unpool2d):
it is exported at opset 18 for ONNX Runtime, and is not for TensorRT.
"""
import os
import time
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import onnx
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .. import __version__
from ..artifacts import file_sha256, new_artifact
from ..data.synthetic import render_scene
from ..errors import ArtifactError, ConfigError
from ..model_registry import model_entry
from ..palettes import palette_for, palette_for_names
from ..preprocess import Preprocessor, PreprocessSpec
from .models import build_model, model_preprocess
from .models.weights import load_torch_file

OPSET = 17
MIN_AGREEMENT = 0.999
RANDOM_INIT_SEED = 0  # models without weights are still reproducible
OUTPUT_KINDS = ("logits", "probs", "classmap")


class ClassMapHead(nn.Module):
    """Logits → class map baked into the graph: resize to the input size, ArgMax, int32 (N x H x W)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if logits.shape[-2:] != x.shape[-2:]:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits.argmax(dim=1).to(torch.int32)


class SoftmaxHead(nn.Module):
    """Logits → class probabilities (softmax over classes), at the model's output resolution: what
    DeepStream's segmentation parser expects (it leaves pixels whose best score is <= 0 unlabelled)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


HEADS: Dict[str, Callable[[Any], Any]] = {"classmap": ClassMapHead, "probs": SoftmaxHead}


def _parity_inputs(spec: PreprocessSpec, count: int = 2) -> np.ndarray:
    """Real-looking inputs (synthetic street scenes) preprocessed by the model's own spec."""
    preprocess = Preprocessor(spec)
    width, height = spec.size
    return np.concatenate([preprocess(render_scene(seed, width, height)[0]) for seed in range(count)])


def check_parity(model: nn.Module, onnx_path: str, inputs: np.ndarray, output_kind: str) -> Dict[str, Any]:
    """Run PyTorch and ONNX Runtime (CPU) on the same inputs: max abs diff and argmax agreement."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    agree = total = 0
    max_diff = 0.0
    for sample in inputs:
        batch = sample[None]
        with torch.no_grad():
            expected = model(torch.from_numpy(batch)).numpy()
        actual = session.run(None, {input_name: batch})[0]
        if output_kind != "classmap":
            max_diff = max(max_diff, float(np.abs(expected - actual).max()))
            expected, actual = expected.argmax(1), actual.argmax(1)
        agree += int((expected == actual).sum())
        total += expected.size
    return {
        "runtime": "onnxruntime {} CPU".format(ort.__version__),
        "images": int(len(inputs)),
        "max_abs_diff": max_diff if output_kind != "classmap" else None,
        "argmax_agreement": agree / total,
    }


def _inline_identity_weights(model: onnx.ModelProto) -> int:
    """Replace Identity nodes that copy a weight with their own copy of it. The exporter merges equal
    initializers (e.g. the zero biases of a randomly initialised model) behind Identity nodes, and
    TensorRT's parser wants Conv weights and biases to be initializers. Returns how many it replaced."""
    graph = model.graph
    weights = {w.name: w for w in graph.initializer}
    copies = [n for n in graph.node if n.op_type == "Identity" and n.input[0] in weights]
    for node in copies:
        copy = onnx.TensorProto()
        copy.CopyFrom(weights[node.input[0]])
        copy.name = node.output[0]
        graph.initializer.append(copy)
        graph.node.remove(node)
    return len(copies)


def _checkpoint_record(weights: Optional[str]) -> Dict[str, Any]:
    """What an edgeseg training checkpoint records about its model: "classes" (names) and "width" (the
    channel width factor); empty for other weights."""
    if not weights or not os.path.isfile(weights):
        return {}
    checkpoint = load_torch_file(weights)
    if not isinstance(checkpoint, dict):
        return {}
    names = checkpoint.get("classes")
    return {"classes": [str(n) for n in names] if names else None,
            "width": (checkpoint.get("config") or {}).get("width")}


def _model_width(width: Optional[float], trained: Optional[float], weights: Optional[str]) -> Optional[float]:
    """--width, else the checkpoint's; the two must agree."""
    if width is not None and trained is not None and width != trained:
        raise ConfigError("--width {} differs from {}'s {}; leave --width out to use the checkpoint's".format(
            width, weights, trained))
    return trained if width is None else width


def _opset(path: str) -> int:
    model = onnx.load(path, load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _weights_record(weights: Optional[str]) -> Dict[str, Any]:
    if not weights:
        return {"source": "random init", "seed": RANDOM_INIT_SEED}
    if os.path.isfile(weights):
        return {"source": os.path.abspath(weights), "sha256": file_sha256(weights)}
    return {"source": "torchvision:" + weights}


def export(
    model_name: str,
    num_classes: Optional[int],
    input_size: Tuple[int, int],
    output: str,
    weights: Optional[str] = None,
    output_kind: str = "logits",
    dynamic: bool = False,
    classes: Optional[str] = None,
    width: Optional[float] = None,
    log=print,
) -> Dict[str, Any]:
    """Export `model_name` to `output` (ONNX, opset 17) and write its sidecar; returns the sidecar.

    With an edgeseg training checkpoint as `weights`, `num_classes`, `classes` and `width` (the channel width
    factor, for models that take one) default to its own.
    """
    if output_kind not in OUTPUT_KINDS:
        raise ConfigError("output kind {!r} is not one of {}".format(output_kind, ", ".join(OUTPUT_KINDS)))
    entry = model_entry(model_name)
    if dynamic and not entry.dynamic:
        raise ConfigError("{} fixes its pooling windows at export and cannot be --dynamic; export one model per "
                          "input size".format(model_name))
    if dynamic and any(side % entry.size_multiple for side in input_size):
        raise ConfigError("{} pads sizes that are not multiples of {} by amounts fixed at export: --dynamic needs "
                          "such a size, or export one model per input size".format(model_name, entry.size_multiple))
    record = _checkpoint_record(weights)
    trained = record.get("classes")
    channel_width = _model_width(width, record.get("width"), weights)
    if num_classes is None:
        if trained is None:
            raise ConfigError("pass --num-classes: {} carries no class list".format(weights or "random init"))
        num_classes = len(trained)
    if num_classes < 1 or num_classes > 255:
        raise ConfigError("--num-classes must be 1..255 (class maps are 8-bit), not {}".format(num_classes))
    if classes is None and trained is not None and len(trained) == num_classes:
        palette = palette_for_names(trained)
    else:
        palette = palette_for(num_classes, classes)
    torch.manual_seed(RANDOM_INIT_SEED)
    model = build_model(model_name, num_classes, weights, channel_width)
    if output_kind in HEADS:
        model = HEADS[output_kind](model).eval()
    spec = PreprocessSpec(input_size, **model_preprocess(model_name))
    width, height = input_size
    dummy = torch.zeros(1, 3, height, width)
    output_name = output_kind
    axes = {"input": {0: "batch", 2: "height", 3: "width"}, output_name: {0: "batch"}} if dynamic else None
    exporter = entry.exporter
    started = time.perf_counter()
    with new_artifact(output) as pending:
        tmp = pending.tmp
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":  # opset 18: ONNX Runtime only (see the module docstring)
                torch.onnx.export(model, (dummy,), tmp, dynamo=True, external_data=False, input_names=["input"],
                                  output_names=[output_name], dynamic_axes=axes, verbose=False)
            else:
                torch.onnx.export(model, dummy, tmp, dynamo=False, opset_version=OPSET, input_names=["input"],
                                  output_names=[output_name], dynamic_axes=axes, do_constant_folding=True)
        exported = onnx.load(tmp)
        _inline_identity_weights(exported)
        onnx.save(onnx.shape_inference.infer_shapes(exported, strict_mode=True), tmp)
        try:
            onnx.checker.check_model(tmp, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ArtifactError("{}: exported graph fails onnx.checker ({})".format(output, str(exc).splitlines()[0]))
        opset = _opset(tmp)
        log("exported {} in {:.1f} s ({} exporter, opset {})".format(
            model_name, time.perf_counter() - started, exporter, opset))
        if opset > OPSET:
            log("note: opset {} is for ONNX Runtime; TensorRT 8.5 takes opset <= {}".format(opset, OPSET))
        parity = check_parity(model, tmp, _parity_inputs(spec), output_kind)
        diff = parity["max_abs_diff"]
        log("parity vs PyTorch on {}: argmax agreement {:.4%}{}".format(
            parity["runtime"], parity["argmax_agreement"],
            "" if diff is None else ", max abs diff {:.2e}".format(diff)))
        if parity["argmax_agreement"] < MIN_AGREEMENT:
            raise ArtifactError("{}: ONNX output disagrees with PyTorch (argmax agreement {:.3%} < {:.1%}); "
                                "nothing written; rerun with --debug and report it".format(
                                    output, parity["argmax_agreement"], MIN_AGREEMENT))
        graph = onnx.load(tmp, load_external_data=False).graph
        return pending.commit({
            "stage": "export",
            "model": model_name,
            "width": channel_width,
            "num_classes": num_classes,
            "classes": list(palette.names),
            "palette": [list(c) for c in palette.colors],
            "input_name": "input",
            "input_shape": [1, 3, height, width],
            "dynamic": dynamic,
            "output_name": output_name,
            "output_kind": output_kind,
            "precision": "fp32",
            "preprocess": spec.to_dict(),
            "opset": opset,
            "exporter": "torch.onnx " + ("dynamo" if exporter == "dynamo" else "TorchScript (dynamo=False)"),
            "onnx_ops": sorted({node.op_type for node in graph.node}),
            "weights": _weights_record(weights),
            "parity": parity,
            "versions": {"edgeseg": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                         "onnx": onnx.__version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "parent": None,
        })
