"""The probe model: a segmentation model made of ONNX operators, whose class map is known exactly.

Numbers can only be checked with a model whose output depends on its input; an untrained network
predicts one class everywhere, and every comparison then passes. The probe classifies each pixel by
its colour (the nearest of eight prototype colours, after a 3x3 blur) and its row (sky is favoured
at the top, road at the bottom): Conv 3x3 (blur) → Conv 1x1 (prototype scores) → Add (row bonus),
then optionally ArgMax. Every weight, and the preprocessing (scale 1/256, mean/std powers of two), is
a dyadic rational, so float32 arithmetic in any runtime is exact and `expected_logits` (plain numpy,
independent of edgeseg's preprocessing and runtimes) gives the very class map a correct chain must
produce, ties included. Its classes are the synthetic scenes' (several cover >= 5% of any street
frame). Only TensorRT-safe operators (opset 17), two Convs for INT8 and the accuracy guard.

Device side: numpy and OpenCV; `onnx` only to write the model. Python 3.8.

    python -m edgeseg.probe_model OUT.onnx --size 512x256 [--output-kind classmap]
"""
import argparse
import os
import time
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from . import __version__
from .artifacts import new_artifact
from .data.synthetic import CLASSES, PALETTE, render_scene
from .errors import ConfigError
from .preprocess import PreprocessSpec, parse_size

MODEL_NAME = "probe"
OPSET = 17
OUTPUT_KINDS = ("logits", "classmap")
# Model-order (RGB) preprocessing: x = (pixel / 256 - mean) / std, exact in float32.
SCALE = 1.0 / 256.0
MEAN = (0.5, 0.375, 0.25)
STD = (0.25, 0.5, 0.125)
# One prototype colour (RGB) per synthetic class, near that class's mean colour in the scenes.
PROTOTYPES_RGB = ((110, 145, 185), (78, 78, 80), (220, 215, 200), (165, 128, 112),
                  (130, 112, 100), (70, 110, 48), (30, 30, 40), (200, 40, 50))
ROW_BONUS = (-3.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # per class, times -1 (top row) .. +1 (bottom row)
ROW_STEPS = 16  # the row position is rounded to 1/16, so the bonus is exact
BLUR = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float64) / 16.0


def probe_spec(size: Tuple[int, int]) -> PreprocessSpec:
    """The probe's preprocessing at `size` (width, height)."""
    return PreprocessSpec(size, MEAN, STD, "rgb", SCALE)


def _prototypes() -> np.ndarray:
    """Prototype colours in the model's input space (C x 3), exact dyadic values."""
    return (np.array(PROTOTYPES_RGB, np.float64) * SCALE - np.array(MEAN)) / np.array(STD)


def _row_bonus(height: int) -> np.ndarray:
    """C x H x 1: each class's bonus at each row."""
    rows = np.arange(height, dtype=np.float64)
    position = np.round(ROW_STEPS * ((2 * rows + 1) / height - 1)) / ROW_STEPS  # -1 .. 1
    return np.array(ROW_BONUS)[:, None, None] * position[None, :, None]


def expected_tensors(frame_bgr: np.ndarray, size: Tuple[int, int]) -> Dict[str, np.ndarray]:
    """Every tensor of the probe for a BGR uint8 frame, computed in plain numpy (float64): "input" (H x W x 3:
    resize as every edgeseg runtime does, RGB, scale, mean/std), "blurred", "scores" and "logits"
    (C x H x W; logits = scores + row bonus)."""
    width, height = size
    if frame_bgr.shape[:2] != (height, width):
        frame_bgr = cv2.resize(frame_bgr, (width, height), interpolation=cv2.INTER_LINEAR)
    x = (frame_bgr[:, :, ::-1].astype(np.float64) * SCALE - np.array(MEAN)) / np.array(STD)
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    blurred = sum(BLUR[dy, dx] * padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3))
    prototypes = _prototypes()
    scores = 2.0 * np.einsum("hwk,ck->chw", blurred, prototypes) - (prototypes ** 2).sum(1)[:, None, None]
    return {"input": x, "blurred": blurred, "scores": scores, "logits": scores + _row_bonus(height)}


def expected_logits(frame_bgr: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """The probe's logits (C x H x W, float64) for a BGR uint8 frame."""
    return expected_tensors(frame_bgr, size)["logits"]


def expected_class_map(frame_bgr: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """The class map (H x W, uint8) a correct chain gives for this frame; ties go to the lower class,
    as numpy's argmax and ONNX's ArgMax both do."""
    return expected_logits(frame_bgr, size).argmax(axis=0).astype(np.uint8)


def _graph(size: Tuple[int, int], output_kind: str):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    width, height = size
    blur = np.zeros((3, 3, 3, 3), np.float32)
    for channel in range(3):
        blur[channel, channel] = BLUR
    prototypes = _prototypes()
    weights = [
        numpy_helper.from_array(blur, "blur.weight"),
        numpy_helper.from_array((2.0 * prototypes).astype(np.float32)[:, :, None, None], "scores.weight"),
        numpy_helper.from_array(-(prototypes ** 2).sum(1).astype(np.float32), "scores.bias"),
        numpy_helper.from_array(_row_bonus(height)[None].astype(np.float32), "row_bonus"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "blur.weight"], ["blurred"], name="blur", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["blurred", "scores.weight", "scores.bias"], ["scores"], name="scores",
                         kernel_shape=[1, 1]),
        helper.make_node("Add", ["scores", "row_bonus"], ["logits"], name="row_bonus_add"),
    ]
    classes = len(CLASSES)
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes, height, width])
    if output_kind == "classmap":
        nodes += [helper.make_node("ArgMax", ["logits"], ["argmax"], name="argmax", axis=1, keepdims=0),
                  helper.make_node("Cast", ["argmax"], ["classmap"], name="to_int32", to=TensorProto.INT32)]
        output = helper.make_tensor_value_info("classmap", TensorProto.INT32, [1, height, width])
    graph = helper.make_graph(nodes, MODEL_NAME, [
        helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, height, width])], [output],
        initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgeseg")
    model.ir_version = 8  # readable by the ONNX Runtime and TensorRT parsers of JetPack 5
    onnx.checker.check_model(model, full_check=True)
    return model, [n.op_type for n in nodes]


def write_probe_model(path: str, size: Tuple[int, int], output_kind: str = "logits") -> Dict[str, Any]:
    """Write the probe model for `size` (width, height) to `path` with its sidecar; returns the sidecar."""
    if output_kind not in OUTPUT_KINDS:
        raise ConfigError("output kind {!r} is not one of {}".format(output_kind, ", ".join(OUTPUT_KINDS)))
    width, height = size
    if width < 1 or height < 1:
        raise ConfigError("probe size must be positive, not {}x{}".format(width, height))
    try:
        import onnx
    except ImportError:
        raise ConfigError("writing the probe model needs the onnx package: `pip install onnx`")
    model, ops = _graph(size, output_kind)
    with new_artifact(path) as pending:
        onnx.save(model, pending.tmp)
        return pending.commit({
        "stage": "probe",
            "model": MODEL_NAME,
            "num_classes": len(CLASSES),
            "classes": list(CLASSES),
            "palette": [list(c) for c in PALETTE],
            "input_name": "input",
            "input_shape": [1, 3, height, width],
            "dynamic": False,
            "output_name": output_kind,
            "output_kind": output_kind,
            "precision": "fp32",
            "preprocess": probe_spec(size).to_dict(),
            "opset": OPSET,
            "onnx_ops": sorted(set(ops)),
            "weights": {"source": "edgeseg.probe_model (colour prototypes and row bonus)"},
            "versions": {"edgeseg": __version__, "onnx": onnx.__version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "parent": None,
        })


def write_probe_dataset(out_dir: str, count: int, size: Tuple[int, int], seed: int = 0) -> str:
    """Synthetic scenes at `size` labelled with the probe's own answer: images/NNNNN.png, labels/NNNNN.png,
    classes.txt. The probe in FP32 scores exactly 100% mIoU on it; anything less is a fault."""
    for sub in ("images", "labels"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    for i in range(count):
        image = render_scene(seed + i, size[0], size[1])[0]
        label = expected_class_map(image, size)
        for sub, array in (("images", image), ("labels", label)):
            path = os.path.join(out_dir, sub, "{:05d}.png".format(i))
            if not cv2.imwrite(path, array):
                raise OSError("could not write {}".format(path))
    with open(os.path.join(out_dir, "classes.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    return out_dir


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Write the probe model (an ONNX model whose answer is known).")
    parser.add_argument("output", help="the .onnx file to write (its sidecar goes beside it)")
    parser.add_argument("--size", default="512x256", type=parse_size, help="input WIDTHxHEIGHT (default 512x256)")
    parser.add_argument("--output-kind", default="logits", choices=OUTPUT_KINDS)
    args = parser.parse_args(argv)
    write_probe_model(args.output, args.size, args.output_kind)
    print("wrote {} ({}x{}, {})".format(args.output, args.size[0], args.size[1], args.output_kind))


if __name__ == "__main__":
    main()
