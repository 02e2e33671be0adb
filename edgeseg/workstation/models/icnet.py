"""ICNet (Zhao et al., "ICNet for Real-Time Semantic Segmentation on High-Resolution Images", ECCV 2018) on
torchvision ResNet-18 or MobileNetV3-Large.

The cascade follows the authors' Caffe graph (hszhao/ICNet, icnet_cityscapes.prototxt):
- full resolution: three 3x3 stride-2 conv+BN+ReLU (32, 32, 64 channels) → 1/8 of the input;
- 1/2 resolution: the image average-pooled x2 (= bilinear x0.5, half-pixel) through the backbone's first
  stages (stride 8: ResNet-18 stem..layer2, MobileNetV3 features[:7]) → 1/16;
- 1/4 resolution: shares computation and weights with the 1/2 branch, as the paper's graph does: the 1/16
  features pooled x2 (→ 1/32, i.e. a 1/4 image at stride 8) through the remaining stages with their strides
  turned into dilations 2 and 4 (a dilated, output-stride-8 backbone as in PSPNet), then the paper's
  pyramid pooling (the *sum* of the features and their bin-1/2/3/6 averages, parameter-free) and a 1x1
  conv+BN+ReLU to 256 channels;
- two cascade feature fusion (CFF) units (1/32 + 1/16 → 1/16, then 1/16 + 1/8 → 1/8, 128 channels), each
  with an auxiliary classifier on its upsampled low-resolution input (cascade label guidance);
- the classifier at 1/8 then bilinear x2 → 1/4 (the paper's output stride; a 1x1 conv commutes with
  bilinear resizing, so this equals the paper's upsample-then-classify), then bilinear to the input size.

TensorRT 8.5 safety: the pyramid bins are `F.avg_pool2d` windows computed from the feature size at trace
time (bin 1 is a global average pool added by broadcasting), so the ONNX graph holds only AveragePool,
GlobalAveragePool and Resize to constant spatial sizes, no adaptive pooling. The graph is therefore tied to
the size it was traced at, as the authors' Caffe graph is (fixed pooling kernels): export ICNet at a fixed
input size (a dynamic export runs any batch size, but other image sizes fail at the pyramid's Add).
Inputs should be multiples of 32 (any size runs in PyTorch; the branches then floor).

Train mode returns {"out", "aux_sub4", "aux_sub24"}, all at input resolution; `aux_weights` gives the
cascade label guidance weights λ1 = λ2 = 0.4 for the 1/16 (sub4) and 1/8 (sub24) outputs, λ3 = 1 for "out"
(as mmsegmentation's ICNet; the hellochick TensorFlow reproduction uses 0.16 for sub4).

Parameters (19 classes, aux classifiers included): icnet_resnet18 11.81 M, icnet_mobilenetv3 3.71 M. There
is no published count for these backbones (the paper's PSPNet-50-based ICNet has 26.5 M). The reference is
the backbone itself: torchvision's ResNet-18 without its fc layer has 11.18 M, MobileNetV3-Large's `features`
2.97 M; the ICNet branch and heads add 0.64 M and 0.74 M (MobileNetV3's 960-channel output feeds the 1x1
reduction).
"""
import os
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, ResNet18_Weights, WeightsEnum, mobilenet_v3_large, resnet18
from torchvision.ops.misc import Conv2dNormActivation

from ...errors import ArtifactError
from .weights import load_into

PREPROCESS = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "color_order": "rgb", "scale": 1 / 255.0}

PPM_BINS = (1, 2, 3, 6)
LOW_CHANNELS = 256  # the paper's conv5_4_k1
CFF_CHANNELS = 128
AUX_WEIGHTS = {"aux_sub4": 0.4, "aux_sub24": 0.4}


class BackboneSplit(NamedTuple):
    """A torchvision backbone cut for ICNet: `medium` (stride 8) runs on the 1/2 image, `low` (dilated,
    stride 1) continues on its output pooled x2."""

    medium: nn.Module
    low: nn.Module
    medium_channels: int
    low_channels: int


def pool_window(size: int, bins: int) -> Tuple[int, int]:
    """(kernel, stride) of an AveragePool giving `bins` windows that tile `size` (adaptive pooling's result
    when `bins` divides `size`; bins are capped at `size`)."""
    bins = min(bins, size)
    stride = size // bins
    return size - (bins - 1) * stride, stride


class PyramidPooling(nn.Module):
    """The paper's pyramid pooling: x plus each bin's average pooling upsampled back (parameter-free)."""

    def __init__(self, bins: Sequence[int] = PPM_BINS) -> None:
        super().__init__()
        self.bins = tuple(bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = int(x.shape[-2]), int(x.shape[-1])  # constants in the traced graph
        out = x
        for bins in self.bins:
            if bins == 1:
                out = out + F.adaptive_avg_pool2d(x, 1)  # GlobalAveragePool, broadcast
                continue
            (kernel_h, stride_h), (kernel_w, stride_w) = pool_window(height, bins), pool_window(width, bins)
            pooled = F.avg_pool2d(x, (kernel_h, kernel_w), (stride_h, stride_w))
            out = out + F.interpolate(pooled, size=(height, width), mode="bilinear", align_corners=False)
        return out


class CascadeFeatureFusion(nn.Module):
    """CFF: low-res feature upsampled x2 → 3x3 conv (dilation 2) + BN; high-res feature → 1x1 conv + BN; sum,
    ReLU. In train mode also the auxiliary logits of the upsampled low-res feature."""

    def __init__(self, low_channels: int, high_channels: int, out_channels: int, num_classes: int) -> None:
        super().__init__()
        self.low = Conv2dNormActivation(low_channels, out_channels, 3, dilation=2, activation_layer=None)
        self.high = Conv2dNormActivation(high_channels, out_channels, 1, activation_layer=None)
        self.aux = nn.Conv2d(low_channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        low = F.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=False)
        fused = F.relu(self.low(low) + self.high(high))
        return fused, self.aux(low) if self.training else None


class ICNet(nn.Module):
    """The three-branch cascade (see the module docstring) around a `BackboneSplit`."""

    def __init__(self, backbone: BackboneSplit, num_classes: int) -> None:
        super().__init__()
        self.sub1 = nn.Sequential(Conv2dNormActivation(3, 32, 3, stride=2),
                                  Conv2dNormActivation(32, 32, 3, stride=2),
                                  Conv2dNormActivation(32, 64, 3, stride=2))
        self.medium = backbone.medium
        self.low = backbone.low
        self.ppm = PyramidPooling()
        self.reduce = Conv2dNormActivation(backbone.low_channels, LOW_CHANNELS, 1)
        self.cff24 = CascadeFeatureFusion(LOW_CHANNELS, backbone.medium_channels, CFF_CHANNELS, num_classes)
        self.cff12 = CascadeFeatureFusion(CFF_CHANNELS, 64, CFF_CHANNELS, num_classes)
        self.classifier = nn.Conv2d(CFF_CHANNELS, num_classes, 1)
        self.aux_weights: Dict[str, float] = dict(AUX_WEIGHTS)

    def branches(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features of the full-, 1/2- and 1/4-resolution branches: at 1/8, 1/16 and 1/32 of the input."""
        sub1 = self.sub1(x)
        sub2 = self.medium(F.avg_pool2d(x, 2))
        sub4 = self.reduce(self.ppm(self.low(F.avg_pool2d(sub2, 2))))
        return sub1, sub2, sub4

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        sub1, sub2, sub4 = self.branches(x)
        sub24, aux_sub4 = self.cff24(sub4, sub2)
        sub124, aux_sub24 = self.cff12(sub24, sub1)
        quarter = F.interpolate(self.classifier(sub124), scale_factor=2, mode="bilinear", align_corners=False)
        outputs = {"out": quarter, "aux_sub4": aux_sub4, "aux_sub24": aux_sub24} if self.training else {"out": quarter}
        outputs = {name: F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
                   for name, logits in outputs.items()}
        return outputs if self.training else outputs["out"]


def _dilate(stage: nn.Module, dilation: int) -> None:
    """Turn `stage`'s strides into `dilation` (every conv stride 1, kxk convs dilated and re-padded)."""
    for conv in stage.modules():
        if isinstance(conv, nn.Conv2d):
            conv.stride = (1, 1)
            if conv.kernel_size[0] > 1:
                conv.dilation = (dilation, dilation)
                conv.padding = tuple(dilation * (k - 1) // 2 for k in conv.kernel_size)


def _resnet18_split(weights: Optional[WeightsEnum]) -> BackboneSplit:
    net = resnet18(weights=weights)
    _dilate(net.layer3, 2)
    _dilate(net.layer4, 4)
    medium = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2)
    return BackboneSplit(medium, nn.Sequential(net.layer3, net.layer4), 128, 512)


def _mobilenetv3_split(weights: Optional[WeightsEnum]) -> BackboneSplit:
    features = mobilenet_v3_large(weights=weights).features
    _dilate(features[7:13], 2)
    _dilate(features[13:], 4)
    return BackboneSplit(features[:7], features[7:], 40, 960)


def _torchvision_weights(enum: Type[WeightsEnum], name: str) -> WeightsEnum:
    prefix, _, short = name.rpartition(".")
    if prefix in ("", enum.__name__) and short in enum.__members__:
        return enum[short]
    raise ArtifactError("{}: not a file nor a torchvision weights name for this backbone ({})".format(
        name, ", ".join(enum.__members__)))


def _build(split: Callable[[Optional[WeightsEnum]], BackboneSplit], enum: Type[WeightsEnum], num_classes: int,
           weights: Optional[str]) -> ICNet:
    local = weights is not None and os.path.exists(weights)
    imagenet = _torchvision_weights(enum, weights) if weights and not local else None
    try:
        backbone = split(imagenet)
    except (OSError, RuntimeError) as exc:  # download failures: no internet, proxy, disk
        raise ArtifactError("{}: cannot download torchvision weights ({}); fetch them on a machine with "
                            "internet and pass the .pth path".format(weights, str(exc).splitlines()[0][:160]))
    model = ICNet(backbone, num_classes)
    if local and weights is not None:
        load_into(model, weights)
    return model


def build_icnet_resnet18(num_classes: int, weights: Optional[str] = None) -> ICNet:
    """ICNet on ResNet-18. `weights`: None (random init), a local state_dict of this model, or a torchvision
    ImageNet name (`IMAGENET1K_V1`; backbone only)."""
    return _build(_resnet18_split, ResNet18_Weights, num_classes, weights)


def build_icnet_mobilenetv3(num_classes: int, weights: Optional[str] = None) -> ICNet:
    """ICNet on MobileNetV3-Large. `weights`: None (random init), a local state_dict of this model, or a
    torchvision ImageNet name (`IMAGENET1K_V1`/`IMAGENET1K_V2`; backbone only)."""
    return _build(_mobilenetv3_split, MobileNet_V3_Large_Weights, num_classes, weights)
