"""Model registry (workstation side). Names are listed without importing torch.

Every builder is `build(num_classes: int, weights: Optional[str]) -> nn.Module`, and its module
defines `PREPROCESS` (mean, std, color_order, scale: what the weights expect). A builder whose
entry says `width=True` also takes a channel `width` factor (`edgeseg train/export --width`). The module it
returns follows one contract:
- eval mode: `forward(x)` returns ONE logits tensor N x num_classes x h x w, at input resolution or
  at an integer stride of it (export resizes a strided output to the input size when it bakes a
  class map; training and eval upsample it to the label size);
- train mode: it may return a dict {"out": logits, "<aux name>": logits, ...} and then has an
  attribute `aux_weights: Dict[str, float]` giving each auxiliary head's loss weight.
"""
import importlib
from typing import Any, Dict, List, NamedTuple, Optional

from ..errors import ConfigError


class ModelEntry(NamedTuple):
    module: str
    builder: str
    exporter: str = "torchscript"  # "dynamo" only where the TorchScript exporter cannot (opset 18)
    dynamic: bool = True  # False: pooling windows are fixed at export, so one ONNX file per input size
    width: bool = False  # the builder takes a channel `width` factor
    size_multiple: int = 1  # --dynamic needs sizes that are multiples of this (others are padded as fixed at export)


_REGISTRY = {
    "deeplabv3_mobilenetv3": ModelEntry("deeplabv3_mobilenetv3", "build"),
    "deeplabv3plus_mobilenetv3": ModelEntry("deeplabv3plus_mobilenetv3", "build"),
    "lraspp_mobilenetv3": ModelEntry("lraspp_mobilenetv3", "build"),
    "bisenetv2": ModelEntry("bisenetv2", "build"),
    "enet": ModelEntry("enet", "build_enet", exporter="dynamo"),
    "enet_deconv": ModelEntry("enet", "build_enet_deconv"),
    "icnet_resnet18": ModelEntry("icnet", "build_icnet_resnet18", dynamic=False),
    "icnet_mobilenetv3": ModelEntry("icnet", "build_icnet_mobilenetv3", dynamic=False),
    "fcn_resnet18": ModelEntry("fcn", "build_fcn_resnet18"),
    "fcn_resnet50": ModelEntry("fcn", "build_fcn_resnet50"),
    "fcn8s_resnet18": ModelEntry("fcn", "build_fcn8s_resnet18"),
    "fcn8s_resnet50": ModelEntry("fcn", "build_fcn8s_resnet50"),
    "unet": ModelEntry("unet", "build", width=True, size_multiple=16),
}


def available_models() -> List[str]:
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        raise ConfigError("unknown model {!r}; available: {}".format(name, ", ".join(available_models())))
    return _REGISTRY[name]


def _module(name: str):
    return importlib.import_module("{}.{}".format(__name__, model_entry(name).module))


def build_model(name: str, num_classes: int, weights: Optional[str] = None, width: Optional[float] = None):
    """An eval-mode torch module (see the contract above); `.train()` it for training. `width`: the channel
    width factor, for models that take one (None: the model's default)."""
    entry = model_entry(name)
    builder = getattr(_module(name), entry.builder)
    if width is None:
        return builder(num_classes, weights).eval()
    if not entry.width:
        raise ConfigError("{} takes no --width (models that do: {})".format(
            name, ", ".join(n for n in available_models() if _REGISTRY[n].width)))
    return builder(num_classes, weights, width=width).eval()


def model_preprocess(name: str) -> Dict[str, Any]:
    """The preprocessing the model's weights expect: mean, std, color_order, scale."""
    return dict(_module(name).PREPROCESS)
