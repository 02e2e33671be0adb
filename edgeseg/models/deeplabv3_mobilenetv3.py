"""DeepLabV3 on MobileNetV3-Large (torchvision), any class count, aux head off."""
import os
from typing import Optional

import torch
from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights
from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights, deeplabv3_mobilenet_v3_large

from ..errors import ArtifactError
from .weights import load_into

PREPROCESS = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "color_order": "rgb", "scale": 1 / 255.0}


class LogitsOnly(nn.Module):
    """torchvision's segmentation models return a dict; export and training want the 'out' tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def _enum_weights(name: str):
    """Resolve a torchvision weights name (full segmentation weights or ImageNet backbone weights)."""
    short = name.split(".")[-1]
    for enum in (DeepLabV3_MobileNet_V3_Large_Weights, MobileNet_V3_Large_Weights):
        if name.startswith(enum.__name__ + ".") or "." not in name:
            if short in enum.__members__:
                return enum[short]
    return None


def build(num_classes: int, weights: Optional[str] = None) -> nn.Module:
    """DeepLabV3-MobileNetV3-Large with `num_classes` outputs.

    `weights`: None (random init), a local state_dict path (of this model, with `num_classes`), or a
    torchvision weights name: `COCO_WITH_VOC_LABELS_V1` (full model; the last classifier layer is
    replaced when `num_classes` != 21) or `IMAGENET1K_V1`/`IMAGENET1K_V2` (backbone only).
    """
    enum = _enum_weights(weights) if weights and not os.path.exists(weights) else None
    if weights and not os.path.exists(weights) and enum is None:
        raise ArtifactError("{}: not a file nor a torchvision weights name (e.g. COCO_WITH_VOC_LABELS_V1, "
                            "IMAGENET1K_V1)".format(weights))
    try:
        if isinstance(enum, DeepLabV3_MobileNet_V3_Large_Weights):
            model = deeplabv3_mobilenet_v3_large(weights=enum, aux_loss=False)
            if num_classes != model.classifier[4].out_channels:
                model.classifier[4] = nn.Conv2d(model.classifier[4].in_channels, num_classes, 1)
        else:
            model = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=enum, num_classes=num_classes,
                                                 aux_loss=False)
    except (OSError, RuntimeError) as exc:  # download failures: no internet, proxy, disk
        raise ArtifactError("{}: cannot download torchvision weights ({}); fetch them on a machine with "
                            "internet and pass the .pth path".format(weights, str(exc).splitlines()[0][:160]))
    model.aux_classifier = None
    wrapped = LogitsOnly(model)
    if weights and enum is None:
        load_into(wrapped.model, weights, skip_prefixes=("aux_classifier.",))
    return wrapped
