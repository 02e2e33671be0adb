"""BiSeNetV2 (Yu et al., "BiSeNet V2: Bilateral Network with Guided Aggregation for Real-time Semantic
Segmentation", IJCV 2021), any class count, trained from scratch (no ImageNet weights exist for it).

Detail branch (stride 8, 64/64/128 channels) + semantic branch (stem, gather-and-expansion layers,
context embedding; stride 32, 16/32/64/128 channels) fused by the bilateral guided aggregation layer,
then a 3x3 conv (1024 channels) + 1x1 conv head upsampled x8. In train mode four booster heads (after
the stem, S3, S4, S5_4) add auxiliary logits, loss weight 1.0 each.

It follows CoinCheung/BiSeNet `lib/models/bisenetv2.py` in its bilinear-head form (`bisenetv2_old.py`),
with what that code adds to the paper (a ReLU after the GE depthwise convs and on the BGA output conv,
BN-ReLU on the CE output conv), its init (Kaiming fan_out; the BN closing each GE residual branch starts
at zero) and its state_dict key names. The BGA upsamples bilinearly as mmsegmentation's `BiSeNetV2`
does (CoinCheung: nearest).

Parameters, 19 classes, booster heads left out: 3,358,627 (3.36 M); with them 3,645,935. Reference:
CoinCheung/BiSeNet `lib/models/bisenetv2_old.py` (commit c6d7405a), its layout instantiated from that
source: the same 3,358,627 and identical state_dict keys and shapes; mmsegmentation's backbone + FCNHead
(128 -> 1024, configs/_base_/models/bisenetv2.py) counts 3,358,883 (its two BGA pointwise convs have
biases). CoinCheung's current PixelShuffle head (1x1 conv to 64 x classes) would make it 4.59 M.
Input height and width must be multiples of 32.
"""
from typing import Dict, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .weights import load_into

# mmsegmentation trains it on ImageNet statistics; CoinCheung uses Cityscapes ones (RGB mean 0.3257,
# 0.3690, 0.3223, std 0.2112, 0.2148, 0.2115). From scratch either works; a checkpoint trained by
# CoinCheung's code needs its statistics.
PREPROCESS = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "color_order": "rgb", "scale": 1 / 255.0}

AUX_WEIGHTS = {"aux2": 1.0, "aux3": 1.0, "aux4": 1.0, "aux5_4": 1.0}
STRIDE = 32


class ConvBNReLU(nn.Module):
    """Conv (no bias) → BatchNorm → ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def conv_bn(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) → BatchNorm, no activation."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out_ch))


def last_bn(block: nn.Sequential) -> nn.Sequential:
    """Mark the BN that closes a residual branch: initialised to zero (gamma = 0)."""
    block[1].last_bn = True
    return block


class DetailBranch(nn.Module):
    """Wide and shallow: three stages of 3x3 ConvBNReLU, stride 8, 64/64/128 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.S1 = nn.Sequential(ConvBNReLU(3, 64, stride=2), ConvBNReLU(64, 64))
        self.S2 = nn.Sequential(ConvBNReLU(64, 64, stride=2), ConvBNReLU(64, 64), ConvBNReLU(64, 64))
        self.S3 = nn.Sequential(ConvBNReLU(64, 128, stride=2), ConvBNReLU(128, 128), ConvBNReLU(128, 128))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.S3(self.S2(self.S1(x)))


class StemBlock(nn.Module):
    """Stride-4 stem: conv, then (1x1 + strided 3x3 conv) and a 3x3 max pool side by side, concat, fuse."""

    def __init__(self, out_ch: int = 16) -> None:
        super().__init__()
        self.conv = ConvBNReLU(3, out_ch, stride=2)
        self.left = nn.Sequential(ConvBNReLU(out_ch, out_ch // 2, kernel=1), ConvBNReLU(out_ch // 2, out_ch, stride=2))
        self.right = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.fuse = ConvBNReLU(2 * out_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.fuse(torch.cat([self.left(x), self.right(x)], dim=1))


class GELayerS1(nn.Module):
    """Gather-and-expansion layer, stride 1: 3x3 conv, depthwise expansion x6, 1x1 projection, identity add."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int = 6) -> None:
        super().__init__()
        mid = in_ch * expansion
        self.conv1 = ConvBNReLU(in_ch, in_ch)
        self.dwconv = nn.Sequential(*conv_bn(in_ch, mid, groups=in_ch), nn.ReLU(inplace=True))
        self.conv2 = last_bn(conv_bn(mid, out_ch, kernel=1))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.dwconv(self.conv1(x))) + x)


class GELayerS2(nn.Module):
    """Gather-and-expansion layer, stride 2: two depthwise convs (the first strided, expanding x6) and a
    depthwise-separable shortcut."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int = 6) -> None:
        super().__init__()
        mid = in_ch * expansion
        self.conv1 = ConvBNReLU(in_ch, in_ch)
        self.dwconv1 = conv_bn(in_ch, mid, stride=2, groups=in_ch)
        self.dwconv2 = nn.Sequential(*conv_bn(mid, mid, groups=mid), nn.ReLU(inplace=True))
        self.conv2 = last_bn(conv_bn(mid, out_ch, kernel=1))
        self.shortcut = nn.Sequential(*conv_bn(in_ch, in_ch, stride=2, groups=in_ch), *conv_bn(in_ch, out_ch, kernel=1))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.dwconv2(self.dwconv1(self.conv1(x)))) + self.shortcut(x))


class CEBlock(nn.Module):
    """Context embedding: global average pool → BN → 1x1 ConvBNReLU, broadcast add, 3x3 ConvBNReLU."""

    def __init__(self, ch: int = 128) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(ch)
        self.conv_gap = ConvBNReLU(ch, ch, kernel=1)
        self.conv_last = ConvBNReLU(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.conv_gap(self.bn(x.mean(dim=(2, 3), keepdim=True)))
        return self.conv_last(x + context)


class SemanticBranch(nn.Module):
    """Narrow and deep, stride 32: stem (S1S2), GE stages S3, S4, S5_4 and the CE block (S5_5)."""

    def __init__(self) -> None:
        super().__init__()
        self.S1S2 = StemBlock(16)
        self.S3 = nn.Sequential(GELayerS2(16, 32), GELayerS1(32, 32))
        self.S4 = nn.Sequential(GELayerS2(32, 64), GELayerS1(64, 64))
        self.S5_4 = nn.Sequential(GELayerS2(64, 128), *(GELayerS1(128, 128) for _ in range(3)))
        self.S5_5 = CEBlock(128)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Features by booster-head name, plus "semantic" (the branch output, stride 32)."""
        feat2 = self.S1S2(x)
        feat3 = self.S3(feat2)
        feat4 = self.S4(feat3)
        feat5_4 = self.S5_4(feat4)
        return {"aux2": feat2, "aux3": feat3, "aux4": feat4, "aux5_4": feat5_4, "semantic": self.S5_5(feat5_4)}


class BGALayer(nn.Module):
    """Bilateral guided aggregation of detail (stride 8) and semantic (stride 32) features: each branch
    gates the other through a sigmoid, at both resolutions; the coarse product is upsampled x4 and added."""

    def __init__(self, ch: int = 128) -> None:
        super().__init__()
        self.left1 = nn.Sequential(*conv_bn(ch, ch, groups=ch), nn.Conv2d(ch, ch, 1, bias=False))
        self.left2 = nn.Sequential(*conv_bn(ch, ch, stride=2), nn.AvgPool2d(kernel_size=3, stride=2, padding=1))
        self.right1 = conv_bn(ch, ch)
        self.right2 = nn.Sequential(*conv_bn(ch, ch, groups=ch), nn.Conv2d(ch, ch, 1, bias=False))
        self.conv = nn.Sequential(*conv_bn(ch, ch), nn.ReLU(inplace=True))

    def forward(self, detail: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        fine = self.left1(detail) * torch.sigmoid(upsample(self.right1(semantic), 4))
        coarse = self.left2(detail) * torch.sigmoid(self.right2(semantic))
        return self.conv(fine + upsample(coarse, 4))


class SegmentHead(nn.Module):
    """3x3 ConvBNReLU → dropout (identity in eval) → 1x1 conv to class logits (upsampling is the caller's)."""

    def __init__(self, in_ch: int, mid_ch: int, num_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, mid_ch)
        self.drop = nn.Dropout(0.1)
        self.conv_out = nn.Conv2d(mid_ch, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.drop(self.conv(x)))


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear, align_corners=False, constant scale (one ONNX Resize with constant scales)."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class BiSeNetV2(nn.Module):
    """Eval: logits N x num_classes x H x W. Train: {"out", "aux2", "aux3", "aux4", "aux5_4"}, all H x W."""

    AUX_STRIDES = {"aux2": 4, "aux3": 8, "aux4": 16, "aux5_4": 32}

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.aux_weights = dict(AUX_WEIGHTS)
        self.detail = DetailBranch()
        self.segment = SemanticBranch()
        self.bga = BGALayer(128)
        self.head = SegmentHead(128, 1024, num_classes)
        self.aux2 = SegmentHead(16, 128, num_classes)
        self.aux3 = SegmentHead(32, 128, num_classes)
        self.aux4 = SegmentHead(64, 128, num_classes)
        self.aux5_4 = SegmentHead(128, 128, num_classes)
        self._init_weights()

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        if not torch.jit.is_tracing() and (x.shape[-2] % STRIDE or x.shape[-1] % STRIDE):
            raise ConfigError("bisenetv2 needs an input height and width divisible by {}, not {}x{}".format(
                STRIDE, x.shape[-1], x.shape[-2]))
        features = self.segment(x)
        logits = upsample(self.head(self.bga(self.detail(x), features["semantic"])), 8)
        if not self.training:
            return logits
        out = {"out": logits}
        for name, stride in self.AUX_STRIDES.items():
            out[name] = upsample(getattr(self, name)(features[name]), stride)
        return out

    def _init_weights(self) -> None:
        """Kaiming-normal (fan_out) convs with zero bias; BN gamma 1 (0 where it closes a GE branch), beta 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 0.0 if getattr(module, "last_bn", False) else 1.0)
                nn.init.zeros_(module.bias)


def build(num_classes: int, weights: Optional[str] = None) -> nn.Module:
    """BiSeNetV2 with `num_classes` outputs: random init, or `weights`, a state_dict file of this model."""
    model = BiSeNetV2(num_classes)
    if weights:
        load_into(model, weights)
    return model
