"""Model registry (workstation side). Names are listed without importing torch."""
import importlib
from typing import Any, Dict, List, Optional

from ..errors import ConfigError

# name -> module under edgeseg.models that defines build(num_classes, weights) and PREPROCESS
_REGISTRY = {
    "deeplabv3_mobilenetv3": "deeplabv3_mobilenetv3",
}


def available_models() -> List[str]:
    return sorted(_REGISTRY)


def _module(name: str):
    if name not in _REGISTRY:
        raise ConfigError("unknown model {!r}; available: {}".format(name, ", ".join(available_models())))
    return importlib.import_module("{}.{}".format(__name__, _REGISTRY[name]))


def build_model(name: str, num_classes: int, weights: Optional[str] = None):
    """An eval-mode torch module returning one logits tensor (N x num_classes x H x W)."""
    return _module(name).build(num_classes, weights).eval()


def model_preprocess(name: str) -> Dict[str, Any]:
    """The preprocessing the model's weights expect: mean, std, color_order, scale."""
    return dict(_module(name).PREPROCESS)
