"""What an artifact's sidecar says: the fields a derived artifact (an INT8 model, a built engine) takes from its
parent's sidecar, and the description of a bare model (one exported elsewhere, with no sidecar)."""
import os
import time
from typing import Any, Dict, Optional, Sequence

from .errors import ConfigError
from .palettes import palette_for
from .preprocess import PreprocessSpec

# what belongs to one file and one stage: a derived artifact never inherits it from its parent
NOT_INHERITED = ("sidecar_version", "file", "sha256", "size_bytes", "parity", "created", "stage", "precision",
                 "onnx_ops", "parent", "quantization", "runtime", "edgeseg_version")


def derive(parent: Dict[str, Any], stage: str, parent_path: str, parent_sha256: str,
           **fields: Any) -> Dict[str, Any]:
    """The sidecar fields of an artifact made by `stage` from `parent_path` (whose sidecar is `parent`): the
    parent's fields but NOT_INHERITED, then `fields`, with `stage`, `created` and `parent` set."""
    meta = {key: value for key, value in parent.items() if key not in NOT_INHERITED}
    meta.update(fields)
    meta.update(stage=stage, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                parent={"file": os.path.basename(parent_path), "sha256": parent_sha256})
    return meta


def describe_bare_model(path: str, input_name: str, input_shape: Sequence[int], output_name: str,
                        output_shape: Sequence[int], integer_output: bool, spec: PreprocessSpec,
                        num_classes: Optional[int] = None, classes: Optional[str] = None) -> Dict[str, Any]:
    """What a sidecar would say of the bare model `path`: preprocessing `spec`, output kind from the output's
    type (integers: a class map), classes from the score channels or `num_classes` (names from `classes`, a
    palette name or names file). No class fields when neither tells the count; ConfigError when they disagree."""
    channels = output_shape[1] if not integer_output and len(output_shape) == 4 and output_shape[1] > 0 else None
    if num_classes is not None and channels is not None and num_classes != channels:
        raise ConfigError("{}: --num-classes {} but the model outputs {} classes".format(path, num_classes, channels))
    record: Dict[str, Any] = {"model": None, "input_name": input_name,
              "input_shape": [d if d > 0 else 1 for d in input_shape[:2]] + [spec.size[1], spec.size[0]],
              "output_name": output_name, "output_kind": "classmap" if integer_output else "logits",
              "preprocess": spec.to_dict()}
    count = channels or num_classes
    if count:
        palette = palette_for(count, classes)
        record.update(num_classes=count, classes=list(palette.names), palette=[list(c) for c in palette.colors])
    return record
