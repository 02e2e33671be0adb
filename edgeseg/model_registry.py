"""The models edgeseg trains and exports, by name, with what export needs to know of each: listed without
importing torch, so the device side (the CLI's choices) can name them. Builders live in
`edgeseg.workstation.models`."""
from typing import List, NamedTuple

from .errors import ConfigError


class ModelEntry(NamedTuple):
    """How a model is built and exported: its builder module and function, and the exporter's needs."""

    module: str
    builder: str
    exporter: str = "torchscript"  # "dynamo" only where the TorchScript exporter cannot (opset 18)
    dynamic: bool = True  # False: pooling windows are fixed at export, so one ONNX file per input size
    width: bool = False  # the builder takes a channel `width` factor
    size_multiple: int = 1  # --dynamic needs sizes that are multiples of this (others are padded as fixed at export)


REGISTRY = {
    "deeplabv3_mobilenetv3": ModelEntry("deeplabv3_mobilenetv3", "build"),
    "deeplabv3plus_mobilenetv3": ModelEntry("deeplabv3plus_mobilenetv3", "build"),
    "lraspp_mobilenetv3": ModelEntry("lraspp_mobilenetv3", "build"),
    "bisenetv2": ModelEntry("bisenetv2", "build"),
    "enet": ModelEntry("enet", "build_enet", exporter="dynamo"),
    "enet_deconv": ModelEntry("enet", "build_enet_deconv"),
    "icnet_resnet18": ModelEntry("icnet", "build_icnet_resnet18", dynamic=False),
    "icnet_mobilenetv3": ModelEntry("icnet", "build_icnet_mobilenetv3", dynamic=False),
    "fcn_resnet18": ModelEntry("fcn", "build_fcn_resnet18"),
    "fcn_resnet50": ModelEntry("fcn", "build_fcn_resnet50"),
    "fcn8s_resnet18": ModelEntry("fcn", "build_fcn8s_resnet18"),
    "fcn8s_resnet50": ModelEntry("fcn", "build_fcn8s_resnet50"),
    "unet": ModelEntry("unet", "build", width=True, size_multiple=16),
}


def available_models() -> List[str]:
    """The model names `train` and `export` take, sorted."""
    return sorted(REGISTRY)


def model_entry(name: str) -> ModelEntry:
    """The entry of model `name`; ConfigError naming the models there are otherwise."""
    if name not in REGISTRY:
        raise ConfigError("unknown model {!r}; available: {}".format(name, ", ".join(available_models())))
    return REGISTRY[name]
