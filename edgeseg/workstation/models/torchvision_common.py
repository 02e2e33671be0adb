"""What the torchvision-based builders share: ImageNet preprocessing, weights names, dict → tensor."""
import contextlib
import os
from typing import Iterator, Optional

import torch
from torch import nn

from ...errors import ArtifactError

IMAGENET_PREPROCESS = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "color_order": "rgb",
                       "scale": 1 / 255.0}


class LogitsOnly(nn.Module):
    """torchvision's segmentation models return a dict; export and training want the 'out' tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def resolve_weights(weights: Optional[str], *enums):
    """A torchvision weights enum member for `weights` (e.g. 'IMAGENET1K_V1' or
    'MobileNet_V3_Large_Weights.IMAGENET1K_V1'); None for no weights or a local file."""
    if not weights or os.path.exists(weights):
        return None
    short = weights.split(".")[-1]
    for enum in enums:
        if ("." not in weights or weights.startswith(enum.__name__ + ".")) and short in enum.__members__:
            return enum[short]
    names = sorted({m for enum in enums for m in enum.__members__})
    raise ArtifactError("{}: not a file nor a torchvision weights name (one of {})".format(weights, ", ".join(names)))


@contextlib.contextmanager
def downloading(weights: Optional[str]) -> Iterator[None]:
    """Turn torchvision's download failures (no internet, proxy, disk) into one clear line."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if weights and not os.path.exists(weights):
            raise ArtifactError("{}: cannot download torchvision weights ({}); fetch them on a machine with "
                                "internet and pass the .pth path".format(weights, str(exc).splitlines()[0][:160]))
        raise
