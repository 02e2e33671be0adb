import math

import pytest
import torch
import torch.nn.functional as F

from edgeseg.workstation.losses import FocalLoss, OhemCrossEntropy, make_criterion, segmentation_loss


def test_focal_with_gamma_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 4, 5, 6), torch.randint(0, 4, (2, 5, 6))
    labels[0, 0, :] = 255
    expected = F.cross_entropy(logits, labels, ignore_index=255)
    assert FocalLoss(255, gamma=0.0)(logits, labels).item() == pytest.approx(expected.item(), rel=1e-5)


def test_focal_down_weights_easy_pixels():
    labels = torch.zeros(1, 1, 2, dtype=torch.long)
    logits = torch.tensor([[[[5.0, 0.0]], [[0.0, 0.0]]]])  # pixel 0 easy, pixel 1 uncertain
    per_pixel_ce = F.cross_entropy(logits, labels, reduction="none")[0, 0]
    focal = FocalLoss(255, gamma=2.0)(logits, labels)
    p = torch.exp(-per_pixel_ce)
    assert focal.item() == pytest.approx((((1 - p) ** 2) * per_pixel_ce).mean().item(), rel=1e-5)


def test_ohem_keeps_only_hard_pixels_but_at_least_the_minimum():
    labels = torch.zeros(1, 1, 4, dtype=torch.long)
    confident = torch.tensor([[[[9.0, 9.0, 9.0, -9.0]], [[0.0, 0.0, 0.0, 0.0]]]])
    pixel = F.cross_entropy(confident, labels, reduction="none").flatten()
    hard_only = OhemCrossEntropy(255, threshold=0.7, min_fraction=0.25)(confident, labels)
    assert hard_only.item() == pytest.approx(pixel[3].item())  # only pixel 3 has p < 0.7
    at_least_half = OhemCrossEntropy(255, threshold=0.7, min_fraction=0.5)(confident, labels)
    assert at_least_half.item() == pytest.approx(pixel.topk(2).values.mean().item())


def test_ignore_index_everywhere_gives_zero_not_nan():
    labels = torch.full((1, 3, 3), 255, dtype=torch.long)
    logits = torch.randn(1, 2, 3, 3, requires_grad=True)
    for name in ("ohem", "focal"):
        loss = make_criterion(name, 255)(logits, labels)
        assert loss.item() == 0.0 and not math.isnan(loss.item())


def test_class_weights_are_applied():
    logits, labels = torch.randn(1, 3, 4, 4), torch.randint(0, 3, (1, 4, 4))
    weight = torch.tensor([1.0, 2.0, 0.5])
    ce = make_criterion("ce", 255, weight)(logits, labels)
    assert ce.item() == pytest.approx(F.cross_entropy(logits, labels, weight=weight).item(), rel=1e-6)


def test_aux_heads_are_upsampled_and_weighted():
    labels = torch.randint(0, 3, (2, 8, 8))
    main, aux = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 4, 4)
    criterion = make_criterion("ce", 255)
    total = segmentation_loss({"out": main, "aux": aux}, labels, criterion, {"aux": 0.4})
    aux_up = F.interpolate(aux, size=(8, 8), mode="bilinear", align_corners=False)
    expected = F.cross_entropy(main, labels) + 0.4 * F.cross_entropy(aux_up, labels)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert segmentation_loss(main, labels, criterion).item() == pytest.approx(F.cross_entropy(main, labels).item())
