"""export-deepstream and export-triton: configs checked field by field against the artifact they describe.

Real exported models, a real calibration, engines built through the TensorRT test double (its sidecar is
what the exports read), the CLI with torch blocked. The Triton config is parsed by Triton's own protobuf
schema (tritonclient's model_config_pb2) and its model run by ONNX Runtime with the config's names.
"""
import configparser
import json
import os

import numpy as np
import pytest
from conftest import REPO, run_cli

from edgeseg.artifacts import file_sha256, read_sidecar
from edgeseg.data.synthetic import render_scene, write_dataset
from edgeseg.deploy.deepstream import nvinfer_scaling
from edgeseg.preprocess import Preprocessor, PreprocessSpec

ort = pytest.importorskip("onnxruntime")
DOUBLE = os.path.join(REPO, "tests", "trt_double")
SIZE = (128, 64)


def read_ini(path):
    """DeepStream's GKeyFile syntax as configparser reads it (keys keep their case, no interpolation)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    assert parser.read(str(path)) == [str(path)]
    return parser


def cli_ok(*args, **kwargs):
    result = run_cli(*args, block_torch=True, **kwargs)
    assert result.returncode == 0, result.stderr
    return result


def cli_error(*args):
    result = run_cli(*args, block_torch=True)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeseg: error: "), result.stderr
    return lines[0]


def with_double(flavour="8.5"):
    env = dict(os.environ, EDGESEG_TRT_DOUBLE=flavour)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [DOUBLE, env.get("PYTHONPATH")] if p)
    return env


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from edgeseg.workstation.export import export

    folder = tmp_path_factory.mktemp("deploy")
    paths = {}
    for kind in ("logits", "probs", "classmap"):
        paths[kind] = str(folder / "lraspp_{}.onnx".format(kind))
        export("lraspp_mobilenetv3", 8, SIZE, paths[kind], output_kind=kind, classes="synthetic", log=lambda *_: None)
    paths["dynamic"] = str(folder / "lraspp_dynamic.onnx")
    export("lraspp_mobilenetv3", 8, SIZE, paths["dynamic"], output_kind="probs", dynamic=True, classes="synthetic",
           log=lambda *_: None)
    data = write_dataset(str(folder / "scenes"), 4, 160, 96, seed=4)
    cli_ok("calibrate", paths["probs"], "--data", data, "--num", "3", "--method", "minmax", "--out",
           folder / "calibration", "--json", folder / "calib.json")
    paths["manifest"] = json.loads((folder / "calib.json").read_text())["manifest"]
    paths["qdq_trt"] = os.path.join(os.path.dirname(paths["manifest"]), "lraspp_probs_int8_qdq_trt.onnx")
    paths["folder"] = folder
    return paths


@pytest.fixture(scope="module")
def engines(models):
    """fp16 on the GPU and int8 on DLA core 1 (implicit INT8 from the cache), built through the double."""
    folder = models["folder"]
    built = {"fp16": str(folder / "lraspp_probs_fp16.engine"), "dla_int8": str(folder / "lraspp_probs_dla.engine")}
    scores = ("--keep-scores", "--preprocess", "host")  # what DeepStream's nvinfer takes
    cli_ok("build", models["probs"], "--precision", "fp16", "-o", built["fp16"], *scores, env=with_double())
    cli_ok("build", models["probs"], "--precision", "int8", "--calibration", models["manifest"], "--dla-core", "1",
           "-o", built["dla_int8"], *scores, env=with_double("10.3"))
    return built


# ------------------------------------------------------------------------------------ DeepStream


def test_probs_output_is_the_softmax_of_the_logits(models):
    spec = PreprocessSpec.from_dict(read_sidecar(models["probs"])["preprocess"])
    batch = Preprocessor(spec)(render_scene(2, 256, 128)[0])
    outputs = {}
    for kind in ("logits", "probs"):
        session = ort.InferenceSession(models[kind], providers=["CPUExecutionProvider"])
        outputs[kind] = session.run(None, {"input": batch})[0]
    logits = outputs["logits"]
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    np.testing.assert_allclose(outputs["probs"], softmax, atol=1e-5)
    assert read_sidecar(models["probs"])["output_kind"] == "probs"


def test_nvinfer_config_matches_the_onnx_model_field_by_field(models, tmp_path):
    out = tmp_path / "ds"
    result = cli_ok("export-deepstream", models["probs"], "-o", out)
    assert "deepstream-app -c deepstream_app_config.txt" in result.stdout
    sidecar = read_sidecar(models["probs"])
    spec = PreprocessSpec.from_dict(sidecar["preprocess"])
    prop = read_ini(out / "config_infer_primary.txt")["property"]
    assert prop["network-type"] == "2" and prop["process-mode"] == "1"
    assert prop["network-mode"] == "2"  # fp16, the default for an ONNX model
    assert prop["output-blob-names"] == sidecar["output_name"] == "probs"
    assert prop["segmentation-output-order"] == "0"
    assert int(prop["num-detected-classes"]) == sidecar["num_classes"] == 8
    assert prop["infer-dims"] == "3;{};{}".format(SIZE[1], SIZE[0])
    assert prop["model-color-format"] == "0" and spec.color_order == "rgb"
    mean_std = sum(spec.std) / 3
    assert float(prop["net-scale-factor"]) == pytest.approx(1 / (255 * mean_std), rel=1e-9)
    assert [float(v) for v in prop["offsets"].split(";")] == pytest.approx([255 * m for m in spec.mean], rel=1e-9)
    assert prop["scaling-filter"] == "1" and prop["maintain-aspect-ratio"] == "0"
    assert file_sha256(str(out / prop["onnx-file"])) == sidecar["sha256"]
    assert prop["model-engine-file"] == "lraspp_probs.onnx_b1_gpu0_fp16.engine"
    assert "int8-calib-file" not in prop and "enable-dla" not in prop
    assert (out / prop["labelfile-path"]).read_text().splitlines() == sidecar["classes"]
    assert "logits output" not in result.stdout  # probabilities: nvinfer's parser labels every pixel


def test_nvinfer_preprocessing_is_edgesegs_within_the_reported_deviation(models, tmp_path):
    """Apply nvinfer's formula with the written values and compare with edgeseg's own preprocessing."""
    out = tmp_path / "ds"
    cli_ok("export-deepstream", models["probs"], "-o", out)
    prop = read_ini(out / "config_infer_primary.txt")["property"]
    spec = PreprocessSpec.from_dict(read_sidecar(models["probs"])["preprocess"])
    frame = render_scene(5, 320, 160)[0]
    ours = Preprocessor(spec)(frame)[0]
    import cv2

    rgb = cv2.resize(frame, spec.size, interpolation=cv2.INTER_LINEAR)[:, :, ::-1].astype(np.float32)
    offsets = np.array([float(v) for v in prop["offsets"].split(";")], np.float32)
    theirs = (float(prop["net-scale-factor"]) * (rgb - offsets)).transpose(2, 0, 1)
    _, _, deviation = nvinfer_scaling(spec)
    assert 0.01 < deviation < 0.014  # ImageNet std: one scale is up to 1.3% off
    mask = np.abs(ours) > 1e-3
    ratio = theirs[mask] / ours[mask]
    assert np.all(np.abs(ratio - 1) <= deviation + 1e-4)
    assert "1.3% off per channel" in (out / "config_infer_primary.txt").read_text()


def test_int8_from_a_calibration_names_its_tensorrt_cache(models, tmp_path):
    out = tmp_path / "ds"
    cli_ok("export-deepstream", models["probs"], "-o", out, "--precision", "int8", "--calibration",
           models["manifest"], "--dla-core", "0")
    prop = read_ini(out / "config_infer_primary.txt")["property"]
    cache = json.loads(open(models["manifest"]).read())["outputs"]["tensorrt_cache"]["file"]
    assert prop["network-mode"] == "1"
    with open(os.path.join(os.path.dirname(models["manifest"]), cache), "rb") as f:
        assert (out / prop["int8-calib-file"]).read_bytes() == f.read()
    assert prop["enable-dla"] == "1" and prop["use-dla-core"] == "0"
    assert prop["model-engine-file"] == "lraspp_probs.onnx_b1_dla0_int8.engine"
    assert "TRT-8502-EntropyCalibration2: DeepStream's TensorRT skips a cache from another version" in \
        (out / "config_infer_primary.txt").read_text()


def test_qdq_model_runs_int8_as_it_is(models, tmp_path):
    out = tmp_path / "ds"
    cli_ok("export-deepstream", models["qdq_trt"], "-o", out)
    prop = read_ini(out / "config_infer_primary.txt")["property"]
    assert prop["network-mode"] == "1" and "int8-calib-file" not in prop
    assert prop["onnx-file"] == os.path.basename(models["qdq_trt"])
    assert "Q/DQ" in cli_error("export-deepstream", models["qdq_trt"], "-o", tmp_path / "x", "--precision", "fp16")


def test_engine_keeps_its_precision_and_ships_its_onnx(models, engines, tmp_path):
    out = tmp_path / "ds"
    cli_ok("export-deepstream", engines["fp16"], "-o", out)
    prop = read_ini(out / "config_infer_primary.txt")["property"]
    assert prop["model-engine-file"] == "lraspp_probs_fp16.engine" and prop["network-mode"] == "2"
    assert file_sha256(str(out / prop["model-engine-file"])) == file_sha256(engines["fp16"])
    assert file_sha256(str(out / prop["onnx-file"])) == file_sha256(models["probs"])  # nvinfer can rebuild
    assert prop["infer-dims"] == "3;{};{}".format(SIZE[1], SIZE[0])
    assert "was built fp16" in cli_error("export-deepstream", engines["fp16"], "-o", tmp_path / "x",
                                         "--precision", "int8")


def test_dla_int8_engine_ships_its_calibration_cache(engines, tmp_path):
    out = tmp_path / "ds"
    cli_ok("export-deepstream", engines["dla_int8"], "-o", out)
    prop = read_ini(out / "config_infer_primary.txt")["property"]
    sidecar = read_sidecar(engines["dla_int8"])
    assert sidecar["int8_mode"] == "implicit-cache"
    assert prop["network-mode"] == "1" and prop["enable-dla"] == "1" and prop["use-dla-core"] == "1"
    shipped = (out / prop["int8-calib-file"]).read_text().splitlines()
    with open(sidecar["calibration_cache"]) as f:
        written = f.read().splitlines()
    assert written[0] == "TRT-8502-EntropyCalibration2"  # as `edgeseg calibrate` writes it
    # tagged for the engine's TensorRT (10.3 here), which nvinfer's rebuild runs on; the scales unchanged
    assert shipped == [sidecar["calibration_cache_header"]] + written[1:]
    assert shipped[0] == "TRT-100300-EntropyCalibration2"


@pytest.mark.parametrize("source, expected", [
    ("csi://1?width=1920&height=1080&fps=60", {"type": "5", "camera-csi-sensor-id": "1", "camera-width": "1920",
                                               "camera-height": "1080", "camera-fps-n": "60"}),
    ("/dev/video2", {"type": "1", "camera-v4l2-dev-node": "2"}),
    ("rtsp://camera.local/stream", {"type": "4", "uri": "rtsp://camera.local/stream"}),
])
def test_app_config_for_cameras_and_streams(models, tmp_path, source, expected):
    out = tmp_path / "ds"
    cli_ok("export-deepstream", models["probs"], "-o", out, "--source", source)
    app = read_ini(out / "deepstream_app_config.txt")
    assert {key: app["source0"][key] for key in expected} == expected
    assert app["streammux"]["live-source"] == "1"
    assert app["primary-gie"]["config-file"] == "config_infer_primary.txt"
    assert (out / app["primary-gie"]["config-file"]).is_file()
    assert app["segvisual"]["width"] == str(SIZE[0]) and app["segvisual"]["height"] == str(SIZE[1])
    assert app["sink0"]["type"] == "2"  # the display


def test_app_config_for_a_video_file_takes_its_size_and_can_save_a_video(models, street_video, tmp_path):
    out = tmp_path / "ds"
    cli_ok("export-deepstream", models["probs"], "-o", out, "--source", street_video, "--save-video", "seg.mp4")
    app = read_ini(out / "deepstream_app_config.txt")
    assert app["source0"]["type"] == "3" and app["source0"]["uri"] == "file://" + os.path.abspath(street_video)
    assert (app["streammux"]["width"], app["streammux"]["height"], app["streammux"]["live-source"]) == \
        ("320", "180", "0")
    assert app["sink0"]["type"] == "3" and app["sink0"]["output-file"] == "seg.mp4"
    assert "not a video" in cli_error("export-deepstream", models["probs"], "-o", tmp_path / "x",
                                      "--source", models["probs"] + ".json")


def test_deepstream_refuses_what_nvinfer_cannot_run(models, tmp_path):
    assert "--output-kind probs" in cli_error("export-deepstream", models["classmap"], "-o", tmp_path / "a")
    assert "int8 needs a calibration" in cli_error("export-deepstream", models["probs"], "-o", tmp_path / "b",
                                                   "--precision", "int8")
    assert "DLA runs FP16 or INT8" in cli_error("export-deepstream", models["probs"], "-o", tmp_path / "c",
                                                "--precision", "fp32", "--dla-core", "0")
    built = tmp_path / "m_fp32.ort.onnx"
    cli_ok("build", models["probs"], "--precision", "fp32", "-o", built)
    assert "ONNX Runtime artifact" in cli_error("export-deepstream", built, "-o", tmp_path / "d")
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(open(models["probs"], "rb").read())
    assert "no sidecar" in cli_error("export-deepstream", bare, "-o", tmp_path / "e")
    assert not any((tmp_path / name).exists() for name in "abcde")


def test_deepstream_refuses_a_default_built_engine_and_says_how_to_build_one(models, tmp_path):
    """`edgeseg build` puts ArgMax (and, for TensorRT, the preprocessing) in the engine; nvinfer wants scores."""
    default = tmp_path / "default.engine"
    cli_ok("build", models["probs"], "--precision", "fp16", "-o", default, env=with_double())
    assert read_sidecar(str(default))["output_kind"] == "classmap"
    message = cli_error("export-deepstream", default, "-o", tmp_path / "a")
    assert "class map" in message and "--keep-scores --preprocess host" in message
    folded = tmp_path / "folded.engine"
    cli_ok("build", models["probs"], "--precision", "fp16", "--keep-scores", "-o", folded, env=with_double())
    message = cli_error("export-deepstream", folded, "-o", tmp_path / "b")
    assert "normalises it in the graph" in message and "--preprocess host" in message


def test_logits_output_is_exported_with_a_warning(models, tmp_path):
    result = cli_ok("export-deepstream", models["logits"], "-o", tmp_path / "ds")
    assert "best logit is <= 0 unlabelled" in result.stdout
    assert "note: logits output" in (tmp_path / "ds" / "config_infer_primary.txt").read_text()


# ------------------------------------------------------------------------------------ Triton


def parse_triton(path):
    pb = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                             reason="tritonclient[grpc] (the dev extra) parses Triton's config.pbtxt")
    from google.protobuf import text_format

    return text_format.Parse(open(str(path)).read(), pb.ModelConfig()), pb


def test_triton_onnx_with_dynamic_batch_serves_batches(models, tmp_path):
    repo = tmp_path / "repo"
    cli_ok("export-triton", models["dynamic"], "-o", repo, "--name", "lraspp", "--max-batch-size", "4")
    config, pb = parse_triton(repo / "lraspp" / "config.pbtxt")
    assert config.name == "lraspp" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 4
    assert config.HasField("dynamic_batching")
    assert [g.kind for g in config.instance_group] == [pb.ModelInstanceGroup.KIND_GPU]
    (inp,), (out,) = config.input, config.output
    assert (inp.name, inp.data_type, list(inp.dims)) == ("input", pb.TYPE_FP32, [3, -1, -1])
    assert (out.name, out.data_type, list(out.dims)) == ("probs", pb.TYPE_FP32, [8, -1, -1])
    model = str(repo / "lraspp" / "1" / "model.onnx")
    assert file_sha256(model) == file_sha256(models["dynamic"])
    batch = np.random.RandomState(0).randn(2, 3, SIZE[1], SIZE[0]).astype(np.float32)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    result = session.run([out.name], {inp.name: batch})[0]
    assert result.shape[:2] == (2, out.dims[0])  # batch, then the config's dims (-1: any size)
    assert (repo / "lraspp" / "labels.txt").read_text().splitlines() == read_sidecar(models["dynamic"])["classes"]
    client = json.loads((repo / "lraspp" / "edgeseg.json").read_text())
    assert client["preprocess"] == read_sidecar(models["dynamic"])["preprocess"]


def test_triton_versions_accumulate_and_static_models_take_no_batching(models, tmp_path):
    repo = tmp_path / "repo"
    cli_ok("export-triton", models["probs"], "-o", repo, "--cpu", "--instances", "2")
    cli_ok("export-triton", models["probs"], "-o", repo, "--cpu", "--instances", "2")
    assert sorted(os.listdir(repo / "lraspp_probs")) == ["1", "2", "config.pbtxt", "edgeseg.json", "labels.txt"]
    config, pb = parse_triton(repo / "lraspp_probs" / "config.pbtxt")
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [1, 3, SIZE[1], SIZE[0]]
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, pb.ModelInstanceGroup.KIND_CPU)]
    assert "version 1 exists" in cli_error("export-triton", models["probs"], "-o", repo, "--version", "1")
    assert "another platform or interface" in cli_error("export-triton", models["dynamic"], "-o", repo, "--name",
                                                        "lraspp_probs")
    assert sorted(os.listdir(repo / "lraspp_probs")) == ["1", "2", "config.pbtxt", "edgeseg.json", "labels.txt"]


def test_triton_engine_is_a_tensorrt_plan_with_the_engines_interface(engines, tmp_path):
    repo = tmp_path / "repo"
    cli_ok("export-triton", engines["fp16"], "-o", repo, "--name", "seg")
    config, pb = parse_triton(repo / "seg" / "config.pbtxt")
    io = read_sidecar(engines["fp16"])["io"]
    assert config.platform == "tensorrt_plan" and config.max_batch_size == 0
    assert [(t.name, list(t.dims)) for t in config.input] == [(t["name"], t["shape"]) for t in io["inputs"]]
    assert [(t.name, list(t.dims)) for t in config.output] == [(t["name"], t["shape"]) for t in io["outputs"]]
    assert list(config.output[0].dims) == [1, 8, SIZE[1], SIZE[0]]
    assert file_sha256(str(repo / "seg" / "1" / "model.plan")) == file_sha256(engines["fp16"])
    assert "runs on the GPU" in cli_error("export-triton", engines["fp16"], "-o", repo, "--cpu")


def test_triton_refuses_an_onnxruntime_optimised_artifact(models, tmp_path):
    built = tmp_path / "m_fp32.ort.onnx"
    cli_ok("build", models["probs"], "--precision", "fp32", "-o", built)
    assert "pass lraspp_probs.onnx" in cli_error("export-triton", built, "-o", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
