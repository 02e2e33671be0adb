"""`edgeseg.quantize`: subset choice, image reading, one calibration -> two INT8 models + a TensorRT
cache, manifests, and refusals. Real ONNX Runtime on real exported models (small, for two cores)."""
import json
import os
import shutil
import struct
import subprocess
import sys

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import PROBE_SIZE, REPO
from onnx import TensorProto, helper

from edgeseg import imageio
from edgeseg import quantize as cal
from edgeseg.artifacts import file_sha256
from edgeseg.errors import ArtifactError, ConfigError, SourceError
from edgeseg.preprocess import Preprocessor, PreprocessSpec
from edgeseg.quantize import collectors, placement, reader, trt_cache
from edgeseg.quantize.ort_compat import int32_bias_overflow

SIZE = (128, 64)
QDQ = {"QuantizeLinear", "DequantizeLinear"}


def quiet(*_):
    pass


def write_png(path, image):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return str(path)


def scene(seed, width=160, height=120):
    from edgeseg.data.synthetic import render_scene

    return render_scene(seed, width, height)[0]


@pytest.fixture(scope="session")
def fp32_model(tmp_path_factory):
    from edgeseg.workstation.export import export

    path = str(tmp_path_factory.mktemp("calib_model") / "lraspp.onnx")
    export("lraspp_mobilenetv3", 4, SIZE, path, log=quiet)
    return path


@pytest.fixture(scope="session")
def street_set(tmp_path_factory):
    from edgeseg.data.synthetic import write_dataset

    return write_dataset(str(tmp_path_factory.mktemp("calib_data") / "street"), 8, 160, 120, seed=7)


@pytest.fixture(scope="session")
def calibrated(fp32_model, street_set, tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrated")
    lines = []
    manifest = cal.calibrate(fp32_model, street_set, num=6, seed=0, method="entropy",
                             out_dir=str(root / "calibration"), log=lines.append)
    folder = os.path.dirname(manifest["path"])
    return {"manifest": manifest, "folder": folder, "log": lines,
            "trt": os.path.join(folder, "lraspp_int8_qdq_trt.onnx"),
            "ort": os.path.join(folder, "lraspp_int8_qdq_ort.onnx"),
            "cache": os.path.join(folder, "lraspp_entropy.cache"), "root": str(root)}


def run(path, image, spec):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: Preprocessor(spec)(image)})[0]


# ------------------------------------------------------------------------------------ the subset


def test_subset_spreads_over_sub_folders_and_file_prefixes_deterministically(tmp_path):
    loose = tmp_path / "loose"
    for group, count in (("seqA", 6), ("seqB/deeper", 6), ("seqC", 2)):
        for i in range(count):
            write_png(loose / group / "{}_{:02d}.png".format(group[-1], i), scene(i, 32, 24))
    chosen = cal.select_subset(str(loose), num=6, seed=3, log=quiet)
    assert len(chosen) == 6 and len(set(chosen)) == 6
    groups = [os.path.relpath(os.path.dirname(p), str(loose)) for p in chosen]
    assert sorted(groups) == sorted(["seqA"] * 2 + [os.path.join("seqB", "deeper")] * 2 + ["seqC"] * 2)
    assert cal.select_subset(str(loose), num=6, seed=3, log=quiet) == chosen
    assert len({tuple(cal.select_subset(str(loose), num=6, seed=s, log=quiet)) for s in range(5)}) > 1

    camvid = tmp_path / "camvid_like"  # one folder: CamVid's sequence prefix is the group
    for prefix in ("0001TP", "0006R0", "Seq05VD"):
        for i in range(4):
            write_png(camvid / "{}_{:06d}.png".format(prefix, i * 30), scene(i, 32, 24))
    prefixes = sorted(os.path.basename(p).split("_")[0] for p in cal.select_subset(str(camvid), 3, seed=1, log=quiet))
    assert prefixes == ["0001TP", "0006R0", "Seq05VD"]


def test_subset_prefers_images_that_add_classes(tmp_path):
    data = tmp_path / "pairs"  # images/ + labels/ without classes.txt: raw label values stand for classes
    for i in range(6):
        label = np.zeros((24, 32), np.uint8)
        if i == 4:
            label[:, 8:16], label[:, 16:24], label[:, 24:] = 1, 2, 3
        write_png(data / "images" / "{:02d}.png".format(i), scene(i, 32, 24))
        write_png(data / "labels" / "{:02d}.png".format(i), label)
    for seed in range(6):
        assert str(data / "images" / "04.png") in cal.select_subset(str(data), num=2, seed=seed, log=quiet)


def test_subset_from_a_list_file_and_fewer_images_than_asked(tmp_path, street_set):
    listing = tmp_path / "calib.txt"
    images = sorted(os.listdir(os.path.join(street_set, "images")))
    listing.write_text("\n".join(
        [os.path.join(street_set, "images", images[0]) + " " + os.path.join(street_set, "labels", images[0])]
        + [os.path.join(street_set, "images", name) for name in images[1:3]]) + "\n")
    lines = []
    chosen = cal.select_subset(str(listing), num=10, seed=0, log=lines.append)
    assert sorted(chosen) == sorted(os.path.join(street_set, "images", n) for n in images[:3])
    assert len(lines) == 1 and lines[0].startswith("warning:") and "only 3" in lines[0]


def test_empty_or_missing_data_is_a_source_error_naming_it(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here\n")
    with pytest.raises(SourceError, match=str(empty)):
        cal.select_subset(str(empty), log=quiet)
    with pytest.raises(SourceError, match="nowhere"):
        cal.select_subset(str(tmp_path / "nowhere"), log=quiet)
    with pytest.raises(ConfigError):
        cal.select_subset(str(tmp_path), num=0, log=quiet)


# ---------------------------------------------------------------------------------- the reader


def odd_images(folder):
    """Grayscale, gray 16-bit, BGRA, 16-bit colour and an odd-sized JPEG, all from one scene."""
    image = scene(11, 96, 72)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    paths = {
        "gray": write_png(folder / "gray.png", gray),
        "gray16": write_png(folder / "deep" / "gray16.png", gray.astype(np.uint16) * 257),
        "bgra": write_png(folder / "bgra.png", cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)),
        "deep": write_png(folder / "deep" / "colour16.png", image.astype(np.uint16) * 257),
        "odd": str(folder / "odd_37x23.jpg"),
    }
    assert cv2.imwrite(paths["odd"], cv2.resize(image, (37, 23)))
    return image, paths


def test_reader_converts_any_image_to_bgr_uint8(tmp_path):
    image, paths = odd_images(tmp_path / "odd")
    for name, path in paths.items():
        bgr = imageio.read_image(path)
        assert bgr.dtype == np.uint8 and bgr.ndim == 3 and bgr.shape[2] == 3, name
    assert np.array_equal(imageio.read_image(paths["deep"]), image)
    assert np.array_equal(imageio.read_image(paths["bgra"]), image)
    assert np.array_equal(imageio.read_image(paths["gray16"])[:, :, 1], cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    spec = PreprocessSpec(SIZE)
    reader = cal.ImageCalibrationReader(sorted(paths.values()), spec, "input")
    blobs = list(reader)
    assert len(blobs) == 5 and reader.get_next() is None
    assert all(b["input"].shape == (1, 3, 64, 128) and b["input"].dtype == np.float32 for b in blobs)
    reader.rewind()
    assert np.array_equal(reader.get_next()["input"], blobs[0]["input"]) and len(reader) == 5
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(SourceError, match="broken.png"):
        cal.ImageCalibrationReader([str(tmp_path / "broken.png")], spec, "input").get_next()


def test_odd_images_calibrate_with_fewer_than_asked(fp32_model, tmp_path):
    _, paths = odd_images(tmp_path / "odd")
    lines = []
    manifest = cal.calibrate(fp32_model, str(tmp_path / "odd"), num=50, method="minmax",
                             out_dir=str(tmp_path / "calibration"),
                             log=lines.append)
    assert manifest["count"] == 5 and manifest["num"] == 50
    assert any(line.startswith("warning:") and "only 5" in line for line in lines)
    assert sorted(i["path"] for i in manifest["images"]) == sorted(
        os.path.relpath(p, str(tmp_path / "odd")) for p in paths.values())
    assert os.path.basename(os.path.dirname(manifest["path"])).startswith("lraspp_minmax_n5_")
    ranges, meta = cal.load_ranges(os.path.join(os.path.dirname(manifest["path"]), "ranges.json"), fp32_model)
    assert meta["method"] == "minmax" and all(np.isfinite(v).all() for v in ranges.values())


# --------------------------------------------------------------------------- the INT8 artifacts


def producers(model):
    return {out: node for node in model.graph.node for out in node.output}


def test_tensorrt_qdq_model_is_what_tensorrt_85_parses(calibrated, fp32_model):
    original = onnx.load(fp32_model)
    model = onnx.load(calibrated["trt"])
    onnx.checker.check_model(model, full_check=True)
    assert {n.op_type for n in model.graph.node} - QDQ <= {n.op_type for n in original.graph.node}
    assert all(n.domain == "" for n in model.graph.node)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert not [p for p in model.metadata_props if p.key == "onnx.infer"]
    inits = {i.name: i for i in model.graph.initializer}
    assert TensorProto.UINT8 not in {i.data_type for i in model.graph.initializer}
    inferred = onnx.shape_inference.infer_shapes(model)
    assert TensorProto.UINT8 not in {v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    for node in (n for n in model.graph.node if n.op_type in QDQ):
        assert len(node.input) == 3, node.name
        zero_point = onnx.numpy_helper.to_array(inits[node.input[2]])
        assert inits[node.input[2]].data_type == TensorProto.INT8 and not zero_point.any(), node.name
    made = producers(model)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == sum(n.op_type == "Conv" for n in original.graph.node)
    image_layers = [conv for conv in convs if conv.input[0] == model.graph.input[0].name]
    assert image_layers  # the stem reads the image: int8 symmetric cannot hold it, so it stays float, weights too
    for conv in image_layers:
        assert conv.input[1] in inits and inits[conv.input[1]].data_type == TensorProto.FLOAT, conv.name
    for conv in (c for c in convs if c not in image_layers):
        assert made[conv.input[0]].op_type == "DequantizeLinear", conv.name  # activation Q/DQ
        weight_dq = made[conv.input[1]]
        assert weight_dq.op_type == "DequantizeLinear"
        assert made[weight_dq.input[0]].op_type == "QuantizeLinear"  # float weight -> Q -> DQ
        weight = inits[made[weight_dq.input[0]].input[0]]
        assert weight.data_type == TensorProto.FLOAT
        axis = [a.i for a in weight_dq.attribute if a.name == "axis"]
        assert axis == [0] and len(onnx.numpy_helper.to_array(inits[weight_dq.input[1]])) == weight.dims[0]
        if len(conv.input) == 3:  # biases stay float initializers
            assert conv.input[2] in inits and inits[conv.input[2]].data_type == TensorProto.FLOAT
    record = json.load(open(calibrated["trt"] + ".json"))
    assert record["precision"] == "int8" and record["quantization"]["activations"].startswith("int8 symmetric")
    assert record["quantization"]["quantized_nodes"] == len(convs) - len(image_layers)
    assert record["quantization"]["float_nodes"] == record["quantization"]["float_image_layers"] == [
        conv.name for conv in image_layers]
    assert record["parent"] == {"file": "lraspp.onnx", "sha256": json.load(open(fp32_model + ".json"))["sha256"]}
    assert record["preprocess"] == json.load(open(fp32_model + ".json"))["preprocess"]


def test_onnxruntime_model_has_uint8_activations_and_int8_weights(calibrated):
    model = onnx.load(calibrated["ort"])
    inits = {i.name: i for i in model.graph.initializer}
    zero_types = {inits[n.input[2]].data_type for n in model.graph.node if n.op_type == "QuantizeLinear"}
    assert zero_types == {TensorProto.UINT8}
    made = producers(model)
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        weight_dq = made[conv.input[1]]
        assert inits[weight_dq.input[0]].data_type == TensorProto.INT8
    assert all(n.domain == "" for n in model.graph.node)
    assert os.path.getsize(calibrated["ort"]) < 0.4 * os.path.getsize(calibrated["trt"])
    assert json.load(open(calibrated["ort"] + ".json"))["quantization"]["activations"] == "uint8 asymmetric"


@pytest.fixture(scope="session")
def probe_calibrated(probe_onnx, tmp_path_factory):
    """The probe calibrated (minmax) on 6 of 10 probe-labelled scenes."""
    from edgeseg.probe_model import write_probe_dataset

    root = tmp_path_factory.mktemp("probe_calibrated")
    data = write_probe_dataset(str(root / "scenes"), 10, PROBE_SIZE, seed=60)  # extremes in both halves
    manifest = cal.calibrate(probe_onnx, data, num=6, method="minmax", out_dir=str(root / "calibration"), log=quiet)
    folder = os.path.dirname(manifest["path"])
    return {"manifest": manifest, "folder": folder, "data": data,
            "trt": os.path.join(folder, "probe_int8_qdq_trt.onnx"),
            "ort": os.path.join(folder, "probe_int8_qdq_ort.onnx")}


def test_ranges_are_the_manifests_images_recomputed_here(probe_calibrated):
    """minmax ranges and TensorRT scales, recomputed from the images the manifest names (and only those), with
    the probe's tensors computed in numpy."""
    from edgeseg.probe_model import expected_tensors

    manifest = probe_calibrated["manifest"]
    images = []
    for record in manifest["images"]:
        path = os.path.join(manifest["data_root"], record["path"])
        assert file_sha256(path) == record["sha256"]
        images.append(cv2.imread(path))
    assert len(images) == manifest["count"] == 6

    def ranges(subset):
        tensors = [expected_tensors(image, PROBE_SIZE) for image in subset]
        return {name: (float(np.float32(min(t[name].min() for t in tensors))),
                       float(np.float32(max(t[name].max() for t in tensors)))) for name in tensors[0]}

    expected = ranges(images)
    half = len(images) // 2
    assert expected != ranges(images[:half]) and expected != ranges(images[half:])  # either half misses an extreme
    saved, _ = cal.load_ranges(os.path.join(probe_calibrated["folder"], "ranges.json"))
    assert {name: saved[name] for name in expected} == expected
    scales = trt_cache.read(os.path.join(probe_calibrated["folder"],
                                         manifest["outputs"]["tensorrt_cache"]["file"])).scales
    for name, (low, high) in expected.items():
        assert scales[name] == pytest.approx(max(-low, high) / 127, rel=1e-6), name


def test_both_int8_models_are_quantized_and_close_to_the_oracle(probe_calibrated):
    """Agreement with the exact answer on scenes outside the calibration set: high, and below 100% (the
    models are really quantized)."""
    from edgeseg.data.synthetic import render_scene
    from edgeseg.probe_model import expected_class_map, probe_spec
    from edgeseg.runtime.artifact import open_artifact

    frames = [render_scene(seed, 200, 100)[0] for seed in (300, 301, 302)]
    expected = np.stack([expected_class_map(frame, PROBE_SIZE) for frame in frames])
    for path, least in ((probe_calibrated["trt"], 0.96), (probe_calibrated["ort"], 0.90)):
        predicted = np.stack([run(path, frame, probe_spec(PROBE_SIZE))[0].argmax(0) for frame in frames])
        agreement = float((predicted == expected).mean())
        assert least <= agreement < 0.999, (path, agreement)
        with open_artifact(path) as segmenter:
            np.testing.assert_array_equal(segmenter.predict(frames[0]), predicted[0])


def test_trt_cache_round_trips_the_ranges(calibrated, fp32_model):
    ranges, _ = cal.load_ranges(os.path.join(calibrated["folder"], "ranges.json"), fp32_model)
    with open(calibrated["cache"]) as f:
        lines = f.read().splitlines()
    assert lines[0] == "TRT-8502-EntropyCalibration2"
    name, hexscale = lines[1].rsplit(": ", 1)
    assert len(hexscale) == 8 and struct.unpack(">f", bytes.fromhex(hexscale))[0] > 0
    cache = trt_cache.read(calibrated["cache"])
    scales = cache.scales
    assert set(scales) == set(ranges) and "input" in scales and "logits" in scales
    for tensor, (low, high) in ranges.items():
        amax = max(abs(low), abs(high))
        expected = np.float32(amax) / np.float32(127) if amax > 0 else 1.0
        assert scales[tensor] == pytest.approx(float(expected), rel=1e-7), tensor
    assert cal.check_cache_matches(calibrated["cache"], fp32_model) == scales
    assert (cache.version, cache.algorithm) == ("8502", "EntropyCalibration2")


def test_cache_from_another_model_is_refused(calibrated, tmp_path):
    other = str(tmp_path / "other.onnx")
    onnx.save(tiny_model([1, 3, 8, 8], TensorProto.FLOAT), other)
    with pytest.raises(ArtifactError, match="another model"):
        cal.check_cache_matches(calibrated["cache"], other)
    bad = tmp_path / "bad.cache"
    bad.write_text("hello\nx: 1\n")
    with pytest.raises(ArtifactError, match="not a TensorRT calibration cache"):
        trt_cache.read(str(bad))


def test_manifest_records_everything_and_repeats(calibrated, fp32_model, street_set, tmp_path):
    manifest = calibrated["manifest"]
    on_disk = json.load(open(os.path.join(calibrated["folder"], "manifest.json")))
    assert on_disk == {k: v for k, v in manifest.items() if k != "path"}
    assert manifest["model"]["sha256"] == json.load(open(fp32_model + ".json"))["sha256"]
    assert manifest["count"] == 6 and manifest["seed"] == 0 and manifest["method"] == "entropy"
    assert all(not os.path.isabs(i["path"]) and len(i["sha256"]) == 64 for i in manifest["images"])
    assert manifest["versions"]["edgeseg"] and manifest["preprocess"]["size"] == list(SIZE)
    for key, name in (("tensorrt_qdq", "lraspp_int8_qdq_trt.onnx"), ("onnxruntime_int8", "lraspp_int8_qdq_ort.onnx"),
                      ("tensorrt_cache", "lraspp_entropy.cache")):
        path = os.path.join(calibrated["folder"], manifest["outputs"][key]["file"])
        assert manifest["outputs"][key]["sha256"] == file_sha256(path)
        assert os.path.basename(path) == name and os.path.isfile(path)
    again = cal.calibrate(fp32_model, street_set, num=6, seed=0, method="entropy",
                          out_dir=str(tmp_path / "calibration"), log=quiet)
    for key in ("images", "seed", "num", "count", "method", "preprocess", "model", "ranges", "outputs"):
        if key not in ("model", "outputs"):
            assert again[key] == manifest[key], key
    assert again["model"]["sha256"] == manifest["model"]["sha256"]
    first = json.load(open(os.path.join(calibrated["folder"], "ranges.json")))
    assert os.path.basename(os.path.dirname(again["path"])) == os.path.basename(calibrated["folder"])  # same inputs
    second = json.load(open(os.path.join(os.path.dirname(again["path"]), "ranges.json")))
    assert first == second
    other_seed = cal.select_subset(street_set, num=6, seed=1, log=quiet)
    assert other_seed != [os.path.join(street_set, i["path"]) for i in manifest["images"]]


def test_requantize_keeps_excluded_nodes_float_without_calibrating(calibrated, tmp_path):
    fp32 = os.path.normpath(os.path.join(calibrated["folder"], calibrated["manifest"]["model"]["path"]))
    first_conv = cal.quantizable_nodes(fp32)[0]
    sidecars = cal.requantize(os.path.join(calibrated["folder"], "manifest.json"), [first_conv], suffix="_guard",
                              log=quiet)
    for target, name in (("tensorrt", "lraspp_int8_guard_qdq_trt.onnx"),
                         ("onnxruntime", "lraspp_int8_guard_qdq_ort.onnx")):
        model = onnx.load(os.path.join(calibrated["folder"], name))
        made = producers(model)
        conv = next(n for n in model.graph.node if n.name == first_conv)
        assert conv.input[0] not in made or made[conv.input[0]].op_type != "DequantizeLinear"
        assert sidecars[target]["quantization"]["excluded_nodes"] == [first_conv]
        assert sidecars[target]["quantization"]["float_nodes"] == [first_conv]
    with pytest.raises(ConfigError, match="no node named"):
        cal.quantize_from_ranges(fp32, {}, str(tmp_path / "x.onnx"), None, ["nope"], log=quiet)


# -------------------------------------------------------------------------------------- refusals


def tiny_model(shape, elem_type):
    x = helper.make_tensor_value_info("image", elem_type, shape)
    y = helper.make_tensor_value_info("out", elem_type, shape)
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["out"], name="id")], "tiny", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("shape,elem_type", [([1, 64, 128, 3], TensorProto.FLOAT), ([1, 3, 64, 128], TensorProto.UINT8),
                                             ([3, 64, 128], TensorProto.FLOAT)])
def test_models_without_an_nchw_float_input_are_refused(tmp_path, street_set, shape, elem_type):
    path = str(tmp_path / "nhwc.onnx")
    onnx.save(tiny_model(shape, elem_type), path)
    with pytest.raises(ConfigError, match="nhwc.onnx.*NCHW float32"):
        cal.calibrate(path, street_set, num=2, out_dir=str(tmp_path / "c"), spec=PreprocessSpec(SIZE), log=quiet)
    assert os.listdir(str(tmp_path)) == ["nhwc.onnx"]


def assert_nothing_written(tmp_path, fp32_copy):
    leftovers = [os.path.join(root, f) for root, _, files in os.walk(str(tmp_path)) for f in files]
    assert sorted(leftovers) == sorted([fp32_copy, fp32_copy + ".json"]), leftovers


def test_interrupted_calibration_leaves_nothing(fp32_model, street_set, tmp_path, monkeypatch):
    model = str(tmp_path / "m.onnx")
    shutil.copyfile(fp32_model, model)
    shutil.copyfile(fp32_model + ".json", model + ".json")
    calls = []
    real = reader.read_image

    def interrupt_on_third(path):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(reader, "read_image", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        cal.calibrate(model, street_set, num=6, out_dir=str(tmp_path / "calibration"), log=quiet)
    assert_nothing_written(tmp_path, model)
    monkeypatch.setattr(reader, "read_image", real)

    def fail(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(trt_cache, "write", fail)  # after both models were written
    with pytest.raises(RuntimeError, match="disk full"):
        cal.calibrate(model, street_set, num=3, method="minmax", out_dir=str(tmp_path / "calibration"), log=quiet)
    assert_nothing_written(tmp_path, model)


def test_bare_model_takes_the_preprocessing_from_the_caller(fp32_model, street_set, tmp_path):
    bare = str(tmp_path / "bare.onnx")
    shutil.copyfile(fp32_model, bare)
    with pytest.raises(ConfigError, match="bare.onnx: no sidecar"):
        cal.calibrate(bare, street_set, num=3, out_dir=str(tmp_path / "c"), log=quiet)
    with pytest.raises(ConfigError, match="differs from the model's input 128x64"):
        cal.calibrate(bare, street_set, num=3, out_dir=str(tmp_path / "c"), spec=PreprocessSpec((64, 64)), log=quiet)
    spec = PreprocessSpec(SIZE, color_order="rgb")
    manifest = cal.calibrate(bare, street_set, num=3, method="percentile", out_dir=str(tmp_path / "c"), spec=spec,
                             log=quiet)
    assert manifest["preprocess"] == spec.to_dict()
    folder = os.path.dirname(manifest["path"])
    record = json.load(open(os.path.join(folder, "bare_int8_qdq_ort.onnx.json")))
    assert record["preprocess"] == spec.to_dict() and record["num_classes"] == 4 and record["output_kind"] == "logits"
    from edgeseg.runtime.artifact import open_artifact

    with open_artifact(os.path.join(folder, "bare_int8_qdq_trt.onnx")) as segmenter:
        assert segmenter.spec == spec and segmenter.predict(scene(1)).shape == (64, 128)
    with pytest.raises(ConfigError, match="sidecar fixes the preprocessing"):
        cal.calibrate(fp32_model, street_set, num=3, out_dir=str(tmp_path / "c"),
                      spec=PreprocessSpec(SIZE, mean=(0.5, 0.5, 0.5)), log=quiet)


def test_entropy_histograms_are_capped_symmetrically():
    class Collector:
        method = "entropy"

    hist = np.arange(1000, dtype=np.int64)
    edges = np.linspace(-5.0, 5.0, 1001).astype(np.float32)
    Collector.histogram_dict = {"t": (hist, edges, np.float32(-4.9), np.float32(4.8), np.float32(5.0))}
    collectors.cap_entropy_histograms(Collector, 256)
    merged, new_edges, _, _, threshold = Collector.histogram_dict["t"]
    assert len(merged) <= 256 and len(merged) % 2 == 0 and merged.sum() == hist.sum()
    assert len(new_edges) == len(merged) + 1 and new_edges[len(merged) // 2] == pytest.approx(0.0, abs=1e-6)
    assert float(threshold) >= 5.0 and new_edges[-1] == pytest.approx(float(threshold))
    assert merged[: len(merged) // 2].sum() == hist[:500].sum()  # nothing crossed zero


def test_module_works_without_torch(calibrated):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, "tests", "torch_blocker"), REPO]))
    result = subprocess.run([sys.executable, "-c", "import edgeseg.quantize, sys; "
                             "assert 'torch' not in sys.modules"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert result.returncode == 0, result.stdout
    # torch absent (as on a device; onnxruntime's tools import torch whenever they can find it): the
    # quantization API is there and the reader is a real CalibrationDataReader
    script = ("import sys; sys.modules['torch'] = sys.modules['torchvision'] = None\n"
              "import edgeseg.quantize as c, onnxruntime.quantization as q\n"
              "assert issubclass(c.ImageCalibrationReader, q.CalibrationDataReader)\n"
              "import edgeseg.quantize.trt_cache as t\n"
              "print(len(t.read(sys.argv[1]).scales))")
    result = subprocess.run([sys.executable, "-c", script, calibrated["cache"]], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True,
                            env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 0 and int(result.stdout.split()[-1]) > 100, result.stdout


def test_calibration_caches_are_read_on_python38(python38_envs, calibrated):
    """The device interpreter (no torch, maybe no onnx) reads caches."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, "tests", "torch_blocker"), REPO]))
    code = "import sys, edgeseg.quantize.trt_cache as c; print(len(c.read(sys.argv[1]).scales))"
    result = subprocess.run([python38_envs["EDGESEG_PY38"], "-c", code, calibrated["cache"]], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert result.returncode == 0 and int(result.stdout.split()[-1]) > 100, result.stdout


def test_int32_bias_overflow_is_detected():
    """ONNX Runtime < 1.20 wraps an overflowing int32 bias to -2^31; such layers are kept float."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [2, 2, 1, 1], [1.0, 0.0, 0.0, 1.0]),
             helper.make_tensor("b_q", TensorProto.INT32, [2], [np.iinfo(np.int32).min, 5]),
             helper.make_tensor("b_s", TensorProto.FLOAT, [2], [1e-12, 1e-12]),
             helper.make_tensor("b_z", TensorProto.INT32, [2], [0, 0])]
    nodes = [helper.make_node("DequantizeLinear", ["b_q", "b_s", "b_z"], ["b"], name="dq_b", axis=0),
             helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits))
    assert int32_bias_overflow(model, cal.OP_TYPES) == ["conv"]
    inits[1].CopyFrom(helper.make_tensor("b_q", TensorProto.INT32, [2], [-7, 5]))
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits))
    assert int32_bias_overflow(model, cal.OP_TYPES) == []


def test_mse_ranges_are_the_manifests_images_recomputed_here(probe_onnx, tmp_path):
    """`--method mse` through ONNX Runtime's calibrator gives the ranges that AbsHistograms gives for the
    probe's tensors computed in numpy from the images the manifest names."""
    from edgeseg.probe_model import expected_tensors, write_probe_dataset
    from edgeseg.quantize.abs_histogram import AbsHistograms

    data = write_probe_dataset(str(tmp_path / "scenes"), 6, PROBE_SIZE, seed=61)
    manifest = cal.calibrate(probe_onnx, data, num=4, method="mse", out_dir=str(tmp_path / "c"), log=quiet)
    histograms = AbsHistograms()
    for record in manifest["images"]:
        tensors = expected_tensors(cv2.imread(os.path.join(manifest["data_root"], record["path"])), PROBE_SIZE)
        histograms.collect({name: [value.astype(np.float32)] for name, value in tensors.items()})
    expected = histograms.ranges()
    saved, meta = cal.load_ranges(os.path.join(os.path.dirname(manifest["path"]), "ranges.json"))
    assert meta["method"] == "mse"
    for name, (low, high) in expected.items():
        assert saved[name] == pytest.approx((low, high), rel=2e-3, abs=1e-5), name


def _pool_unpool_model():
    """x -> Conv -> Relu -> MaxPool (values, indices) -> MaxUnpool -> Conv -> y, the Relu's output also feeding a
    Conv (so the quantizer routes it through one Q/DQ for both, as in ENet); the indices are an output."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8]),
               helper.make_tensor_value_info("indices", TensorProto.INT64, [1, 2, 4, 4]),
               helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2, 8, 8])]
    eye = np.zeros((2, 2, 1, 1), np.float32)
    eye[0, 0] = eye[1, 1] = 1.0
    inits = [helper.make_tensor("w1", TensorProto.FLOAT, [2, 2, 1, 1], eye.reshape(-1)),
             helper.make_tensor("w2", TensorProto.FLOAT, [2, 2, 1, 1], eye.reshape(-1))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], name="conv1"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p", "indices"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("MaxUnpool", ["p", "indices"], ["u"], name="unpool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["u", "w2"], ["y"], name="conv2"),
             helper.make_node("Conv", ["r", "w2"], ["z"], name="conv3")]
    return helper.make_model(helper.make_graph(nodes, "g", [x], outputs, inits),
                             opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("target", ["tensorrt", "onnxruntime"])
def test_pooling_indices_are_taken_from_the_float_tensor(target, tmp_path):
    """Values closer than one int8 step become ties once quantized and the MaxPool's indices (ENet's and
    SegNet's unpooling) would move; both INT8 models give it the float tensor, so its indices are FP32's."""
    model = str(tmp_path / "pool.onnx")
    onnx.save(_pool_unpool_model(), model)
    # the input's and the first Conv's int8 steps are finer than the pooled tensor's: two input levels one step
    # apart reach the MaxPool distinct, and one int8 level of the pooled tensor would make them a tie
    fine, coarse = 1.01 / 127, 10.0 / 127
    ranges = {name: (0.0, 10.0) for name in ("r", "p", "u", "y", "z")}
    ranges.update(x=(0.0, 1.01), c=(0.0, 1.01))
    levels = np.random.default_rng(3).integers(2, 12, (1, 2, 4, 4))
    first = np.round(levels * coarse / fine) * fine  # an input level at a pooled level
    x = np.zeros((1, 2, 8, 8), np.float32)
    x[..., 0::2, 0::2], x[..., 1::2, 1::2] = first, first + fine  # each window's max comes last
    assert np.all(np.round(x[..., 0::2, 0::2] / coarse) == np.round(x[..., 1::2, 1::2] / coarse))  # ties once pooled
    output = str(tmp_path / "pool_int8.onnx")
    record = cal.quantize_model(model, ranges, output, target=target)
    assert "pool" in record["float_inputs_kept"]
    quantized = onnx.load(output)
    pool = next(n for n in quantized.graph.node if n.op_type == "MaxPool")
    assert pool.input[0] == "r"
    assert any(n.op_type == "DequantizeLinear" for n in quantized.graph.node)  # the convolutions are INT8

    def indices(path):
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(["indices"], {"x": x})[0]

    assert np.array_equal(indices(output), indices(model))


def test_auto_keeps_the_method_whose_tensorrt_model_agrees_best(probe_onnx, tmp_path):
    """`--method auto`: one pass gives mse and entropy ranges equal to their own passes; each candidate's
    TensorRT model, rebuilt here from those ranges, disagrees with FP32 on the recorded share of pixels of
    the calibration images; the one kept disagrees least, and its ranges are the ones written."""
    from edgeseg.probe_model import write_probe_dataset

    data = write_probe_dataset(str(tmp_path / "scenes"), 6, PROBE_SIZE, seed=62)
    lines = []
    manifest = cal.calibrate(probe_onnx, data, num=5, out_dir=str(tmp_path / "c"), log=lines.append)
    choice = manifest["method_choice"]
    assert choice["requested"] == "auto" and set(choice["disagreement"]) == {"mse", "entropy"}
    images = [os.path.join(manifest["data_root"], r["path"]) for r in manifest["images"]]
    spec = PreprocessSpec.from_dict(manifest["preprocess"])
    batches = list(cal.ImageCalibrationReader(images, spec, manifest["input_name"]))

    def class_maps(path):
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return np.stack([session.run(None, b)[0].argmax(1) for b in batches])

    reference = class_maps(probe_onnx)
    measured = {}
    for method in ("mse", "entropy"):
        ranges = cal.compute_ranges(probe_onnx, cal.ImageCalibrationReader(images, spec, manifest["input_name"]),
                                    method, log=quiet)
        path = str(tmp_path / (method + ".onnx"))
        cal.quantize_model(probe_onnx, ranges, path, "tensorrt")
        measured[method] = float(np.mean(class_maps(path) != reference))
        assert measured[method] == pytest.approx(choice["disagreement"][method], abs=1e-9), method
        if method == manifest["method"]:
            saved, _ = cal.load_ranges(os.path.join(os.path.dirname(manifest["path"]), "ranges.json"))
            assert saved == ranges
    assert manifest["method"] == min(measured, key=lambda m: (measured[m], m != "mse"))
    assert any(line.startswith("method auto:") for line in lines)


def test_a_qdq_pair_left_without_consumers_goes_with_its_scale():
    """Where the quantizer gave the index MaxPool a Q/DQ pair of its own, taking it away leaves neither the pair
    nor its scale and zero point in the graph."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    outputs = [helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, 1, 2, 2]),
               helper.make_tensor_value_info("i", TensorProto.INT64, [1, 1, 2, 2])]
    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [0.01]), helper.make_tensor("z", TensorProto.INT8, [], [0])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q"),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq"),
             helper.make_node("MaxPool", ["xd"], ["p", "i"], name="pool", kernel_shape=[2, 2], strides=[2, 2])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], outputs, inits))
    assert placement.give_float_inputs(model, placement.position_nodes(model.graph)) == ["pool"]
    assert [n.name for n in model.graph.node] == ["pool"] and model.graph.node[0].input[0] == "x"
    assert not model.graph.initializer


def _logits_model():
    """x -> Relu -> Conv (identity, 2 classes) -> Resize x2 -> ArgMax: the class map is the output. (The Relu,
    an identity on these inputs, makes the convolution read features rather than the image, which the TensorRT
    model keeps float.)"""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("classes", TensorProto.INT64, [1, 1, 8, 8])
    eye = np.zeros((2, 2, 1, 1), np.float32)
    eye[0, 0] = eye[1, 1] = 1.0
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [2, 2, 1, 1], eye.reshape(-1)),
             helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])]
    nodes = [helper.make_node("Relu", ["x"], ["features"], name="features"),
             helper.make_node("Conv", ["features", "w"], ["logits"], name="classifier"),
             helper.make_node("Resize", ["logits", "", "scales"], ["up"], name="upsample", mode="nearest"),
             helper.make_node("ArgMax", ["up"], ["classes"], name="argmax", axis=1, keepdims=1)]
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits),
                             opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("target", ["tensorrt", "onnxruntime"])
def test_logits_stay_float_so_argmax_keeps_its_class(target, tmp_path):
    """Two class scores closer than one int8 step of the logits tie once quantized and the argmax takes the
    first; after the last weighted layer nothing is quantized, so the class map is FP32's."""
    model = str(tmp_path / "logits.onnx")
    onnx.save(_logits_model(), model)
    fine, coarse = 1.01 / 127, 10.0 / 127
    levels = np.random.default_rng(4).integers(2, 12, (1, 1, 4, 4))
    x = np.zeros((1, 2, 4, 4), np.float32)
    x[:, :1] = np.round(levels * coarse / fine) * fine
    x[:, 1:] = x[:, :1] + fine  # class 1 wins by one input step, under half a logits step
    ranges = {"x": (0.0, 1.01), "features": (0.0, 1.01), "logits": (0.0, 10.0), "up": (0.0, 10.0)}
    output = str(tmp_path / "logits_int8.onnx")
    record = cal.quantize_model(model, ranges, output, target=target)
    quantized = onnx.load(output)
    assert next(n for n in quantized.graph.node if n.op_type == "Resize").input[0] == "logits"
    assert any(n.op_type == "DequantizeLinear" for n in quantized.graph.node) and record["quantized_nodes"] == 1

    def classes(path):
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    assert np.all(classes(model) == 1) and np.array_equal(classes(output), classes(model))
