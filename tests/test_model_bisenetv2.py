"""BiSeNetV2: the model contract (eval logits, train-mode booster dict), gradients, size, ONNX export."""
import numpy as np
import pytest
import torch
from conftest import assert_export_parity

from edgeseg.errors import ConfigError
from edgeseg.workstation.export import RANDOM_INIT_SEED, export
from edgeseg.workstation.models import build_model, model_preprocess

# CoinCheung/BiSeNet lib/models/bisenetv2_old.py (commit c6d7405a), 19 classes, aux heads left out,
# counted on its layout instantiated from that source; mmsegmentation's BiSeNetV2 + FCNHead: 3,358,883.
REFERENCE_PARAMS = 3_358_627
AUX = ("aux2", "aux3", "aux4", "aux5_4")
# onnx-tensorrt 8.5 operators.md lists these (and more); what this model may use.
TENSORRT_85_OPS = {"Add", "AveragePool", "BatchNormalization", "Concat", "Constant", "Conv", "Identity",
                   "MaxPool", "Mul", "ReduceMean", "Relu", "Resize", "Sigmoid", "GlobalAveragePool"}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("bisenetv2", 5)


@pytest.mark.parametrize("height,width", [(128, 256), (256, 512)])
def test_eval_returns_logits_at_input_size(model, height, width):
    with torch.no_grad():
        out = model.eval()(torch.randn(2, 3, height, width))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5, height, width)


def test_train_returns_booster_dict_and_every_parameter_gets_a_gradient(model):
    model.train().zero_grad()
    out = model(torch.randn(2, 3, 64, 96))
    assert set(out) == {"out"} | set(AUX) and set(model.aux_weights) == set(AUX)
    assert all(w == 1.0 for w in model.aux_weights.values())
    assert all(v.shape == (2, 5, 64, 96) for v in out.values())
    sum(v.mean() for v in out.values()).backward()
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in params.values())
    for name in ("head",) + AUX:
        assert params[name + ".conv_out.weight"].grad.abs().sum() > 0
    model.eval()


def test_input_not_a_multiple_of_32_is_refused(model):
    with pytest.raises(ConfigError, match="divisible by 32"):
        model.eval()(torch.zeros(1, 3, 100, 96))


def test_parameter_count_matches_the_reference():
    count = sum(p.numel() for n, p in build_model("bisenetv2", 19).named_parameters() if not n.startswith("aux"))
    assert abs(count - REFERENCE_PARAMS) <= 0.1 * REFERENCE_PARAMS, count


def test_preprocess_and_weights_round_trip(tmp_path):
    assert model_preprocess("bisenetv2")["color_order"] == "rgb"
    torch.manual_seed(1)
    source = build_model("bisenetv2", 3)
    path = tmp_path / "b.pth"
    torch.save(source.state_dict(), str(path))
    loaded = build_model("bisenetv2", 3, str(path))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(source(x), loaded(x))


def test_export_parity_and_tensorrt_ops(tmp_path):
    path = str(tmp_path / "b.onnx")
    record = export("bisenetv2", 19, (256, 128), path, dynamic=True, log=lambda *_: None)
    assert_export_parity(record)
    assert set(record["onnx_ops"]) <= TENSORRT_85_OPS, set(record["onnx_ops"]) - TENSORRT_85_OPS
    import onnx
    import onnxruntime as ort

    assert all(o.domain in ("", "ai.onnx") for o in onnx.load(path).opset_import)
    # the same graph at another multiple of 32 agrees with PyTorch
    torch.manual_seed(RANDOM_INIT_SEED)  # the model export built
    reference = build_model("bisenetv2", 19)
    x = np.random.RandomState(0).randn(1, 3, 256, 512).astype(np.float32)
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    assert got.shape == (1, 19, 256, 512)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.999
