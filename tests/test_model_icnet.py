"""ICNet (ResNet-18 and MobileNetV3 backbones): contract, cascade resolutions, size, weights, ONNX export."""
import onnx
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_export_parity

from edgeseg.errors import ArtifactError, ConfigError
from edgeseg.workstation.export import OPSET, export
from edgeseg.workstation.models import build_model
from edgeseg.workstation.models.icnet import AUX_WEIGHTS, pool_window

MODELS = ("icnet_resnet18", "icnet_mobilenetv3")
# Our parameter counts (19 classes): 11.81 M and 3.71 M. No published figure exists for these backbones;
# the bounds are the backbone alone (ResNet-18 without fc 11.18 M, MobileNetV3-Large features 2.97 M)
# below and the task's budget (13 M, 5 M) above.
PARAM_BOUNDS = {"icnet_resnet18": (11.18e6, 13e6), "icnet_mobilenetv3": (2.97e6, 5e6)}


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    torch.manual_seed(0)
    return request.param, build_model(request.param, 5)


@pytest.mark.parametrize("width,height", [(256, 128), (512, 256)])
def test_eval_returns_one_logits_tensor_at_input_size(model, width, height):
    _, net = model
    with torch.no_grad():
        out = net.eval()(torch.randn(2, 3, height, width))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5, height, width)


def test_train_mode_dict_matches_aux_weights_and_backward_reaches_every_parameter(model):
    _, net = model
    net.train()
    try:
        x, target = torch.randn(2, 3, 128, 256), torch.randint(0, 5, (2, 128, 256))
        out = net(x)
        assert set(out) == {"out"} | set(net.aux_weights) and net.aux_weights == AUX_WEIGHTS
        assert all(logits.shape == (2, 5, 128, 256) for logits in out.values())
        loss = F.cross_entropy(out["out"], target) + sum(
            weight * F.cross_entropy(out[name], target) for name, weight in net.aux_weights.items())
        net.zero_grad()
        loss.backward()
        missing = [name for name, p in net.named_parameters()
                   if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
        assert not missing
    finally:
        net.eval()


def test_branches_run_at_full_half_and_quarter_resolution(model):
    _, net = model
    seen = {}
    hooks = [getattr(net, part).register_forward_hook(
        lambda module, inputs, output, part=part: seen.update({part: (inputs[0], output)}))
        for part in ("sub1", "medium", "low")]
    try:
        x = torch.randn(1, 3, 256, 512)
        with torch.no_grad():
            sub1, sub2, sub4 = net.eval().branches(x)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen["sub1"][0].shape[-2:] == (256, 512)  # full-resolution image
    assert seen["medium"][0].shape[-2:] == (128, 256)  # 1/2 image through the shared first stages
    assert torch.equal(seen["low"][0], F.avg_pool2d(seen["medium"][1], 2))  # 1/4 branch continues them
    assert seen["low"][0].shape[-2:] == seen["low"][1].shape[-2:] == (8, 16)  # 1/4 image at stride 8, dilated
    assert (sub1.shape[-2:], sub2.shape[-2:], sub4.shape[-2:]) == ((32, 64), (16, 32), (8, 16))  # 1/8, 1/16, 1/32


def test_parameter_counts(model):
    name, _ = model
    count = sum(p.numel() for p in build_model(name, 19).parameters())
    print("{}: {:.2f} M parameters".format(name, count / 1e6))
    low, high = PARAM_BOUNDS[name]
    assert low < count < high


@pytest.mark.parametrize("size", [4, 8, 16, 33, 65])
@pytest.mark.parametrize("bins", [2, 3, 6])
def test_pyramid_windows_tile_the_map_and_match_adaptive_pooling_when_divisible(size, bins):
    kernel, stride = pool_window(size, bins)
    assert (size - kernel) // stride + 1 == min(bins, size) and (min(bins, size) - 1) * stride + kernel == size
    if size % bins == 0:
        x = torch.randn(1, 2, size, size)
        assert torch.allclose(F.avg_pool2d(x, kernel, stride), F.adaptive_avg_pool2d(x, bins))


@pytest.mark.parametrize("name", MODELS)
def test_weights_from_a_file_and_bad_names(tmp_path, name):
    source = build_model(name, 3)
    path = str(tmp_path / "w.pth")
    torch.save(source.state_dict(), path)
    loaded = build_model(name, 3, path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in source.state_dict().items())
    with pytest.raises(ArtifactError, match="torchvision weights name"):
        build_model(name, 3, "COCO_WITH_VOC_LABELS_V1")


@pytest.mark.parametrize("name", MODELS)
def test_export_is_tensorrt_friendly_and_matches_pytorch(tmp_path, name):
    path = str(tmp_path / "i.onnx")
    record = export(name, 19, (512, 256), path, log=lambda *_: None)
    assert_export_parity(record)
    graph = onnx.load(path)
    assert {(o.domain, o.version) for o in graph.opset_import} == {("", OPSET)}
    assert all(node.domain in ("", "ai.onnx") for node in graph.graph.node)
    ops = set(record["onnx_ops"])
    assert "MaxUnpool" not in ops and not any(op.startswith("Adaptive") for op in ops)
    assert {"AveragePool", "GlobalAveragePool", "Resize"} <= ops
    out = graph.graph.output[0]
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 19, 256, 512]


def test_dynamic_export_is_refused_with_a_reason(tmp_path):
    with pytest.raises(ConfigError, match="cannot be --dynamic"):
        export("icnet_resnet18", 19, (512, 256), str(tmp_path / "i.onnx"), dynamic=True, log=lambda *_: None)
    assert not (tmp_path / "i.onnx").exists()
