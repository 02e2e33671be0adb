"""U-Net (Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image Segmentation", MICCAI 2015),
any class count, trained from scratch, with a channel `width` factor for edge devices.

The paper's layout: four levels down (two 3x3 convs + ReLU, then 2x2 max-pool), a bottom level, four levels up
(2x2 transposed conv halving the channels, concatenation with the same level's encoder features, two 3x3
convs), a 1x1 classifier; 64, 128, 256, 512, 1024 channels, times `width` (0.25: 16...256, about 1/16 of the
parameters and MACs). Two choices differ from the paper, as in common implementations (e.g.
milesial/Pytorch-UNet): padded ("same") 3x3 convs, so the output has the input's size and no overlap-tile
cropping is needed, and BatchNorm after each conv (the convs then carry no bias), which training from scratch on
street scenes needs.

Sizes that are not multiples of 16 (four 2x2 poolings) are padded with zeros at the bottom and right, and the
logits cropped back. The amounts come from the input's static size and the zeros are appended by Concat, so the
ONNX graph holds constant zero blocks, a Concat and a Slice with constant bounds, and nothing of it at multiples
of 16: a `--dynamic` export then takes any multiple of 16, other sizes get one export each. (F.pad would export
its pads through a ConstantOfShape/Concat/Reshape-to-[-1, 2]/Slice/Transpose/Cast chain, and a Pad fed by that
chain is reported to fail TensorRT 8.4's parser, on its Reshape of a shape tensor.)

Parameters: the paper's layout (1 input channel, 2 classes, conv biases, no BN) has 31,030,658; this one with 3
input channels and 2 classes 31,037,698 (+0.02%).
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .weights import load_into

# Trained from scratch: any statistics work; ImageNet's, as the other models.
PREPROCESS = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "color_order": "rgb", "scale": 1 / 255.0}
CHANNELS = (64, 128, 256, 512, 1024)
STRIDE = 2 ** (len(CHANNELS) - 1)


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """(3x3 conv → BN → ReLU) twice."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


def level_channels(width: float) -> List[int]:
    """Channels per level: 64..1024 times `width`, at least 1 at the top level."""
    if not width > 0:
        raise ConfigError("--width must be a positive factor (e.g. 0.25), not {}".format(width))
    base = max(1, int(round(CHANNELS[0] * width)))
    return [base * c // CHANNELS[0] for c in CHANNELS]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """`x` with zero rows appended at the bottom and zero columns at the right up to multiples of `multiple`
    (sizes read as ints, so the traced graph holds constant zero blocks and a Concat)."""
    batch, channels, height, width = (int(side) for side in x.shape)
    if width % multiple:
        x = torch.cat([x, x.new_zeros(batch, channels, height, -width % multiple)], dim=3)
        width += -width % multiple
    if height % multiple:
        x = torch.cat([x, x.new_zeros(batch, channels, -height % multiple, width)], dim=2)
    return x


class UNet(nn.Module):
    def __init__(self, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        channels = level_channels(width)
        self.encoder = nn.ModuleList([_double_conv(c_in, c_out) for c_in, c_out in zip([3] + channels, channels)])
        ups = list(zip(channels[:0:-1], channels[-2::-1]))  # (1024, 512), ..., (128, 64) at width 1
        self.up = nn.ModuleList([nn.ConvTranspose2d(c_in, c_out, 2, stride=2) for c_in, c_out in ups])
        self.decoder = nn.ModuleList([_double_conv(2 * c_out, c_out) for _, c_out in ups])
        self.classifier = nn.Conv2d(channels[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = int(x.shape[-2]), int(x.shape[-1])  # constants in the traced graph
        x = pad_to_multiple(x, STRIDE)
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(F.max_pool2d(x, 2) if level else x)
            skips.append(x)
        skips.pop()  # the bottom level is x itself
        for up, block in zip(self.up, self.decoder):
            x = block(torch.cat([skips.pop(), up(x)], dim=1))
        logits = self.classifier(x)
        return logits if logits.shape[-2:] == (height, width) else logits[:, :, :height, :width]


def build(num_classes: int, weights: Optional[str] = None, width: float = 1.0) -> UNet:
    """U-Net with `num_classes` outputs and channels times `width`: random init, or `weights`, a state_dict file
    of this model (at the same width)."""
    model = UNet(num_classes, width)
    if weights:
        load_into(model, weights)
    return model
