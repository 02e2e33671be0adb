"""Model builders (torch). The names and export facts of each live in `edgeseg.model_registry`.

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
from typing import Any, Dict, Optional

from ...errors import ConfigError
from ...model_registry import REGISTRY, available_models, model_entry


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
            name, ", ".join(n for n in available_models() if REGISTRY[n].width)))
    return builder(num_classes, weights, width=width).eval()


def model_preprocess(name: str) -> Dict[str, Any]:
    """The preprocessing the model's weights expect: mean, std, color_order, scale."""
    return dict(_module(name).PREPROCESS)
