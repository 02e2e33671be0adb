"""ENet (`enet`: max-unpooling decoder; `enet_deconv`: transposed-conv decoder, TensorRT-safe)."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_export_parity

from edgeseg.errors import ArtifactError
from edgeseg.workstation.models import build_model, model_preprocess
from edgeseg.workstation.models.enet import (
    ENet,
    build_enet,
    build_enet_deconv,
    is_pytorch_enet_layout,
    map_pytorch_enet_keys,
    to_pytorch_enet_layout,
)

VARIANTS = ("enet", "enet_deconv")
CHECKPOINT = os.path.join("weights", "enet_camvid_davidtvs_921e40c.pt")
CHECKPOINT_KEYS = os.path.join("weights", "enet_camvid_davidtvs_921e40c.keys.txt")
ENET_PARAMETERS = 359780  # trainable; + 8,608 BatchNorm running statistics = the checkpoint's 368,388
ENET_STATE_ELEMENTS = 368388
DECONV_EXTRA = 64 * 64 * 4 + 16 * 16 * 4  # the two 2x2 transposed convs replacing max-unpooling


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """ENet is ~300 small ops a forward: on a busy 2-core machine, OpenMP threads waiting on each other
    made a 480x360 forward 4.7 s instead of 0.11 s on one thread (measured here). One thread, restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _build(name, num_classes=12, seed=0):
    torch.manual_seed(seed)
    return build_model(name, num_classes)


def _state_elements(model):
    return sum(v.numel() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))


def _randomised(model, seed=1):
    """Give every float tensor (weights, PReLU slopes, BN statistics) distinct non-default values."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                noise = torch.rand(value.shape, generator=generator)
                value.copy_(noise + 0.5 if key.endswith("running_var") else noise - 0.5)
    return model


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("size", [(480, 360), (512, 256)])
def test_eval_output_is_logits_at_input_resolution(name, size):
    width, height = size
    model = _build(name, 12)
    assert not model.training
    with torch.no_grad():
        out = model(torch.rand(1, 3, height, width))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 12, height, width)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", VARIANTS)
def test_sizes_must_be_multiples_of_8(name):
    model = _build(name, 4)
    with pytest.raises(ValueError, match="multiples of 8"):
        model(torch.rand(1, 3, 100, 128))  # 100 / 8 is not whole


@pytest.mark.parametrize("name", VARIANTS)
def test_train_mode_returns_a_tensor_and_every_parameter_gets_a_gradient(name):
    model = _build(name, 5).train()
    x = torch.rand(2, 3, 64, 96)
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5, 64, 96)
    target = torch.randint(0, 5, (2, 64, 96), generator=torch.Generator().manual_seed(0))
    F.cross_entropy(out, target).backward()
    without = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not without
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_dropout_is_spatial_and_inactive_in_eval():
    model = _build("enet", 4)
    rates = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout2d)}
    assert rates == {0.01, 0.1}
    assert model.regular1_1.ext_regul.p == 0.01 and model.regular2_1.ext_regul.p == 0.1
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_parameter_counts():
    enet, deconv = _build("enet"), _build("enet_deconv")
    assert sum(p.numel() for p in enet.parameters()) == ENET_PARAMETERS
    assert _state_elements(enet) == ENET_STATE_ELEMENTS
    assert sum(p.numel() for p in deconv.parameters()) == ENET_PARAMETERS + DECONV_EXTRA
    assert DECONV_EXTRA / ENET_PARAMETERS < 0.10  # +4.8%
    assert not any(isinstance(m, torch.nn.MaxUnpool2d) for m in deconv.modules())
    assert not any(getattr(m, "return_indices", False) for m in deconv.modules())


def test_structure_follows_the_paper_and_the_checkpoint():
    model = _build("enet")
    # PReLU: one slope inside the branches, one per channel after each residual sum
    assert model.regular1_1.ext_conv1[2].weight.shape == (1,)
    assert model.regular1_1.out_prelu.weight.shape == (64,)
    assert model.initial_block.out_prelu.weight.shape == (16,)
    assert model.initial_block.main_branch.out_channels == 13
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convs and all(m.bias is None for m in convs)
    assert model.asymmetric2_3.ext_conv2[0].kernel_size == (5, 1)
    assert model.asymmetric2_3.ext_conv2[3].kernel_size == (1, 5)
    assert [model.dilated2_2.ext_conv2[0].dilation, model.dilated2_4.ext_conv2[0].dilation,
            model.dilated2_6.ext_conv2[0].dilation, model.dilated2_8.ext_conv2[0].dilation] == [(2, 2), (4, 4),
                                                                                                 (8, 8), (16, 16)]
    final = model.transposed_conv
    assert (final.in_channels, final.kernel_size, final.stride, final.padding, final.output_padding) == (
        16, (3, 3), (2, 2), (1, 1), (1, 1))
    assert model_preprocess("enet") == model_preprocess("enet_deconv") == {
        "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "color_order": "rgb", "scale": 1 / 255.0}


def test_pytorch_enet_layout_round_trip(tmp_path):
    """A fresh enet saved the way PyTorch-ENet saves it loads back, tensor for tensor, through the mapping."""
    model = _randomised(_build("enet", 12)).eval()
    theirs = to_pytorch_enet_layout(model.state_dict())
    assert len(theirs) == 554 and not any("num_batches_tracked" in k for k in theirs)
    assert list(theirs)[0] == "initial_block.main_branch.weight" and list(theirs)[-1] == "transposed_conv.weight"
    expected_shapes = {
        "downsample1_0.ext_conv1.0.weight": (4, 16, 2, 2),  # 2x2 stride-2 projection
        "regular1_1.ext_conv1.2.weight": (1,),  # PReLU inside the branch: one slope
        "regular1_1.out_prelu.weight": (64,),  # PReLU after the sum: per channel
        "asymmetric2_3.ext_conv2.3.weight": (32, 32, 1, 5),
        "asymmetric2_3.ext_conv2.5.weight": (1,),
        "upsample4_0.main_conv1.0.weight": (64, 128, 1, 1),
        "upsample4_0.main_conv1.1.running_var": (64,),
        "upsample5_0.ext_conv2.0.weight": (16, 16, 3, 3),  # the 3x3 transposed conv
        "transposed_conv.weight": (16, 12, 3, 3),
    }
    for key, shape in expected_shapes.items():
        assert tuple(theirs[key].shape) == shape, key
    assert is_pytorch_enet_layout(theirs) and not is_pytorch_enet_layout(model.state_dict())

    mapped = map_pytorch_enet_keys({"module." + k: v for k, v in theirs.items()})  # DataParallel-saved
    own = model.state_dict()
    assert list(sorted(mapped)) == list(sorted(own))
    assert all(torch.equal(mapped[k], own[k]) for k in own if not k.endswith("num_batches_tracked"))
    assert all(int(mapped[k]) == 0 for k in mapped if k.endswith("num_batches_tracked"))

    path = str(tmp_path / "ENet_layout.pt")
    torch.save(theirs, path)
    loaded = build_enet(12, path).eval()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in theirs.items())
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))

    torch.save({"state_dict": model.state_dict()}, str(tmp_path / "own.pt"))  # this model's own layout
    assert torch.equal(build_enet(12, str(tmp_path / "own.pt")).eval()(x).detach(), model(x).detach())


def test_strict_loading_names_the_mismatch(tmp_path):
    theirs = to_pytorch_enet_layout(_build("enet", 12).state_dict())
    cases = {
        "missing": {k: v for k, v in theirs.items() if k != "regular5_1.out_prelu.weight"},
        "unexpected": dict(theirs, **{"extra.weight": torch.zeros(1)}),
    }
    for name, state in cases.items():
        path = str(tmp_path / (name + ".pt"))
        torch.save(state, path)
        with pytest.raises(ArtifactError, match="do not fit enet"):
            build_enet(12, path)
    path = str(tmp_path / "twelve.pt")
    torch.save(theirs, path)
    with pytest.raises(ArtifactError, match="other shape 1"):
        build_enet(11, path)  # transposed_conv has 12 outputs
    with pytest.raises(ArtifactError, match="do not fit enet_deconv"):
        build_enet_deconv(12, path)  # no pretrained decoder for the deconv variant
    with pytest.raises(ArtifactError, match="not found"):
        build_enet(12, str(tmp_path / "absent.pt"))


def test_enet_deconv_loads_its_own_state_dict(tmp_path):
    model = _randomised(_build("enet_deconv", 7)).eval()
    path = str(tmp_path / "deconv.pt")
    torch.save(model.state_dict(), path)
    loaded = build_enet_deconv(7, path).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_deconv_upsampling_starts_as_nearest_neighbour():
    block = ENet(4, unpool=False).upsample5_0.main_tconv1
    x = torch.rand(1, 16, 5, 7)
    with torch.no_grad():
        assert torch.allclose(block(x), F.interpolate(x, scale_factor=2, mode="nearest"))


def test_enet_deconv_exports_for_tensorrt(tmp_path):
    """TorchScript exporter, opset 17, no MaxUnpool (nor its dynamo form ScatterND), no MaxPool indices."""
    import onnx

    from edgeseg.workstation.export import export

    path = str(tmp_path / "enet_deconv.onnx")
    sidecar = export("enet_deconv", 12, (480, 360), path, log=lambda *_: None)
    assert sidecar["opset"] == 17
    assert_export_parity(sidecar)
    assert not {"MaxUnpool", "ScatterND", "ScatterElements"} & set(sidecar["onnx_ops"])
    graph = onnx.load(path).graph
    assert all(len(n.output) == 1 for n in graph.node if n.op_type == "MaxPool")  # no indices output
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [1, 12, 360, 480]


# --- the real checkpoint and CamVid (../shared/data) -------------------------------------------------------------


def _checkpoint(shared_data):
    path = os.path.join(shared_data, CHECKPOINT)
    if not os.path.isfile(path):
        pytest.skip("{} not found (set EDGESEG_SHARED_DATA)".format(path))
    return path


@pytest.mark.shared_data
def test_key_list_matches_the_checkpoints(shared_data):
    """The layout written by to_pytorch_enet_layout is the checkpoint's, key for key, in order, with shapes."""
    listing = os.path.join(shared_data, CHECKPOINT_KEYS)
    if not os.path.isfile(listing):
        pytest.skip("{} not found".format(listing))
    expected = [line.split("\t") for line in open(listing).read().splitlines() if line.strip()]
    ours = [[k, str(tuple(v.shape))] for k, v in to_pytorch_enet_layout(_build("enet", 12).state_dict()).items()]
    assert ours == expected


@pytest.mark.shared_data
@pytest.mark.slow
def test_pretrained_camvid_checkpoint_reaches_50_miou_on_val(shared_data):
    """All 101 CamVid val images at 480x360, RGB in [0, 1]; argmax over the 12 outputs, void (11) ignored,
    a void prediction counts as wrong. Measured: 65.7% mIoU (the README's about 53% is on the test split)."""
    import cv2

    from edgeseg.metrics import ConfusionMatrix

    model = build_model("enet", 12, _checkpoint(shared_data))
    assert sum(p.numel() for p in model.parameters()) == ENET_PARAMETERS
    assert _state_elements(model) == ENET_STATE_ELEMENTS
    root = os.path.join(shared_data, "camvid")
    pairs = [line.split() for line in open(os.path.join(root, "val.txt")).read().splitlines() if line.strip()]
    assert len(pairs) == 101
    matrix = ConfusionMatrix(11, ignore_index=11)
    with torch.no_grad():
        for image_path, label_path in pairs:
            image = cv2.imread(os.path.join(root, image_path), cv2.IMREAD_COLOR)
            label = cv2.imread(os.path.join(root, label_path), cv2.IMREAD_UNCHANGED)
            assert image.shape == (360, 480, 3) and label.shape == (360, 480)
            rgb = np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32) / 255.0
            prediction = model(torch.from_numpy(rgb)[None]).argmax(1)[0].numpy()
            matrix.update(prediction, label)
    miou = matrix.mean_iou()
    print("enet CamVid val mIoU {:.4f} ({} images)".format(miou, len(pairs)))
    assert miou >= 0.50


def test_paper_enet_exports_with_the_dynamo_exporter_for_onnxruntime(tmp_path):
    """The TorchScript exporter fails on max_unpool2d: `enet` goes through the dynamo exporter
    (opset > 17, ScatterND for max-unpooling): an ONNX Runtime model, not a TensorRT one."""
    from edgeseg.workstation.export import OPSET, export

    record = export("enet", 12, (160, 96), str(tmp_path / "enet.onnx"), log=lambda *_: None)
    assert record["opset"] > OPSET and "dynamo" in record["exporter"]
    assert_export_parity(record)
    assert "ScatterND" in record["onnx_ops"]
