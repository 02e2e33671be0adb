"""ENet (Paszke et al. 2016, "ENet: A Deep Neural Network Architecture for Real-Time Semantic
Segmentation", arXiv:1606.02147), in two decoder variants.

`enet` (`build_enet`): the paper's network, layer for layer the one the pretrained CamVid checkpoint of
davidtvs/PyTorch-ENet (commit 921e40c, `save/ENet_default`) was trained with:
- initial block: 3x3 conv, stride 2, 13 filters ‖ 3x3 max-pool, stride 2 (padding 1 each; the paper
  pools 2x2); concat → 16, BatchNorm, per-channel PReLU;
- stage 1: downsampling bottleneck 16 → 64 (max-pool keeping its indices), 4 regular bottlenecks;
- stages 2 and 3: downsampling bottleneck 64 → 128 (stage 2 only), then regular, dilated 2, asymmetric
  5 (5x1 then 1x5), dilated 4, regular, dilated 8, asymmetric 5, dilated 16;
- stage 4: upsampling bottleneck 128 → 64, 2 regular; stage 5: upsampling bottleneck 64 → 16, 1 regular.
  An upsampling bottleneck's main branch is 1x1 conv + BN then max-unpooling with the indices kept by
  the matching downsampling bottleneck; its extension branch is 1x1 → 3x3 transposed conv (stride 2) →
  1x1;
- final full conv: ConvTranspose2d(16 → num_classes, 3, stride 2, padding 1, output_padding 1), no bias.
Every bottleneck's extension branch is conv → BN → PReLU (one parameter) three times (four for the
asymmetric ones), then spatial dropout (Dropout2d: p=0.01 in stage 1, 0.1 after; identity in eval);
the residual sum goes through a per-channel PReLU. All convolutions are bias-free. The downsampling
bottleneck's main branch max-pools and pads the channels with zeros (added without materialising them);
its extension branch starts with a 2x2 stride-2 projection. That max-pool is 3x3, stride 2, padding 1,
as in the checkpoint's code (the paper's is 2x2): with the checkpoint, CamVid val mIoU is 65.7% with
3x3 and 58.6% with 2x2. The 3x3 windows overlap, so about 29% of the kept indices repeat and
max-unpooling writes some positions twice; which value lands there is implementation-defined (ONNX
ScatterND, the dynamo exporter's form of MaxUnpool, does not order duplicate writes). Logits may then
differ between runtimes; on CamVid val (101 images) ONNX Runtime and PyTorch CPU disagreed on 2 of
17.5 M argmax pixels.

`enet_deconv` (`build_enet_deconv`): the same encoder with plain max-pooling (no indices), and upsampling
bottlenecks whose main branch replaces max-unpooling with a learned 2x2 stride-2 transposed convolution
(out → out channels, no bias; initialised as nearest-neighbour upsampling). TensorRT's ONNX parser
supports neither MaxUnpool nor MaxPool's indices output, so this is the variant for TensorRT; it
exports with the TorchScript exporter at opset 17. It has 17,408 more parameters than `enet`
(64·64·4 + 16·16·4, +4.8%), and it cannot load the `enet` checkpoint (no pretrained decoder).

Input sizes: height and width must be multiples of 8 (three stride-2 stages; the unpooling and the
transposed convolutions double sizes exactly), e.g. 480x360 (60x45 at the bottleneck) or 512x256.
The output is N x num_classes x H x W (input resolution), in train mode too (no auxiliary heads).

Parameters (12 classes): `enet` 359,780 trainable + 8,608 BatchNorm running statistics = 368,388
tensors' elements, the checkpoint's count (the paper's "0.37 M"); `enet_deconv` 377,188 + 8,608.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from ...errors import ArtifactError
from .weights import load_state_dict

PREPROCESS = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "color_order": "rgb", "scale": 1 / 255.0}

SIZE_MULTIPLE = 8
STAGE1_DROPOUT = 0.01
LATER_DROPOUT = 0.1


def _conv_bn_prelu(conv: nn.Module, channels: int) -> Tuple[nn.Module, nn.Module, nn.Module]:
    """conv → BN → single-parameter PReLU, the unit of every bottleneck's extension branch."""
    return conv, nn.BatchNorm2d(channels), nn.PReLU(1)


class InitialBlock(nn.Module):
    """3x3 stride-2 conv (out - 3 filters) ‖ 3x3 stride-2 max-pool of the input; concat, BN, PReLU."""

    def __init__(self, in_channels: int = 3, out_channels: int = 16) -> None:
        super().__init__()
        self.main_branch = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1, bias=False)
        self.ext_branch = nn.MaxPool2d(3, stride=2, padding=1)
        self.batch_norm = nn.BatchNorm2d(out_channels)
        self.out_prelu = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.main_branch(x), self.ext_branch(x)), 1)
        return self.out_prelu(self.batch_norm(out))


class RegularBottleneck(nn.Module):
    """Residual bottleneck: 1x1 projection (channels / 4), a regular, dilated or asymmetric conv, 1x1
    expansion, spatial dropout; added to the input, then a per-channel PReLU."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: int = 1, asymmetric: bool = False,
                 dropout: float = 0.0, internal_ratio: int = 4) -> None:
        super().__init__()
        internal = channels // internal_ratio
        self.ext_conv1 = nn.Sequential(*_conv_bn_prelu(nn.Conv2d(channels, internal, 1, bias=False), internal))
        if asymmetric:
            pad = kernel_size // 2
            self.ext_conv2 = nn.Sequential(
                *_conv_bn_prelu(nn.Conv2d(internal, internal, (kernel_size, 1), padding=(pad, 0), bias=False),
                                internal),
                *_conv_bn_prelu(nn.Conv2d(internal, internal, (1, kernel_size), padding=(0, pad), bias=False),
                                internal))
        else:
            pad = dilation * (kernel_size // 2)
            self.ext_conv2 = nn.Sequential(*_conv_bn_prelu(
                nn.Conv2d(internal, internal, kernel_size, padding=pad, dilation=dilation, bias=False), internal))
        self.ext_conv3 = nn.Sequential(*_conv_bn_prelu(nn.Conv2d(internal, channels, 1, bias=False), channels))
        self.ext_regul = nn.Dropout2d(p=dropout)
        self.out_prelu = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ext = self.ext_regul(self.ext_conv3(self.ext_conv2(self.ext_conv1(x))))
        return self.out_prelu(x + ext)


class DownsamplingBottleneck(nn.Module):
    """Halves the resolution. Main branch: 3x3 stride-2 max-pool (keeping the indices when
    `return_indices`), zero channels appended up to `out_channels`. Extension branch: 2x2 stride-2
    projection, 3x3 conv, 1x1 expansion, spatial dropout. Sum → per-channel PReLU.

    forward returns (out, indices) with `return_indices`, else out."""

    def __init__(self, in_channels: int, out_channels: int, return_indices: bool, dropout: float = 0.0,
                 internal_ratio: int = 4) -> None:
        super().__init__()
        internal = in_channels // internal_ratio
        self.return_indices = return_indices
        self.in_channels = in_channels
        self.main_max1 = nn.MaxPool2d(3, stride=2, padding=1, return_indices=return_indices)
        self.ext_conv1 = nn.Sequential(*_conv_bn_prelu(
            nn.Conv2d(in_channels, internal, 2, stride=2, bias=False), internal))
        self.ext_conv2 = nn.Sequential(*_conv_bn_prelu(
            nn.Conv2d(internal, internal, 3, padding=1, bias=False), internal))
        self.ext_conv3 = nn.Sequential(*_conv_bn_prelu(nn.Conv2d(internal, out_channels, 1, bias=False),
                                                       out_channels))
        self.ext_regul = nn.Dropout2d(p=dropout)
        self.out_prelu = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor):
        if self.return_indices:
            main, indices = self.main_max1(x)
        else:
            main, indices = self.main_max1(x), None
        ext = self.ext_regul(self.ext_conv3(self.ext_conv2(self.ext_conv1(x))))
        # main zero-padded to out_channels, plus ext, computed without the zeros: the first in_channels
        # channels are main + ext, the rest are ext alone (ONNX: Slice, Add, Concat; F.pad would export
        # a Pad whose pads are computed by a shape subgraph, torch.zeros a constant of the full size)
        channels = self.in_channels
        out = self.out_prelu(torch.cat((main + ext[:, :channels], ext[:, channels:]), 1))
        return (out, indices) if self.return_indices else out


class UpsamplingBottleneck(nn.Module):
    """Doubles the resolution. Main branch: 1x1 conv + BN to `out_channels`, then max-unpooling with the
    matching downsampling bottleneck's indices (`unpool=True`) or a 2x2 stride-2 transposed conv
    (`unpool=False`, TensorRT-safe). Extension branch: 1x1 projection, 3x3 stride-2 transposed conv,
    1x1 expansion, spatial dropout. Sum → per-channel PReLU."""

    def __init__(self, in_channels: int, out_channels: int, unpool: bool, dropout: float = 0.0,
                 internal_ratio: int = 4) -> None:
        super().__init__()
        internal = in_channels // internal_ratio
        self.unpool = unpool
        self.main_conv1 = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                        nn.BatchNorm2d(out_channels))
        if unpool:
            self.main_unpool1 = nn.MaxUnpool2d(2)
        else:
            self.main_tconv1 = nn.ConvTranspose2d(out_channels, out_channels, 2, stride=2, bias=False)
            with torch.no_grad():  # start as nearest-neighbour upsampling: each 2x2 tap is the identity
                self.main_tconv1.weight.zero_()
                self.main_tconv1.weight[range(out_channels), range(out_channels)] = 1.0
        self.ext_conv1 = nn.Sequential(*_conv_bn_prelu(nn.Conv2d(in_channels, internal, 1, bias=False), internal))
        self.ext_conv2 = nn.Sequential(*_conv_bn_prelu(
            nn.ConvTranspose2d(internal, internal, 3, stride=2, padding=1, output_padding=1, bias=False), internal))
        self.ext_conv3 = nn.Sequential(*_conv_bn_prelu(nn.Conv2d(internal, out_channels, 1, bias=False),
                                                       out_channels))
        self.ext_regul = nn.Dropout2d(p=dropout)
        self.out_prelu = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor, indices: Optional[torch.Tensor] = None) -> torch.Tensor:
        main = self.main_conv1(x)
        main = self.main_unpool1(main, indices) if self.unpool else self.main_tconv1(main)
        ext = self.ext_regul(self.ext_conv3(self.ext_conv2(self.ext_conv1(x))))
        return self.out_prelu(main + ext)


class ENet(nn.Module):
    """ENet; `unpool=True` is the paper's decoder (max-unpooling), `unpool=False` the TensorRT-safe one.

    Module names follow davidtvs/PyTorch-ENet, so its checkpoints load key for key (see
    `map_pytorch_enet_keys`)."""

    def __init__(self, num_classes: int, unpool: bool = True) -> None:
        super().__init__()
        self.unpool = unpool
        p1, p2 = STAGE1_DROPOUT, LATER_DROPOUT
        self.initial_block = InitialBlock(3, 16)
        # stage 1
        self.downsample1_0 = DownsamplingBottleneck(16, 64, return_indices=unpool, dropout=p1)
        self.regular1_1 = RegularBottleneck(64, dropout=p1)
        self.regular1_2 = RegularBottleneck(64, dropout=p1)
        self.regular1_3 = RegularBottleneck(64, dropout=p1)
        self.regular1_4 = RegularBottleneck(64, dropout=p1)
        # stage 2
        self.downsample2_0 = DownsamplingBottleneck(64, 128, return_indices=unpool, dropout=p2)
        self.regular2_1 = RegularBottleneck(128, dropout=p2)
        self.dilated2_2 = RegularBottleneck(128, dilation=2, dropout=p2)
        self.asymmetric2_3 = RegularBottleneck(128, kernel_size=5, asymmetric=True, dropout=p2)
        self.dilated2_4 = RegularBottleneck(128, dilation=4, dropout=p2)
        self.regular2_5 = RegularBottleneck(128, dropout=p2)
        self.dilated2_6 = RegularBottleneck(128, dilation=8, dropout=p2)
        self.asymmetric2_7 = RegularBottleneck(128, kernel_size=5, asymmetric=True, dropout=p2)
        self.dilated2_8 = RegularBottleneck(128, dilation=16, dropout=p2)
        # stage 3 (stage 2 without its downsampling bottleneck)
        self.regular3_0 = RegularBottleneck(128, dropout=p2)
        self.dilated3_1 = RegularBottleneck(128, dilation=2, dropout=p2)
        self.asymmetric3_2 = RegularBottleneck(128, kernel_size=5, asymmetric=True, dropout=p2)
        self.dilated3_3 = RegularBottleneck(128, dilation=4, dropout=p2)
        self.regular3_4 = RegularBottleneck(128, dropout=p2)
        self.dilated3_5 = RegularBottleneck(128, dilation=8, dropout=p2)
        self.asymmetric3_6 = RegularBottleneck(128, kernel_size=5, asymmetric=True, dropout=p2)
        self.dilated3_7 = RegularBottleneck(128, dilation=16, dropout=p2)
        # stage 4 (decoder)
        self.upsample4_0 = UpsamplingBottleneck(128, 64, unpool=unpool, dropout=p2)
        self.regular4_1 = RegularBottleneck(64, dropout=p2)
        self.regular4_2 = RegularBottleneck(64, dropout=p2)
        # stage 5 (decoder)
        self.upsample5_0 = UpsamplingBottleneck(64, 16, unpool=unpool, dropout=p2)
        self.regular5_1 = RegularBottleneck(16, dropout=p2)
        # full conv back to the input resolution
        self.transposed_conv = nn.ConvTranspose2d(16, num_classes, 3, stride=2, padding=1, output_padding=1,
                                                  bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]
        if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
            raise ValueError("ENet needs an input height and width that are multiples of {}, not {}x{} "
                             "(width x height)".format(SIZE_MULTIPLE, width, height))
        x = self.initial_block(x)
        if self.unpool:
            x, indices1 = self.downsample1_0(x)
        else:
            x, indices1 = self.downsample1_0(x), None
        x = self.regular1_4(self.regular1_3(self.regular1_2(self.regular1_1(x))))
        if self.unpool:
            x, indices2 = self.downsample2_0(x)
        else:
            x, indices2 = self.downsample2_0(x), None
        for name in ("regular2_1", "dilated2_2", "asymmetric2_3", "dilated2_4", "regular2_5", "dilated2_6",
                     "asymmetric2_7", "dilated2_8", "regular3_0", "dilated3_1", "asymmetric3_2", "dilated3_3",
                     "regular3_4", "dilated3_5", "asymmetric3_6", "dilated3_7"):
            x = getattr(self, name)(x)
        x = self.regular4_2(self.regular4_1(self.upsample4_0(x, indices2)))
        x = self.regular5_1(self.upsample5_0(x, indices1))
        return self.transposed_conv(x)


# --- checkpoints ------------------------------------------------------------------------------------

_PYTORCH_ENET_MARKER = "initial_block.main_branch.weight"
_BN_COUNTER = "num_batches_tracked"


def is_pytorch_enet_layout(state: Dict[str, torch.Tensor]) -> bool:
    """True for a davidtvs/PyTorch-ENet state_dict (commit 921e40c era): ENet's module names and
    BatchNorm layers saved without `num_batches_tracked` (PyTorch < 0.4.1)."""
    return _PYTORCH_ENET_MARKER in state and not any(k.endswith("." + _BN_COUNTER) for k in state)


def map_pytorch_enet_keys(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """davidtvs/PyTorch-ENet (commit 921e40c, `save/ENet_default`) state_dict → this module's keys.

    The mapping, explicitly (this module names its layers as PyTorch-ENet does):
    - `<block>.<layer>...` → the same key, for every weight and BatchNorm statistic: `initial_block.*`,
      `downsample1_0` … `dilated3_7`, `upsample4_0` … `regular5_1` (bottleneck sub-layers `ext_conv1`,
      `ext_conv2`, `ext_conv3` are Sequentials of conv, BN, PReLU(1) (asymmetric `ext_conv2`: two such
      triples, indices 0..5); `out_prelu` is the per-channel PReLU; `upsample*.main_conv1` is conv + BN),
      and `transposed_conv.weight`;
    - a leading `module.` (nn.DataParallel) is dropped (`weights.load_state_dict` already does this);
    - `<bn>.num_batches_tracked` is added as 0 for every BatchNorm (`<bn>.running_mean` present) that
      lacks it: PyTorch-ENet's checkpoints predate that buffer. It only counts training steps (used
      when BatchNorm momentum is None), so 0 changes no output.
    Tensors are not copied or changed. Keys outside this layout are passed through unchanged, so a
    strict load still reports them.
    """
    mapped = {}
    for key, value in state.items():
        mapped[key[len("module."):] if key.startswith("module.") else key] = value
    for key in list(mapped):
        if key.endswith(".running_mean"):
            counter = key[: -len("running_mean")] + _BN_COUNTER
            mapped.setdefault(counter, torch.tensor(0, dtype=torch.long))
    return mapped


def to_pytorch_enet_layout(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The inverse of `map_pytorch_enet_keys` for an `enet` state_dict: drops `num_batches_tracked`."""
    return {k: v for k, v in state.items() if not k.endswith("." + _BN_COUNTER)}


def _load_strict(model: nn.Module, path: str) -> None:
    """Load `path` into `model`: every key used, every shape checked; PyTorch-ENet files are mapped."""
    state = load_state_dict(path)
    layout = "own"
    if is_pytorch_enet_layout(state):
        state, layout = map_pytorch_enet_keys(state), "PyTorch-ENet"
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = ["{} {} vs {}".format(k, tuple(v.shape), tuple(own[k].shape))
                for k, v in state.items() if k in own and own[k].shape != v.shape]
    if missing or unexpected or reshaped:
        raise ArtifactError(
            "{}: weights ({} layout) do not fit {} (missing {}, unexpected {}, other shape {}; e.g. {}); "
            "`enet` loads davidtvs/PyTorch-ENet checkpoints of the commit 921e40c layout and its own "
            "state_dicts, `enet_deconv` only its own; check the model name and --num-classes".format(
                path, layout, "enet" if model.unpool else "enet_deconv", len(missing), len(unexpected),
                len(reshaped), (missing + unexpected + reshaped)[:3]))
    model.load_state_dict(state, strict=True)


def build_enet(num_classes: int, weights: Optional[str] = None) -> nn.Module:
    """The paper's ENet (max-unpooling decoder). `weights`: None (random init) or a local state_dict:
    this model's own, or a davidtvs/PyTorch-ENet checkpoint (mapped by `map_pytorch_enet_keys`), e.g.
    the CamVid one with `num_classes=12` (11 classes + void). Loading is strict."""
    model = ENet(num_classes, unpool=True)
    if weights:
        _load_strict(model, weights)
    return model


def build_enet_deconv(num_classes: int, weights: Optional[str] = None) -> nn.Module:
    """ENet with transposed-convolution upsampling instead of max-unpooling (TensorRT-safe, opset 17).
    `weights`: None or a state_dict of this model (strict; an `enet` checkpoint raises ArtifactError)."""
    model = ENet(num_classes, unpool=False)
    if weights:
        _load_strict(model, weights)
    return model
