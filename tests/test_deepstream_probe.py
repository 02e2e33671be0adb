"""seg_probe.py, the pyds sample export-deepstream writes: the file written is Python 3.8 code naming the
export's labels file, class count, muxer size and source, and its per-class share computation, run on the
class map the probe model gives through ONNX Runtime, counts what an independent count does.

Only the pure part runs here: pyds (DeepStream's bindings) and nvinfer exist on a Jetson with DeepStream
only (docs/jetson.md says what that device must confirm).
"""
import configparser
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import PROBE_SIZE, frame_classes, run_cli

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(probe_onnx, street_video, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ds") / "ds"
    result = run_cli("export-deepstream", probe_onnx, "-o", folder, "--source", street_video, block_torch=True)
    assert result.returncode == 0, result.stderr
    return folder


def load_sample(folder):
    spec = importlib.util.spec_from_file_location("seg_probe_written", str(folder / "seg_probe.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe_class_map(seed=5):
    """The probe model's class map of a synthetic street scene, through edgeseg's ONNX Runtime path."""
    from edgeseg.data.synthetic import render_scene
    from edgeseg.probe_model import expected_class_map

    frame = render_scene(seed, *PROBE_SIZE)[0]
    return frame, expected_class_map(frame, PROBE_SIZE)


def test_the_written_sample_is_python38_and_names_the_exports_files(exported):
    text = (exported / "seg_probe.py").read_text()
    compile(text, "seg_probe.py", "exec")
    vermin = shutil.which("vermin") or os.path.join(os.path.dirname(sys.executable), "vermin")
    if os.path.exists(vermin):
        result = subprocess.run([vermin, "-q", "--no-tips", "--eval-annotations", "-t=3.8-", "--violations",
                                 str(exported / "seg_probe.py")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout
    sample = load_sample(exported)
    labels = (exported / sample.LABELS_FILE).read_text().split()
    assert sample.NUM_CLASSES == len(labels) == 8 and sample.read_labels(str(exported)) == labels
    assert (exported / sample.INFER_CONFIG).is_file()
    app = configparser.ConfigParser(interpolation=None)
    app.read(str(exported / "deepstream_app_config.txt"))
    assert sample.MUXER_SIZE == (app.getint("streammux", "width"), app.getint("streammux", "height")) == (320, 180)
    assert sample.SOURCE == app.get("source0", "uri")
    assert "import edgeseg" not in text and "from edgeseg" not in text  # runs where edgeseg is not installed


def test_a_labels_file_that_disagrees_with_the_model_stops_the_sample(exported, tmp_path):
    shutil.copytree(str(exported), str(tmp_path / "ds"))
    (tmp_path / "ds" / "labels.txt").write_text("road\nsky\n")
    with pytest.raises(SystemExit, match=r"labels\.txt: 2 class names, but the model has 8 classes"):
        load_sample(tmp_path / "ds").read_labels(str(tmp_path / "ds"))


def test_class_shares_of_the_probes_class_map(exported, probe_onnx):
    from edgeseg.runtime import open_artifact

    sample = load_sample(exported)
    names = sample.read_labels(str(exported))
    frame, expected = probe_class_map()
    with open_artifact(probe_onnx) as segmenter:
        class_map = segmenter.predict(frame)
    np.testing.assert_array_equal(class_map, expected)
    shares, unlabelled = sample.class_shares(class_map.astype(np.int32), len(names))
    np.testing.assert_allclose(shares, frame_classes(expected, len(names)))
    assert unlabelled == 0 and sum(shares) == pytest.approx(1.0)
    assert len([s for s in shares if s > 0]) >= 5  # a scene of several classes, not a constant map

    # nvinfer marks pixels under segmentation-threshold -1: unlabelled, not any class's
    nvinfer_map = class_map.astype(np.int32)
    nvinfer_map[: class_map.shape[0] // 4] = -1
    shares, unlabelled = sample.class_shares(nvinfer_map, len(names))
    assert unlabelled == pytest.approx(0.25) and sum(shares) == pytest.approx(0.75)
    kept = expected[class_map.shape[0] // 4:]
    np.testing.assert_allclose(shares, np.bincount(kept.ravel(), minlength=8) / class_map.size)

    line = sample.format_shares(17, shares, unlabelled, names)
    order = sorted((s, n) for n, s in zip(names, shares) if s > 0)[::-1]
    assert line == "frame 17: " + ", ".join("{} {:.1%}".format(n, s) for s, n in order) + ", unlabelled 25.0%"


def test_the_sample_feeds_the_muxer_from_each_kind_of_source(exported):
    sample = load_sample(exported)
    assert sample.source_description("csi://1") == \
        "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=320,height=180"
    assert sample.source_description("/dev/video2").startswith("v4l2src device=/dev/video2 ! ")
    assert sample.source_description("0").startswith("v4l2src device=/dev/video0 ! ")
    assert sample.source_description("rtsp://cam/x") == "uridecodebin uri=rtsp://cam/x"
    assert sample.source_description("/data/a.mp4") == "uridecodebin uri=file:///data/a.mp4"
