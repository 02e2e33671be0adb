"""DeepLabV3 on MobileNetV3-Large (torchvision), any class count, aux head off.

11,025,477 parameters with 21 classes and the aux head off (torchvision lists 11,029,328).
"""
from typing import Optional

from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights
from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights, deeplabv3_mobilenet_v3_large

from .torchvision_common import IMAGENET_PREPROCESS, LogitsOnly, downloading, resolve_weights
from .weights import load_into

PREPROCESS = IMAGENET_PREPROCESS


def build(num_classes: int, weights: Optional[str] = None) -> nn.Module:
    """DeepLabV3-MobileNetV3-Large with `num_classes` outputs.

    `weights`: None (random init), a local state_dict path (of this model, with `num_classes`), or a
    torchvision weights name: `COCO_WITH_VOC_LABELS_V1` (full model; the last classifier layer is
    replaced when `num_classes` != 21) or `IMAGENET1K_V1`/`IMAGENET1K_V2` (backbone only).
    """
    enum = resolve_weights(weights, DeepLabV3_MobileNet_V3_Large_Weights, MobileNet_V3_Large_Weights)
    with downloading(weights):
        if isinstance(enum, DeepLabV3_MobileNet_V3_Large_Weights):
            model = deeplabv3_mobilenet_v3_large(weights=enum, aux_loss=False)
            if num_classes != model.classifier[4].out_channels:
                model.classifier[4] = nn.Conv2d(model.classifier[4].in_channels, num_classes, 1)
        else:
            model = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=enum, num_classes=num_classes,
                                                 aux_loss=False)
    model.aux_classifier = None
    wrapped = LogitsOnly(model)
    if weights and enum is None:
        load_into(wrapped, weights, skip_prefixes=("aux_classifier.", "model.aux_classifier."), inner="model.")
    return wrapped
