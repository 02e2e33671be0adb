"""LR-ASPP on MobileNetV3-Large (torchvision): the lightest baseline.

3.2 M parameters with 21 classes (torchvision's figure: 3,221,538).
"""
from typing import Optional

from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights
from torchvision.models.segmentation import LRASPP_MobileNet_V3_Large_Weights, lraspp_mobilenet_v3_large

from .torchvision_common import IMAGENET_PREPROCESS, LogitsOnly, downloading, resolve_weights
from .weights import load_into

PREPROCESS = IMAGENET_PREPROCESS


def build(num_classes: int, weights: Optional[str] = None) -> nn.Module:
    """LR-ASPP-MobileNetV3-Large; `weights` as for deeplabv3_mobilenetv3 (`COCO_WITH_VOC_LABELS_V1`
    replaces both classifier layers when `num_classes` != 21)."""
    enum = resolve_weights(weights, LRASPP_MobileNet_V3_Large_Weights, MobileNet_V3_Large_Weights)
    with downloading(weights):
        if isinstance(enum, LRASPP_MobileNet_V3_Large_Weights):
            model = lraspp_mobilenet_v3_large(weights=enum)
            head = model.classifier
            if num_classes != head.low_classifier.out_channels:
                head.low_classifier = nn.Conv2d(head.low_classifier.in_channels, num_classes, 1)
                head.high_classifier = nn.Conv2d(head.high_classifier.in_channels, num_classes, 1)
        else:
            model = lraspp_mobilenet_v3_large(weights=None, weights_backbone=enum, num_classes=num_classes)
    wrapped = LogitsOnly(model)
    if weights and enum is None:
        load_into(wrapped, weights, inner="model.")
    return wrapped
