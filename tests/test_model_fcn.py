"""FCN on ResNets (fcn_resnet18 = jetson-inference's FCN-ResNet18, fcn_resnet50 = torchvision's, FCN-8s skips):
the model contract, output strides, torchvision equivalence, sizes, weights, ONNX export for TensorRT 8.5."""
import onnx
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_export_parity
from torchvision.models import resnet18
from torchvision.models.segmentation import fcn_resnet50
from torchvision.models.segmentation.fcn import FCNHead

from edgeseg.errors import ArtifactError
from edgeseg.workstation.export import OPSET, export
from edgeseg.workstation.models import build_model

MODELS = ("fcn_resnet18", "fcn8s_resnet18", "fcn_resnet50", "fcn8s_resnet50")
STRIDES = {"fcn_resnet18": 32, "fcn8s_resnet18": 8, "fcn_resnet50": 8, "fcn8s_resnet50": 8}
# torchvision's documented fcn_resnet50 count (COCO_WITH_VOC_LABELS_V1: 21 classes, aux head included)
TORCHVISION_FCN_RESNET50 = 35_322_218
TENSORRT_85_OPS = {"Add", "Concat", "Constant", "Conv", "MaxPool", "Relu", "Resize", "Shape", "Slice", "Gather",
                   "Cast", "Unsqueeze"}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_eval_returns_logits_at_the_head_stride(name):
    torch.manual_seed(0)
    with torch.no_grad():
        out = build_model(name, 5)(torch.randn(2, 3, 128, 256))
    stride = STRIDES[name]
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5, 128 // stride, 256 // stride)


@pytest.mark.parametrize("name", ["fcn_resnet18", "fcn8s_resnet18"])
def test_train_mode_adds_the_aux_head_and_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = build_model(name, 5).train()
    out = model(torch.randn(2, 3, 64, 128))
    assert set(out) == {"out", "aux"} and model.aux_weights == {"aux": 0.5}
    assert out["aux"].shape == (2, 5, 4, 8)  # layer3, stride 16
    (out["out"].mean() + out["aux"].mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


def test_fcn8s_starts_as_fcn32s_and_fuses_pool4_and_pool3():
    torch.manual_seed(0)
    model = build_model("fcn8s_resnet18", 4)
    x = torch.randn(1, 3, 128, 192)
    with torch.no_grad():
        coarse = model.classifier(model.backbone(x)["out"])
        out = model(x)
        upsampled = F.interpolate(F.interpolate(coarse, size=(8, 12), mode="bilinear", align_corners=False),
                                  size=(16, 24), mode="bilinear", align_corners=False)
        assert torch.allclose(out, upsampled, atol=1e-6)  # zero score convs: FCN-32s upsampled to stride 8
        torch.nn.init.normal_(model.score_pool3.weight)
        features = model.backbone(x)
        assert torch.allclose(model(x) - out, model.score_pool3(features["pool3"]), atol=1e-5)


def test_fcn_resnet18_is_the_resnet18_trunk_plus_torchvision_fcn_heads():
    """jetson-inference's layout (dusty-nv/pytorch-segmentation: torchvision FCN on an undilated ResNet-18)."""
    trunk = resnet18()
    trunk_params = count(trunk) - count(trunk.fc)
    model = build_model("fcn_resnet18", 21)
    assert count(model.backbone) == trunk_params
    assert count(model) == trunk_params + count(FCNHead(512, 21)) + count(FCNHead(256, 21))


def test_fcn_resnet50_is_torchvisions_model():
    assert count(build_model("fcn_resnet50", 21)) == TORCHVISION_FCN_RESNET50
    torch.manual_seed(0)
    reference = fcn_resnet50(weights=None, weights_backbone=None, num_classes=3, aux_loss=True).eval()
    model = build_model("fcn_resnet50", 3)
    model.load_state_dict(reference.state_dict())  # same module names
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ours = F.interpolate(model(x), size=(64, 96), mode="bilinear", align_corners=False)
        assert torch.allclose(ours, reference(x)["out"], atol=1e-5)


def test_weights_from_a_file_and_bad_names(tmp_path):
    torch.manual_seed(2)
    source = build_model("fcn8s_resnet18", 3)
    torch.nn.init.normal_(source.score_pool4.weight)
    path = str(tmp_path / "f.pth")
    torch.save(source.state_dict(), path)
    loaded = build_model("fcn8s_resnet18", 3, path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in source.state_dict().items())
    with pytest.raises(ArtifactError, match="weights do not fit"):
        build_model("fcn_resnet18", 3, path)  # no skip convs there
    with pytest.raises(ArtifactError, match="torchvision weights name"):
        build_model("fcn_resnet18", 3, "COCO_WITH_VOC_LABELS_V1")


@pytest.mark.parametrize("name", MODELS)
def test_exports_at_opset17_with_parity_and_tensorrt_ops(name, tmp_path):
    path = str(tmp_path / "f.onnx")
    record = export(name, 6, (128, 64), path, log=lambda *_: None)
    assert record["opset"] == OPSET
    assert_export_parity(record)
    assert set(record["onnx_ops"]) <= TENSORRT_85_OPS, set(record["onnx_ops"]) - TENSORRT_85_OPS
    out = onnx.load(path).graph.output[0]
    stride = STRIDES[name]
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 6, 64 // stride, 128 // stride]
