"""Segmentation losses (workstation side): cross-entropy, OHEM cross-entropy, focal loss.

All take logits N x C x h x w (upsampled to the label size when smaller) and labels N x H x W with
an ignore index, and optional per-class weights.
"""
import math
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("ce", "ohem", "focal")


def _to_label_size(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    return logits


class OhemCrossEntropy(nn.Module):
    """Online hard example mining (BiSeNet): average the loss over pixels whose true-class
    probability is below `threshold`, and over at least the `min_fraction` hardest pixels."""

    def __init__(self, ignore_index: int, weight: Optional[torch.Tensor] = None, threshold: float = 0.7,
                 min_fraction: float = 1 / 16) -> None:
        super().__init__()
        self.ignore_index, self.weight = ignore_index, weight
        self.loss_threshold = -math.log(threshold)
        self.min_fraction = min_fraction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pixel_loss = F.cross_entropy(logits, labels, weight=self.weight, ignore_index=self.ignore_index,
                                     reduction="none").flatten()
        valid = pixel_loss[(labels != self.ignore_index).flatten()]
        if valid.numel() == 0:
            return logits.sum() * 0.0
        hard = valid[valid > self.loss_threshold]
        keep = max(1, int(valid.numel() * self.min_fraction))
        if hard.numel() < keep:
            hard = valid.topk(keep).values
        return hard.mean()


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true) ** gamma."""

    def __init__(self, ignore_index: int, weight: Optional[torch.Tensor] = None, gamma: float = 2.0) -> None:
        super().__init__()
        self.ignore_index, self.weight, self.gamma = ignore_index, weight, gamma

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=1)
        valid = labels != self.ignore_index
        safe = torch.where(valid, labels, torch.zeros_like(labels))
        log_p_true = log_p.gather(1, safe.unsqueeze(1)).squeeze(1)
        loss = -((1 - log_p_true.exp()) ** self.gamma) * log_p_true
        if self.weight is not None:
            loss = loss * self.weight[safe]
        count = valid.sum()
        return (loss * valid).sum() / count.clamp(min=1)


def make_criterion(name: str, ignore_index: int, weight: Optional[torch.Tensor] = None) -> nn.Module:
    if name == "ce":
        return nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index)
    if name == "ohem":
        return OhemCrossEntropy(ignore_index, weight)
    if name == "focal":
        return FocalLoss(ignore_index, weight)
    raise ValueError("loss {!r} is not one of {}".format(name, ", ".join(LOSSES)))


def segmentation_loss(outputs: Union[torch.Tensor, Dict[str, torch.Tensor]], labels: torch.Tensor,
                      criterion: nn.Module, aux_weights: Optional[Dict[str, float]] = None,
                      mixup: Optional[Tuple[torch.Tensor, float]] = None) -> torch.Tensor:
    """Main loss plus weighted auxiliary losses (the model contract in edgeseg.workstation.models). With `mixup` (the
    partner labels, lam) from BatchMix: lam * that loss on `labels` + (1 - lam) * that loss on the partner's."""
    if mixup is not None:
        partner, lam = mixup
        return (lam * segmentation_loss(outputs, labels, criterion, aux_weights)
                + (1 - lam) * segmentation_loss(outputs, partner, criterion, aux_weights))
    if isinstance(outputs, torch.Tensor):
        return criterion(_to_label_size(outputs, labels), labels)
    loss = criterion(_to_label_size(outputs["out"], labels), labels)
    for name, weight in (aux_weights or {}).items():
        loss = loss + weight * criterion(_to_label_size(outputs[name], labels), labels)
    return loss
