"""U-Net: the paper's layout and size, the width factor, odd input sizes (pad, then crop) in PyTorch and through
ONNX export, weights, and --width only where a model takes it."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_export_parity

from edgeseg.errors import ArtifactError, ConfigError
from edgeseg.workstation.export import OPSET, RANDOM_INIT_SEED, export
from edgeseg.workstation.models import build_model
from edgeseg.workstation.models.unet import level_channels, pad_to_multiple


def paper_layout_params(in_channels: int = 1, classes: int = 2) -> int:
    """Ronneberger et al.'s U-Net counted from its figure: 3x3 convs with biases, no BN, 2x2 up-convs."""
    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + c_out
    channels, total, previous = (64, 128, 256, 512, 1024), 0, in_channels
    for c in channels:
        total, previous = total + conv(previous, c, 3) + conv(c, c, 3), c
    for high, low in zip(channels[:0:-1], channels[-2::-1]):
        total += conv(high, low, 2) + conv(2 * low, low, 3) + conv(low, low, 3)
    return total + conv(64, classes, 1)


def test_parameter_count_matches_the_paper_layout_and_width_scales_it():
    assert paper_layout_params() == 31_030_658
    full = sum(p.numel() for p in build_model("unet", 2).parameters())
    assert abs(full / paper_layout_params() - 1) < 0.001, full  # + BN, - conv biases, 3 input channels
    quarter = sum(p.numel() for p in build_model("unet", 2, width=0.25).parameters())
    assert abs(quarter / full - 1 / 16) < 0.005, quarter


def test_level_channels():
    assert level_channels(1.0) == [64, 128, 256, 512, 1024]
    assert level_channels(0.25) == [16, 32, 64, 128, 256]
    assert level_channels(0.001) == [1, 2, 4, 8, 16]
    with pytest.raises(ConfigError, match="positive"):
        level_channels(0)


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return build_model("unet", 5, width=0.25)


@pytest.mark.parametrize("height,width", [(64, 96), (75, 100), (17, 33), (1, 1)])
def test_any_size_gives_logits_at_input_size(small, height, width):
    with torch.no_grad():
        out = small(torch.randn(2, 3, height, width))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5, height, width)


def test_odd_sizes_are_padded_with_zeros_then_cropped(small):
    x = torch.randn(1, 3, 75, 100)
    padded = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (80, 112) and torch.equal(padded, F.pad(x, (0, 12, 0, 5)))
    with torch.no_grad():
        assert torch.allclose(small(x), small(padded)[:, :, :75, :100], atol=1e-6)


def test_train_mode_returns_logits_and_every_parameter_gets_a_gradient(small):
    small.train()
    try:
        out = small(torch.randn(2, 3, 48, 80))
        assert isinstance(out, torch.Tensor) and out.shape == (2, 5, 48, 80)
        small.zero_grad()
        out.mean().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in small.parameters())
    finally:
        small.eval()


def test_weights_round_trip_at_their_width(tmp_path):
    source = build_model("unet", 3, width=0.25)
    path = str(tmp_path / "u.pth")
    torch.save(source.state_dict(), path)
    loaded = build_model("unet", 3, path, width=0.25)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in source.state_dict().items())
    with pytest.raises(ArtifactError, match="weights do not fit"):
        build_model("unet", 3, path)  # width 1


def test_width_is_refused_for_models_without_one():
    with pytest.raises(ConfigError, match="fcn_resnet18 takes no --width .*unet"):
        build_model("fcn_resnet18", 3, width=0.5)


@pytest.mark.parametrize("width,height", [(100, 75), (33, 17)])
def test_odd_sizes_export_with_parity_and_constant_padding(tmp_path, width, height):
    path = str(tmp_path / "u.onnx")
    record = export("unet", 4, (width, height), path, width=0.25, log=lambda *_: None)
    assert record["opset"] == OPSET
    assert_export_parity(record)
    assert record["width"] == 0.25
    # zeros appended by Concat, logits cropped by Slice with constant bounds: no Pad, no Shape arithmetic
    assert set(record["onnx_ops"]) == {"Concat", "Constant", "Conv", "ConvTranspose", "MaxPool", "Relu", "Slice"}
    graph = onnx.load(path).graph
    constants = {n.output[0] for n in graph.node if n.op_type == "Constant"} | {i.name for i in graph.initializer}
    assert all(set(n.input[1:]) <= constants for n in graph.node if n.op_type == "Slice")
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [1, 4, height, width]


def test_dynamic_export_at_a_multiple_of_16_runs_other_multiples(tmp_path):
    path = str(tmp_path / "u.onnx")
    record = export("unet", 4, (96, 64), path, width=0.125, dynamic=True, log=lambda *_: None)
    assert "Slice" not in record["onnx_ops"]
    assert_export_parity(record)
    torch.manual_seed(RANDOM_INIT_SEED)  # the model export built
    model = build_model("unet", 4, width=0.125)
    x = np.random.RandomState(0).standard_normal((2, 3, 48, 160)).astype(np.float32)
    actual = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert actual.shape == (2, 4, 48, 160) and np.abs(actual - expected).max() < 1e-4
    with pytest.raises(ConfigError, match="multiples of 16"):
        export("unet", 4, (100, 75), str(tmp_path / "v.onnx"), width=0.125, dynamic=True, log=lambda *_: None)
