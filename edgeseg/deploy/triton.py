"""`edgeseg export-triton`: a Triton Inference Server model repository entry for an artifact.

    REPO/NAME/config.pbtxt          platform, inputs and outputs (names, types, dims) from the artifact
    REPO/NAME/VERSION/model.plan    the TensorRT engine (tensorrt_plan), or model.onnx (onnxruntime_onnx)
    REPO/NAME/labels.txt            class names, one per line
    REPO/NAME/edgeseg.json          the artifact's sidecar: the preprocessing a client must apply

A model with a dynamic batch dimension gets `max_batch_size` and dynamic batching, so one engine serves
many streams; a fixed-batch model gets `max_batch_size: 0` and its full shape.
"""
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..artifacts import copy_file_atomic, write_bytes_atomic
from ..errors import ConfigError
from ..runtime.base import TensorSpec
from .facts import describe

TRITON_TYPES = {
    "float32": "TYPE_FP32", "float16": "TYPE_FP16", "float64": "TYPE_FP64", "int64": "TYPE_INT64",
    "int32": "TYPE_INT32", "int16": "TYPE_INT16", "int8": "TYPE_INT8", "uint8": "TYPE_UINT8", "bool": "TYPE_BOOL",
}


class Enum(str):
    """A protobuf enum value: written without quotes."""


def _value(value: Any) -> str:
    if isinstance(value, str) and not isinstance(value, Enum):
        return json.dumps(value)
    return str(value)


def to_pbtxt(message: Sequence[Tuple[str, Any]], indent: int = 0) -> str:
    """Protobuf text format of a message given as (field, value) pairs; a value is a scalar, a list of
    scalars (repeated field), a list of messages (repeated message) or a message."""
    pad, lines = "  " * indent, []
    for field, value in message:
        if isinstance(value, list) and value and isinstance(value[0], list):
            items = ",\n".join("{}  {{\n{}{}  }}".format(pad, to_pbtxt(item, indent + 2), pad) for item in value)
            lines.append("{}{} [\n{}\n{}]\n".format(pad, field, items, pad))
        elif isinstance(value, list) and (not value or isinstance(value[0], tuple)):
            lines.append("{}{} {{\n{}{}}}\n".format(pad, field, to_pbtxt(value, indent + 1), pad))
        elif isinstance(value, list):
            lines.append("{}{}: [ {} ]\n".format(pad, field, ", ".join(_value(v) for v in value)))
        else:
            lines.append("{}{}: {}\n".format(pad, field, _value(value)))
    return "".join(lines)


def _tensor(spec: TensorSpec, batched: bool) -> List[Tuple[str, Any]]:
    if spec.dtype.name not in TRITON_TYPES:
        raise ConfigError("tensor {} has type {}, which Triton does not take".format(spec.name, spec.dtype.name))
    dims = list(spec.shape[1:] if batched else spec.shape)
    return [("name", spec.name), ("data_type", Enum(TRITON_TYPES[spec.dtype.name])), ("dims", dims)]


def model_config(name: str, platform: str, inputs: List[TensorSpec], outputs: List[TensorSpec],
                 max_batch_size: int, instances: int, gpu: bool) -> List[Tuple[str, Any]]:
    """config.pbtxt as (field, value) pairs: batching where the model's batch dimension is dynamic."""
    batched = bool(inputs[0].shape) and inputs[0].shape[0] < 0
    config: List[Tuple[str, Any]] = [
        ("name", name),
        ("platform", platform),
        ("max_batch_size", max_batch_size if batched else 0),
        ("input", [_tensor(t, batched) for t in inputs]),
        ("output", [_tensor(t, batched) for t in outputs]),
        ("instance_group", [[("count", instances), ("kind", Enum("KIND_GPU" if gpu else "KIND_CPU"))]]),
    ]
    if batched:
        config.append(("dynamic_batching", []))
    return config


def _next_version(folder: str) -> int:
    taken = [int(n) for n in os.listdir(folder) if n.isdigit()] if os.path.isdir(folder) else []
    return max(taken, default=0) + 1


def export_triton(path: str, repo: str, name: Optional[str] = None, version: Optional[int] = None,
                  max_batch_size: int = 8, instances: int = 1, cpu: bool = False) -> Dict[str, Any]:
    """Add `path` to the Triton model repository `repo` as NAME/VERSION (default: the next free version).

    Engines become tensorrt_plan on the GPU; ONNX models onnxruntime_onnx (GPU, or CPU with `cpu`).
    Returns {"model_dir", "config", "model", "version", "platform", "config_text"}.
    """
    facts = describe(path)
    if facts.ort_optimized:
        origin = (facts.sidecar.get("parent") or {}).get("built_from", "the ONNX model it was built from")
        raise ConfigError("{}: graph-optimised for the onnxruntime that wrote it; pass {} and let Triton's "
                          "onnxruntime optimise it".format(path, origin))
    if facts.engine and cpu:
        raise ConfigError("{}: a TensorRT engine runs on the GPU; drop --cpu, or pass the ONNX model".format(path))
    if max_batch_size < 1 or instances < 1:
        raise ConfigError("--max-batch-size and --instances must be at least 1")
    name = name or os.path.splitext(os.path.basename(path))[0]
    if not name or "/" in name or name.startswith("."):
        raise ConfigError("model name {!r} is not a folder name; pass --name NAME".format(name))
    model_dir = os.path.join(repo, name)
    version = version if version is not None else _next_version(model_dir)
    if version < 1:
        raise ConfigError("--version must be 1 or more, not {}".format(version))
    version_dir = os.path.join(model_dir, str(version))
    if os.path.exists(version_dir):
        raise ConfigError("{}: version {} exists; pass --version {} or remove it".format(
            version_dir, version, _next_version(model_dir)))
    platform, filename = ("tensorrt_plan", "model.plan") if facts.engine else ("onnxruntime_onnx", "model.onnx")
    fields = model_config(name, platform, facts.inputs, facts.outputs, max_batch_size, instances, gpu=not cpu)
    config = to_pbtxt(fields)
    config_path = os.path.join(model_dir, "config.pbtxt")
    if os.path.isfile(config_path) and not open(config_path).read().startswith(to_pbtxt(fields[:5])):
        raise ConfigError("{}: the versions there have another platform or interface (name, batch, inputs, outputs); "
                          "pass --name NEW or remove {}".format(config_path, model_dir))
    model = os.path.join(version_dir, filename)
    copy_file_atomic(path, model)
    write_bytes_atomic(os.path.join(model_dir, "labels.txt"), facts.labels_file())
    write_bytes_atomic(os.path.join(model_dir, "edgeseg.json"),
                       (json.dumps(facts.sidecar, indent=2) + "\n").encode("utf-8"))
    write_bytes_atomic(config_path, config.encode("utf-8"))
    return {"model_dir": model_dir, "config": config_path, "model": model,
            "version": version, "platform": platform, "config_text": config}
