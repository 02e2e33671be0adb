"""FCN (Long et al., "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015) on torchvision
ResNets: `fcn_resnet18` (jetson-inference's segNet network), `fcn_resnet50` (torchvision's), and the FCN-8s
skip fusion on either backbone (`fcn8s_resnet18`, `fcn8s_resnet50`).

- `fcn_resnet18` is jetson-inference's FCN-ResNet18, as dusty-nv/pytorch-segmentation builds it
  (`models/segmentation/segmentation.py`: torchvision's FCN with a ResNet-18 backbone): ResNet-18 without
  dilation (output stride 32), torchvision's FCNHead (3x3 conv to 128 channels, BN, ReLU, dropout 0.1, 1x1
  conv). That code exports the head's stride-32 logits without upsampling (32x16 at 1024x512; segNet upsamples
  on the GPU). We keep its graph: dilating layers 3-4 to stride 8, as torchvision does for ResNet-50, would take
  it from 19 to 101 GMACs at 1024x512 (torchvision's BasicBlock does not even offer dilation).
- `fcn_resnet50` is torchvision's `fcn_resnet50` (ResNet-50 with layers 3-4 dilated, output stride 8; the
  seed's reference, heavy: 33 M inference parameters, 277 GMACs at 1024x512 against fcn_resnet18's 19).
- `fcn8s_*` add the FCN-8s skips to the undilated backbone (stride 32): the classifier's logits upsampled x2 plus
  a 1x1 score conv of layer3 (stride 16, "pool4"), upsampled x2 again plus a score conv of layer2 (stride 8,
  "pool3"). The score convs start at zero, as the paper's staged training starts from FCN-32s. (On the dilated
  ResNet-50 every skip would already be at stride 8: the fusion adds no resolution there.)

Eval mode returns the logits at the head's stride (32 for fcn_resnet18, 8 for the others; export bakes the
bilinear resize to input size into `--output-kind classmap`); train mode adds torchvision's auxiliary FCNHead on
layer3 ("aux", loss weight 0.5 as torchvision's reference training and dusty-nv's train.py). Inputs should be
multiples of 32. Module names follow torchvision's FCN (backbone., classifier., aux_classifier.), so its
state_dicts load as they are.
"""
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import ResNet, ResNet18_Weights, ResNet50_Weights, resnet18, resnet50
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation import FCN_ResNet50_Weights, fcn_resnet50
from torchvision.models.segmentation.fcn import FCNHead

from .torchvision_common import IMAGENET_PREPROCESS, downloading, resolve_weights
from .weights import load_into

PREPROCESS = IMAGENET_PREPROCESS
AUX_WEIGHTS = {"aux": 0.5}


def _score(in_channels: int, num_classes: int) -> nn.Conv2d:
    """An FCN-8s skip's 1x1 score conv, zero at the start (the net starts as FCN-32s)."""
    conv = nn.Conv2d(in_channels, num_classes, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _upsample_add(logits: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    return skip + F.interpolate(logits, size=skip.shape[-2:], mode="bilinear", align_corners=False)


class FCN(nn.Module):
    """`backbone` returns {"out": layer4, "aux": layer3} (+ "pool3": layer2 with skips); `skip_channels` (layer3,
    layer2 channels) turns on the FCN-8s fusion."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module, aux_classifier: nn.Module,
                 skip_channels: Optional[Tuple[int, int]] = None) -> None:
        super().__init__()
        self.backbone, self.classifier, self.aux_classifier = backbone, classifier, aux_classifier
        num_classes = classifier[-1].out_channels
        self.score_pool4 = _score(skip_channels[0], num_classes) if skip_channels else None
        self.score_pool3 = _score(skip_channels[1], num_classes) if skip_channels else None
        self.aux_weights: Dict[str, float] = dict(AUX_WEIGHTS)

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        features = self.backbone(x)
        logits = self.classifier(features["out"])
        if self.score_pool4 is not None and self.score_pool3 is not None:
            logits = _upsample_add(logits, self.score_pool4(features["aux"]))
            logits = _upsample_add(logits, self.score_pool3(features["pool3"]))
        if not self.training:
            return logits
        return {"out": logits, "aux": self.aux_classifier(features["aux"])}


def _on_resnet(resnet: ResNet, num_classes: int, skips: bool) -> FCN:
    """FCN heads on an undilated torchvision ResNet (its fc and pooling dropped)."""
    channels = resnet.fc.in_features  # layer4; layer3 has half, layer2 a quarter
    layers = {"layer4": "out", "layer3": "aux", **({"layer2": "pool3"} if skips else {})}
    return FCN(IntermediateLayerGetter(resnet, layers), FCNHead(channels, num_classes),
               FCNHead(channels // 2, num_classes), (channels // 2, channels // 4) if skips else None)


def _build(backbone, enum_type, num_classes: int, weights: Optional[str], skips: bool) -> FCN:
    enum = resolve_weights(weights, enum_type)
    with downloading(weights):
        model = _on_resnet(backbone(weights=enum), num_classes, skips)
    if weights and enum is None:
        load_into(model, weights)
    return model


def build_fcn_resnet18(num_classes: int, weights: Optional[str] = None) -> FCN:
    """jetson-inference's FCN-ResNet18. `weights`: None, a state_dict of this model, or `IMAGENET1K_V1`
    (backbone only)."""
    return _build(resnet18, ResNet18_Weights, num_classes, weights, skips=False)


def build_fcn8s_resnet18(num_classes: int, weights: Optional[str] = None) -> FCN:
    """FCN-8s on ResNet-18; `weights` as for fcn_resnet18."""
    return _build(resnet18, ResNet18_Weights, num_classes, weights, skips=True)


def build_fcn8s_resnet50(num_classes: int, weights: Optional[str] = None) -> FCN:
    """FCN-8s on the undilated ResNet-50; `weights`: None, a state_dict of this model, or
    `IMAGENET1K_V1`/`IMAGENET1K_V2` (backbone only)."""
    return _build(resnet50, ResNet50_Weights, num_classes, weights, skips=True)


def build_fcn_resnet50(num_classes: int, weights: Optional[str] = None) -> FCN:
    """torchvision's FCN-ResNet50 (dilated, stride 8). `weights`: None, a state_dict of this model (or of
    torchvision's), `COCO_WITH_VOC_LABELS_V1` (the whole model; both classifiers' last layers are replaced when
    `num_classes` != 21) or `IMAGENET1K_V1`/`IMAGENET1K_V2` (backbone only)."""
    enum = resolve_weights(weights, FCN_ResNet50_Weights, ResNet50_Weights)
    with downloading(weights):
        if isinstance(enum, FCN_ResNet50_Weights):
            tv = fcn_resnet50(weights=enum, aux_loss=True)
            for head in (tv.classifier, tv.aux_classifier):
                if head[-1].out_channels != num_classes:
                    head[-1] = nn.Conv2d(head[-1].in_channels, num_classes, 1)
        else:
            tv = fcn_resnet50(weights=None, weights_backbone=enum, num_classes=num_classes, aux_loss=True)
    model = FCN(tv.backbone, tv.classifier, tv.aux_classifier)
    if weights and enum is None:
        load_into(model, weights)
    return model
