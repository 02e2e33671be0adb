"""`edgeseg calibrate`: INT8 calibration with ONNX Runtime, once, for every INT8 consumer.

One pass over a calibration subset gives per-tensor ranges; from those same ranges come

- `<stem>_int8_qdq_trt.onnx`   TensorRT's explicit-INT8 model: int8 symmetric activations and per-channel symmetric
                           int8 weights (float weights -> QuantizeLinear -> DequantizeLinear, as NVIDIA's QAT
                           toolkit writes them), Q/DQ placed as TensorRT fuses (`placement`), biases left in float,
                           zero points 0, opset unchanged (17), standard ONNX domain only;
- `<stem>_int8_qdq_ort.onnx`   ONNX Runtime's CPU model: QDQ with uint8 activations and per-channel int8
                           weights (fuses to QLinearConv: faster than FP32 on x86 with VNNI);
- `<stem>_<method>.cache`  TensorRT's calibration cache (text, `trt_cache`; implicit INT8, the DLA path) with
                           scale = max(|min|, |max|) / 127 per tensor;

plus `ranges.json` (re-quantize with other excluded nodes without calibrating again) and a `manifest.json` that
records the model, the images and their hashes, seed, method and outputs, in `calibration/<stem>_<method>_n<N>_<id>/`.

Device-side: numpy, OpenCV, onnx and onnxruntime only (imported where needed). Python 3.8.
"""
import contextlib
import hashlib
import json
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import cv2
import numpy as np

from .. import __version__
from ..artifacts import file_sha256, new_artifact, read_sidecar, require_file, write_json_atomic
from ..errors import ArtifactError, ConfigError
from ..preprocess import PreprocessSpec
from . import method_choice, trt_cache
from .manifest import (
    check_cache_matches,
    image_records,
    int8_sidecar,
    model_stem,
    output_records,
    parent_sidecar,
    read_manifest,
    relative_path,
)
from .onnx_model import OP_TYPES, Log, load_model, ort_version
from .qdq import WEIGHT_SCALES, quantize_model
from .ranges import AUTO_METHODS, calibration_method, compute_ranges_by_method, load_ranges, save_ranges
from .reader import ImageCalibrationReader
from .subset import select
from .trt_cache import Ranges


def quantize_from_ranges(onnx_path: str, ranges: Ranges, out_trt: Optional[str], out_ort: Optional[str],
                         nodes_to_exclude: Sequence[str] = (), method: str = "minmax",
                         spec: Optional[PreprocessSpec] = None, calibration: Optional[Dict[str, Any]] = None,
                         log: Log = print, per_channel: bool = True) -> Dict[str, Dict[str, Any]]:
    """Both INT8 models (either may be None to skip it) from precomputed ranges, each committed with its
    sidecar as a pair, after both are written; no calibration. `calibration` adds fields to each sidecar's
    `quantization` record (image count, manifest); `per_channel` False quantizes weights per tensor.
    Returns the sidecars by target."""
    model = load_model(onnx_path)
    parent_meta, _ = parent_sidecar(onnx_path, model, spec)
    parent_sha = file_sha256(onnx_path)
    jobs = [(target, path) for target, path in (("tensorrt", out_trt), ("onnxruntime", out_ort)) if path]
    with contextlib.ExitStack() as stack:  # both models are written before either is committed
        pending = {target: stack.enter_context(new_artifact(path)) for target, path in jobs}
        metas = {}
        for target, path in jobs:
            started = time.perf_counter()
            record = quantize_model(onnx_path, ranges, pending[target].tmp, target, nodes_to_exclude, method=method,
                                    per_channel=per_channel)
            if record.get("float_for_int32_bias_overflow"):
                log("warning: {} kept float in the {} model: their int32 bias would overflow with this "
                    "onnxruntime {} (input range near 0); newer versions widen the weight scale instead".format(
                        ", ".join(record["float_for_int32_bias_overflow"]), target, ort_version()))
            log("quantized for {}: {} ({} nodes int8{}{}, {:.1f} MB) in {:.1f} s".format(
                "TensorRT" if target == "tensorrt" else "ONNX Runtime CPU", os.path.basename(path),
                record["quantized_nodes"], ", {} kept float".format(len(nodes_to_exclude)) if nodes_to_exclude else "",
                ", {} float (reading the image)".format(", ".join(record["float_image_layers"]))
                if record.get("float_image_layers") else "",
                os.path.getsize(pending[target].tmp) / 1e6, time.perf_counter() - started))
            metas[target] = int8_sidecar(pending[target].tmp, onnx_path, parent_meta, parent_sha, record,
                                       dict(calibration or {}))
        return {target: pending[target].commit(metas[target]) for target, _ in jobs}


def _fusion_lint(trt_model: str, log: Log) -> Dict[str, Any]:
    """The fusion lint of the TensorRT Q/DQ model (`lint`), printed; its manifest record."""
    from . import lint

    report = lint.lint(load_model(trt_model))
    log(lint.summary_line(report))
    return lint.record(report)


def calibrate(onnx_path: str, data: str, num: int = 500, seed: int = 0, method: str = "auto",
              out_dir: str = "calibration", nodes_to_exclude: Sequence[str] = (),
              log: Log = print, spec: Optional[PreprocessSpec] = None, providers: Optional[Sequence[str]] = None,
              trt_version: str = trt_cache.DEFAULT_VERSION,
              calibrator_options: Optional[Dict[str, Any]] = None, weight_scales: str = "channel") -> Dict[str, Any]:
    """Calibrate once, write every INT8 artifact, return the manifest.

    Picks `num` images from `data` (see `select_subset`), computes the ranges of every float tensor
    by `method` (mse, entropy, percentile, minmax; auto: mse and entropy in one pass, keeping those whose TensorRT
    model agrees better with FP32 on the calibration images, see `method_choice`) with the model's own
    preprocessing, and writes, all in this
    calibration's own folder `<out_dir>/<stem>_<method>_n<N>_<id>/` (`id`: a hash of the model, images, seed,
    method and options, so two different calibrations never share a file): `<stem>_int8_qdq_trt.onnx`
    (TensorRT) and `<stem>_int8_qdq_ort.onnx` (ONNX Runtime CPU) with sidecars, `<stem>_<method>.cache`
    (TensorRT), `ranges.json` and `manifest.json`, which names each output (a file in that folder) with its
    SHA-256. Nodes in `nodes_to_exclude` stay float; `weight_scales` "tensor" gives each weight tensor one
    scale instead of one per output channel. Nothing is written until the ranges exist, and a failure
    removes what this call wrote."""
    method = method.lower()
    if method != "auto":
        calibration_method(method)  # validates the name
    if weight_scales not in WEIGHT_SCALES:
        raise ConfigError("weight scales {!r}: use {}".format(weight_scales, " or ".join(WEIGHT_SCALES)))
    model = load_model(onnx_path)
    parent_meta, chosen = parent_sidecar(onnx_path, model, spec)
    input_name = parent_meta["input_name"]
    known = {node.name for node in model.graph.node}
    missing = [n for n in nodes_to_exclude if n not in known]
    if missing:
        raise ConfigError("{}: no node named {} to exclude from quantization".format(
            onnx_path, ", ".join(repr(n) for n in missing[:5])))
    del model

    chosen_items, items, root = select(data, num, seed, log)
    images = [item.path for item in chosen_items]
    groups = len({item.group for item in chosen_items})
    covered: Set[int] = set()
    for item in chosen_items:
        covered |= item.classes() if item._label is not None else set()
    log("calibration subset: {} of {} image(s) from {} ({} group(s){})".format(
        len(images), len(items), data, groups,
        ", {} class(es) present".format(len(covered)) if covered else ""))

    stem = model_stem(onnx_path)
    model_sha = file_sha256(onnx_path)
    records = image_records(images, root)
    identity = json.dumps([model_sha, [r["sha256"] for r in records], seed, method, list(nodes_to_exclude),
                           trt_version, chosen.to_dict(), calibrator_options or {}]
                          + ([weight_scales] if weight_scales != "channel" else []), sort_keys=True)
    folder = os.path.join(out_dir, "{}_{}_n{}_{}".format(stem, method, len(images),
                                                        hashlib.sha256(identity.encode()).hexdigest()[:8]))
    out_trt = os.path.join(folder, stem + "_int8_qdq_trt.onnx")
    out_ort = os.path.join(folder, stem + "_int8_qdq_ort.onnx")
    ranges_path = os.path.join(folder, "ranges.json")
    manifest_path = os.path.join(folder, "manifest.json")

    reader = ImageCalibrationReader(images, chosen, input_name)
    by_method = compute_ranges_by_method(onnx_path, reader, AUTO_METHODS if method == "auto" else (method,),
                                         providers=providers, calibrator_options=calibrator_options, log=log)
    used: str = method
    choice: Dict[str, Any] = {}
    if method == "auto":
        used, choice = _choose_method(onnx_path, by_method, images, chosen, input_name, nodes_to_exclude,
                                      weight_scales == "channel", log)
    ranges = by_method[used]
    cache_path = os.path.join(folder, "{}_{}.cache".format(stem, used))

    created = [folder] if not os.path.isdir(folder) else []
    existed = {p for p in (out_trt, out_trt + ".json", out_ort, out_ort + ".json", cache_path, ranges_path,
                            manifest_path) if os.path.exists(p)}
    written: List[str] = []
    try:
        calibration = {"calibration_images": len(images), "calibration_seed": seed, "manifest": "manifest.json"}
        quantize_from_ranges(onnx_path, ranges, out_trt, out_ort, nodes_to_exclude, used, chosen,
                             calibration, log, per_channel=weight_scales == "channel")
        written.extend([out_trt, out_trt + ".json", out_ort, out_ort + ".json"])
        lint = _fusion_lint(out_trt, log)
        save_ranges(ranges_path, ranges, used, model_sha, {"model": os.path.basename(onnx_path)})
        written.append(ranges_path)
        trt_cache.write(cache_path, trt_cache.scales_from_ranges(ranges), trt_version)
        written.append(cache_path)
        check_cache_matches(cache_path, onnx_path)
        log("TensorRT calibration cache: {} ({} tensors, {}; `edgeseg build` re-tags it for the TensorRT that "
            "builds)".format(cache_path, len(ranges), trt_cache.header_for(trt_version)))
        manifest = {
            "stage": "calibrate",
            "model": {"file": os.path.basename(onnx_path), "path": relative_path(onnx_path, folder),
                      "sha256": model_sha},
            "data": data,
            "data_root": os.path.abspath(root),
            "images": records,
            "seed": seed,
            "num": num,
            "count": len(images),
            "method": used,
            "method_choice": choice,
            "weight_scales": weight_scales,
            "op_types": list(OP_TYPES),
            "nodes_to_exclude": list(nodes_to_exclude),
            "preprocess": chosen.to_dict(),
            "input_name": input_name,
            "ranges": {"file": "ranges.json", "tensors": len(ranges), "sha256": file_sha256(ranges_path)},
            "outputs": output_records(folder, {"tensorrt_qdq": out_trt, "onnxruntime_int8": out_ort,
                                                "tensorrt_cache": cache_path}),
            "trt_cache_header": trt_cache.header_for(trt_version),
            "fusion_lint": lint,
            "versions": {"edgeseg": __version__, "onnxruntime": ort_version(), "numpy": np.__version__,
                         "opencv": cv2.__version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json_atomic(manifest_path, manifest)
        written.append(manifest_path)
    except BaseException:
        for path in written:  # what this call added; a file of the same calibration before stays
            if os.path.exists(path) and path not in existed:
                os.remove(path)
        for made in created:
            if os.path.isdir(made) and not os.listdir(made):
                os.rmdir(made)
        raise
    log("manifest: {}".format(manifest_path))
    return dict(manifest, path=manifest_path)


def _choose_method(onnx_path: str, by_method: Dict[str, Ranges], images: Sequence[str], spec: PreprocessSpec,
                   input_name: str, nodes_to_exclude: Sequence[str], per_channel: bool,
                   log: Log) -> Tuple[str, Dict[str, Any]]:
    """`--method auto`: the method whose TensorRT model agrees best with FP32 on the first calibration images,
    and what the manifest records of the choice."""
    shown = images[:method_choice.FIDELITY_IMAGES]
    batches = list(ImageCalibrationReader(shown, spec, input_name))

    def trial(ranges: Ranges, path: str) -> None:
        quantize_model(onnx_path, ranges, path, "tensorrt", nodes_to_exclude, per_channel=per_channel)

    used, scores = method_choice.choose(onnx_path, by_method, batches, trial)
    log("method auto: {} of pixels differ from FP32 on {} calibration image(s) with the TensorRT model -> {}".format(
        ", ".join("{} {:.2%}".format(m, scores[m]) for m in by_method), len(shown), used))
    return used, {"requested": "auto", "images": len(shown), "disagreement": scores, "model": "tensorrt_qdq"}


def requantize(manifest_path: str, nodes_to_exclude: Sequence[str] = (), suffix: str = "",
               log: Log = print) -> Dict[str, Dict[str, Any]]:
    """Both INT8 models again from a manifest's saved ranges with other nodes kept float (for an accuracy
    guard): no calibration, into the manifest's folder. Without `suffix` they replace the manifest's models and
    the manifest is rewritten to name them; with one, they are new files `<stem>_int8<suffix>...` beside
    them. Returns the new sidecars by target."""
    manifest = read_manifest(manifest_path)
    folder = manifest["folder"]
    try:
        model_path = os.path.normpath(os.path.join(folder, manifest["model"]["path"]))
        ranges_path = os.path.join(folder, manifest["ranges"]["file"])
        method = manifest["method"]
    except (KeyError, TypeError) as exc:
        raise ArtifactError("{}: not a calibration manifest ({})".format(manifest_path, exc))
    require_file(model_path, "model named by the manifest", "calibrate again")
    ranges, _ = load_ranges(ranges_path, model_path)
    stem = model_stem(model_path)
    spec = PreprocessSpec.from_dict(manifest["preprocess"])
    calibration = {"calibration_images": manifest.get("count"), "calibration_seed": manifest.get("seed"),
                   "manifest": os.path.basename(manifest_path)}
    out_trt = os.path.join(folder, "{}_int8{}_qdq_trt.onnx".format(stem, suffix))
    out_ort = os.path.join(folder, "{}_int8{}_qdq_ort.onnx".format(stem, suffix))
    sidecars = quantize_from_ranges(model_path, ranges, out_trt, out_ort, nodes_to_exclude, method,
                                    spec if read_sidecar(model_path) is None else None, calibration, log,
                                    per_channel=manifest.get("weight_scales", "channel") == "channel")
    if not suffix:
        with open(manifest_path) as f:
            record = json.load(f)
        record["outputs"].update(output_records(folder, {"tensorrt_qdq": out_trt, "onnxruntime_int8": out_ort}))
        record["nodes_to_exclude"] = list(nodes_to_exclude)
        record["fusion_lint"] = _fusion_lint(out_trt, log)
        record.pop("accuracy", None)  # measured on the models just replaced (the guard records it anew)
        write_json_atomic(manifest_path, record)
    return sidecars
