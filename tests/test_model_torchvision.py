"""The torchvision-based models: deeplabv3_mobilenetv3, lraspp_mobilenetv3, deeplabv3plus_mobilenetv3."""
import pytest
import torch
from conftest import assert_export_parity

from edgeseg.artifacts import read_sidecar
from edgeseg.workstation.export import export
from edgeseg.workstation.models import build_model

# (model, reference parameter count, its class count): torchvision's documented figures
REFERENCES = [("deeplabv3_mobilenetv3", 11_029_328, 21), ("lraspp_mobilenetv3", 3_221_538, 21),
              ("deeplabv3plus_mobilenetv3", 11_029_328, 21)]


@pytest.mark.parametrize("name,reference,classes", REFERENCES)
def test_parameter_count_within_ten_percent_of_reference(name, reference, classes):
    params = sum(p.numel() for p in build_model(name, classes).parameters())
    assert abs(params / reference - 1) < 0.10


@pytest.mark.parametrize("name", [r[0] for r in REFERENCES])
def test_forward_backward_and_output_size(name):
    torch.manual_seed(0)
    model = build_model(name, 5).train()
    x = torch.randn(2, 3, 96, 160)
    out = model(x)
    assert out.shape == (2, 5, 96, 160)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["lraspp_mobilenetv3", "deeplabv3plus_mobilenetv3"])
def test_exports_at_opset17_with_parity(name, tmp_path):
    record = export(name, 6, (160, 96), str(tmp_path / "m.onnx"), log=lambda *_: None)
    assert record["opset"] == 17
    assert_export_parity(record)
    assert read_sidecar(str(tmp_path / "m.onnx"))["model"] == name
