"""The calibration's records: the manifest (images with hashes, outputs in its own folder with hashes) and the
sidecars of the INT8 models, derived from their parent's."""
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import __version__
from ..artifacts import file_sha256, read_sidecar, require_file
from ..errors import ArtifactError, ConfigError
from ..preprocess import PreprocessSpec
from ..sidecar import derive, describe_bare_model
from . import trt_cache
from .onnx_model import check_model_input, import_onnx, load_model, ort_version, tensor_names


def image_records(images: Sequence[str], root: str) -> List[Dict[str, str]]:
    """The manifest's image records: each path relative to `root` (absolute when outside it) and its SHA-256."""
    records = []
    for path in images:
        relative = relative_path(path, root)
        records.append({"path": relative if not relative.startswith("..") else os.path.abspath(path),
                        "sha256": file_sha256(path)})
    return records


def relative_path(path: str, start: str) -> str:
    """`path` relative to `start`, or absolute where no relative path exists (another drive)."""
    try:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(start))
    except ValueError:  # another drive (Windows)
        return os.path.abspath(path)


def output_records(folder: str, paths: Dict[str, str]) -> Dict[str, Dict[str, str]]:
    """A manifest's outputs: each a file name in the manifest's folder, with its SHA-256."""
    return {key: {"file": os.path.relpath(path, folder), "sha256": file_sha256(path)} for key, path in paths.items()}


def read_manifest(manifest_path: str) -> Dict[str, Any]:
    """A calibration manifest with its outputs checked and resolved to paths: each must be a plain file name in
    the manifest's own folder (no folder, no `..`) whose SHA-256 is the recorded one; the TensorRT cache must
    be a TensorRT calibration cache. Returns the manifest with `outputs` as paths and `folder` added; one
    ArtifactError (or ConfigError) line otherwise."""
    require_file(manifest_path, "calibration manifest", "run `edgeseg calibrate MODEL.onnx --data DIR` first")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
        outputs = manifest["outputs"]
        valid = (manifest.get("stage") == "calibrate" and isinstance(manifest["model"], dict) and
                 all(isinstance(o, dict) and {"file", "sha256"} <= set(o) for o in outputs.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise ArtifactError("{}: not a calibration manifest of this edgeseg (run `edgeseg calibrate` again to write "
                            "one)".format(manifest_path))
    folder = os.path.dirname(os.path.abspath(manifest_path))
    resolved = {}
    for key, record in outputs.items():
        name = str(record["file"])
        if not name or os.path.isabs(name) or os.path.basename(name) != name or name in (".", ".."):
            raise ArtifactError("{}: output {!r} is not a file in the manifest's folder; edgeseg reads only those: "
                                "calibrate again".format(manifest_path, name))
        path = os.path.join(folder, name)
        require_file(path, "output of " + manifest_path, "calibrate again")
        if file_sha256(path) != record["sha256"]:
            raise ArtifactError("{}: changed since {} was written (its hash differs); calibrate again".format(
                path, os.path.basename(manifest_path)))
        resolved[key] = path
    if "tensorrt_cache" in resolved:
        trt_cache.read(resolved["tensorrt_cache"])  # proved to be a TensorRT calibration cache
    return dict(manifest, outputs=resolved, folder=folder)


def _spec_for(onnx_path: str, sidecar: Optional[Dict[str, Any]], spec: Optional[PreprocessSpec],
              dims: List[int]) -> PreprocessSpec:
    recorded = None
    if sidecar is not None and sidecar.get("preprocess"):
        try:
            recorded = PreprocessSpec.from_dict(sidecar["preprocess"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError("{}: sidecar's preprocess record is incomplete ({}); re-export the model".format(
                onnx_path, exc))
    if recorded is not None and spec is not None and spec != recorded:
        raise ConfigError("{}: its sidecar fixes the preprocessing ({}); do not pass another".format(
            onnx_path, recorded.to_dict()))
    chosen = recorded or spec
    if chosen is None:
        raise ConfigError("{}: no sidecar ({}.json) says how images are preprocessed for this model; pass "
                          "the preprocessing (size, mean, std, colour order) it was trained with".format(
                              onnx_path, os.path.basename(onnx_path)))
    height, width = dims[2], dims[3]
    if height > 0 and width > 0 and tuple(chosen.size) != (width, height):
        raise ConfigError("{}: preprocessing size {}x{} differs from the model's input {}x{}".format(
            onnx_path, chosen.size[0], chosen.size[1], width, height))
    return chosen


def int8_sidecar(model_file: str, parent: str, parent_meta: Dict[str, Any], parent_sha: str,
               record: Dict[str, Any], calibration: Dict[str, Any]) -> Dict[str, Any]:
    """The sidecar fields of an INT8 model written to `model_file`."""
    onnx = import_onnx()
    quantization = dict(record)
    quantization.update(calibration)
    saved = onnx.load(model_file, load_external_data=False)
    versions = dict(parent_meta.get("versions") or {})
    versions.update(edgeseg=__version__, onnxruntime=ort_version(), onnx=onnx.__version__)
    opset = next((o.version for o in saved.opset_import if o.domain in ("", "ai.onnx")), parent_meta.get("opset"))
    return derive(parent_meta, "calibrate", parent, parent_sha, precision="int8",
                  runtime="tensorrt" if record.get("target", "").startswith("TensorRT") else "onnxruntime",
                  quantization=quantization, onnx_ops=sorted({node.op_type for node in saved.graph.node}),
                  opset=opset, versions=versions)


def parent_sidecar(onnx_path: str, model: Any,
                   spec: Optional[PreprocessSpec]) -> Tuple[Dict[str, Any], PreprocessSpec]:
    """The sidecar the INT8 models derive from (the model's own, or a bare model's description) and the
    preprocessing calibration uses."""
    input_name, dims = check_model_input(model, onnx_path)
    sidecar = read_sidecar(onnx_path)
    chosen = _spec_for(onnx_path, sidecar, spec, dims)
    if sidecar is not None:
        meta = dict(sidecar)
    else:
        onnx = import_onnx()
        output = model.graph.output[0].type.tensor_type
        meta = describe_bare_model(onnx_path, input_name, dims, model.graph.output[0].name,
                                   [d.dim_value if d.HasField("dim_value") else -1 for d in output.shape.dim],
                                   output.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16), chosen)
    meta["input_name"] = input_name
    meta["preprocess"] = chosen.to_dict()
    return meta, chosen


def model_stem(onnx_path: str) -> str:
    """The model file's name without `.onnx`: the stem of every file calibration writes for it."""
    name = os.path.basename(onnx_path)
    return name[:-len(".onnx")] if name.lower().endswith(".onnx") else os.path.splitext(name)[0]


def check_cache_matches(cache_path: str, onnx_path: str) -> Dict[str, float]:
    """The cache's scales, or ArtifactError when its tensors are not this model's (a calibration
    cache from another model). Names TensorRT makes up itself ("(Unnamed Layer* 12) ...") are allowed."""
    scales = trt_cache.read(cache_path).scales
    tensors = tensor_names(load_model(onnx_path))
    foreign = [name for name in scales if name not in tensors and not trt_cache.INTERNAL_NAME.match(name)]
    known = [name for name in scales if name in tensors]
    if foreign or not known:
        examples = ", ".join(repr(n) for n in foreign[:3]) or "no tensor names at all"
        raise ArtifactError("{}: a calibration cache from another model (refused): {} of its {} tensors are not "
                            "in {} ({}); calibrate this model with `edgeseg calibrate`".format(
                                cache_path, len(foreign), len(scales), os.path.basename(onnx_path), examples))
    return scales
