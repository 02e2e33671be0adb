"""`edgeseg run` as segnet users know it: INPUT [OUTPUT] URIs, input options, segmentation options, class-id
masks that equal what eval computes, --stats; with the probe model, whose classes depend on the input."""
import argparse
import json
import os
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import run_cli

from edgeseg.cli.arguments import alpha
from edgeseg.data.synthetic import render_scene
from edgeseg.errors import ConfigError, SourceError
from edgeseg.palettes import Palette, ignored_class, read_colors, with_files
from edgeseg.runtime import open_artifact
from edgeseg.stream.input_options import InputOptions, _with_csi_request, open_input
from edgeseg.stream.render import Renderer
from edgeseg.stream.sinks import open_sinks
from edgeseg.stream.uri import parse_input, parse_output

QUIET = lambda *_: None  # noqa: E731
NAMES = ["f1.png", "f2.png", "f10.png"]  # natural order: f1, f2, f10 (plain sorting puts f10 second)


@pytest.fixture()
def frames(tmp_path):
    """Three different street scenes, 200x120, named so that natural and plain order differ."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for seed, name in enumerate(NAMES):
        cv2.imwrite(str(folder / name), render_scene(seed + 3, 200, 120)[0])
    return folder


# ------------------------------------------------------------------------------------------------ the CLI


def test_positional_uris_write_a_sequence_class_id_masks_and_stats(probe_onnx, frames, tmp_path):
    """segnet's form, options before and after the URIs; each class-id PNG is the segmenter's class map of
    that frame computed independently (as eval does), and --stats counts exactly those pixels."""
    out, masks, report = tmp_path / "out" / "seg_%i.jpg", tmp_path / "masks" / "%i.png", tmp_path / "run.json"
    result = run_cli("run", probe_onnx, "--headless", "file://" + str(frames / "*.png"), str(out), "--stats",
                     "--mask-output", str(masks), "--report", str(report), "--filter-mode", "point", "-q",
                     block_torch=True)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["seg_0.jpg", "seg_1.jpg", "seg_2.jpg"]
    counts = np.zeros(256, np.int64)
    with open_artifact(probe_onnx) as segmenter:
        for index, name in enumerate(NAMES):
            expected = segmenter.predict(cv2.imread(str(frames / name)))
            written = cv2.imread(str(tmp_path / "masks" / "{}.png".format(index)), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(written, expected, err_msg=name)
            counts += np.bincount(expected.ravel(), minlength=256)
        names = segmenter.palette.names
    assert len(np.unique(counts.nonzero())) >= 3  # the probe's answer depends on the frame
    shares = json.loads(report.read_text())["class_shares"]
    assert shares["frames"] == 3 and shares["pixels"] == counts.sum()
    assert [(c["name"], c["pixels"]) for c in shares["classes"]] == [(n, counts[i]) for i, n in enumerate(names)]
    assert names[int(counts.argmax())] in result.stdout  # the table is printed


def test_an_input_given_twice_or_an_unsupported_output_is_one_line_exit_2(probe_onnx, frames, tmp_path):
    image = str(frames / "f1.png")
    cases = [(("run", probe_onnx, image, "--source", image), "--source given twice"),
             (("run", probe_onnx, image, str(tmp_path / "a.avi"), "--output", str(tmp_path / "b.avi")),
              "--output given twice"),
             (("run", probe_onnx, image, "rtmp://127.0.0.1/live", "--headless"),
              "rtmp:// outputs are not supported; use rtp://HOST:PORT"),
             (("run", probe_onnx, image, "rtsp://@:8554/live", "--headless"), "serving RTSP needs gst-rtsp-server"),
             (("run", probe_onnx, image, "--headless", "--ignore-class", "unicorn"), "no such class"),
             (("run", probe_onnx, "--headless"), "no input")]
    for args, message in cases:
        result = run_cli(*args, block_torch=True)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_one_image_output_holds_the_last_frame(probe_onnx, frames, tmp_path):
    common = ("run", probe_onnx, str(frames), "--headless", "--no-hud", "--sync")
    for output in (str(tmp_path / "last.png"), str(tmp_path / "seq_%i.png")):
        result = run_cli(*common, output, block_torch=True)
        assert result.returncode == 0, result.stderr
    last = cv2.imread(str(tmp_path / "last.png"))
    assert last is not None and np.array_equal(last, cv2.imread(str(tmp_path / "seq_2.png")))
    assert not np.array_equal(last, cv2.imread(str(tmp_path / "seq_0.png")))

def test_file_uri_video_output_and_input_loop(probe_onnx, frames, tmp_path):
    video = tmp_path / "out.avi"
    result = run_cli("run", probe_onnx, str(frames), "file://" + str(video), "--input-loop", "1", "--headless",
                     "--input-width", "100", "--input-height", "60", block_torch=True)
    assert result.returncode == 0, result.stderr
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6  # three images played twice
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (100, 60)


# ------------------------------------------------------------------------------------------------ URIs


def test_input_uris(frames):
    assert parse_input("file:///data/street.mp4").spec == "/data/street.mp4"
    assert parse_input("v4l2:///dev/video1").spec == "/dev/video1"
    assert parse_input("csi://0").spec == "csi://0" and parse_input("rtsp://cam/1").spec == "rtsp://cam/1"
    globbed = parse_input(str(frames / "f*.png"))
    assert [os.path.basename(f) for f in globbed.files] == NAMES
    with pytest.raises(SourceError, match="matches no image"):
        parse_input(str(frames / "*.jpg"))
    assert parse_input("rtp://@:1234").spec == "rtp://@:1234"  # stream/gst.py opens it
    with pytest.raises(ConfigError, match="webrtc:// inputs are not supported"):
        parse_input("webrtc://@:8554/cam")


def test_output_uris(tmp_path):
    assert parse_output("display://0") == ("display", "display://0")
    assert parse_output("file://out.mp4") == ("video", "out.mp4")
    assert parse_output("out_%04i.png") == ("sequence", "out_%04i.png")
    assert parse_output("out.jpg") == ("image", "out.jpg") and parse_output("frames") == ("folder", "frames")
    for bad in ("out_%i_%i.png", "out_%s.png", "out_%i.mp4", "out.txt", "ftp://x/y.mp4"):
        with pytest.raises(ConfigError):
            parse_output(bad)
    with open_sinks("display://0", False, 30.0, (10, 10)) as sinks:  # no window here: nothing to write to
        assert list(sinks) == []


def test_an_image_sequence_is_numbered_from_zero_printf_style(tmp_path):
    pattern = str(tmp_path / "seq" / "img_%03i.png")
    with open_sinks(pattern, False, 30.0, (8, 4)) as sinks:
        for value in (10, 20):
            for sink in sinks:
                sink.write(np.full((4, 8, 3), value, np.uint8))
    assert sorted(os.listdir(str(tmp_path / "seq"))) == ["img_000.png", "img_001.png"]
    assert cv2.imread(str(tmp_path / "seq" / "img_001.png"))[0, 0, 0] == 20


# ------------------------------------------------------------------------------------------------ input options


def test_input_size_rate_and_loops(frames):
    with open_input(str(frames), InputOptions(width=50), log=QUIET) as source:
        shapes = [frame.shape for frame in source]
    assert shapes == [(30, 50, 3)] * 3  # the height keeps the aspect ratio
    with open_input(str(frames), InputOptions(loops=2), log=QUIET) as source:
        assert source.frame_count == 9 and len(list(source)) == 9
    started = time.perf_counter()
    with open_input(str(frames), InputOptions(rate=10.0, loops=1), log=QUIET) as source:
        assert len(list(source)) == 6 and source.fps == 10.0
    assert time.perf_counter() - started >= 0.5  # six frames at 10 fps: the last is due at 0.5 s
    stop = threading.Event()
    stop.set()
    started = time.perf_counter()
    with open_input(str(frames), InputOptions(rate=0.5), log=QUIET, stop=stop) as source:
        list(source)
    assert time.perf_counter() - started < 1.0  # a stop ends the pacing wait


def test_a_csi_camera_is_asked_for_the_size_and_rate():
    options = InputOptions(1920, 1080, 60.0)
    assert _with_csi_request("csi://0", options) == "csi://0?width=1920&height=1080&fps=60"
    assert _with_csi_request("csi://1?fps=30", options) == "csi://1?fps=30&width=1920&height=1080"
    assert _with_csi_request("video.mp4", options) == "video.mp4"


# ------------------------------------------------------------------------------------------------ rendering


def _two_class_map():
    ids = np.zeros((4, 8), np.uint8)
    ids[:, 4:] = 1
    return ids


def test_filter_modes_upsample_the_mask_nearest_or_bilinear():
    colors = np.array([[0, 0, 0], [200, 100, 40]], np.uint8)
    frame = np.zeros((40, 80, 3), np.uint8)
    point = Renderer(colors, ("mask",), filter_mode="point")(frame, _two_class_map()).copy()
    linear = Renderer(colors, ("mask",), filter_mode="linear")(frame, _two_class_map()).copy()
    assert {tuple(c) for c in point.reshape(-1, 3)} == {(0, 0, 0), (200, 100, 40)}
    expected = cv2.resize(colors[_two_class_map()], (80, 40), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(linear, expected)
    assert len({tuple(c) for c in linear.reshape(-1, 3)}) > 2  # smooth edge


def test_ignored_class_is_transparent_and_colour_file_alpha_is_per_class():
    colors = np.array([[0, 0, 255], [255, 0, 0]], np.uint8)
    frame = np.full((4, 8, 3), 100, np.uint8)
    overlay = Renderer(colors, ("overlay",), alpha=0.5, ignore=0)(frame, _two_class_map())
    np.testing.assert_array_equal(overlay[:, :4], frame[:, :4])  # class 0 ignored: the frame shows
    np.testing.assert_array_equal(overlay[0, 4], [178, 50, 50])
    own = Renderer(colors, ("overlay",), alpha=0.5, alphas=[1.0, None])(frame, _two_class_map())
    np.testing.assert_array_equal(own[0, 0], [0, 0, 255])  # class 0 opaque from its A; class 1 takes --alpha
    np.testing.assert_array_equal(own[0, 4], [178, 50, 50])
    assert ignored_class(["void", "road"], None) == 0 and ignored_class(["road"], None) is None


def test_labels_and_colors_files_in_jetson_inference_formats(tmp_path):
    colors, labels = tmp_path / "colors.txt", tmp_path / "labels.txt"
    colors.write_text("0 0 0 0\n128 64 128\n\n220 20 60 255\n")
    labels.write_text("void\nroad\nperson\n")
    assert read_colors(str(colors)) == ([(0, 0, 0), (128, 64, 128), (220, 20, 60)], [0.0, None, None])
    palette, alphas = with_files(Palette(["a", "b", "c"], [(1, 1, 1)] * 3), str(labels), str(colors))
    assert palette.names == ["void", "road", "person"] and palette.colors[2] == (220, 20, 60)
    assert alphas == [0.0, None, None]
    with pytest.raises(ConfigError, match="has 3 labels but the model has 2"):
        with_files(Palette(["a", "b"], [(1, 1, 1)] * 2), str(labels), None)
    colors.write_text("0 0 300\n")
    with pytest.raises(ConfigError, match="line 1"):
        read_colors(str(colors))


def test_alpha_takes_fractions_and_segnets_0_to_255():
    assert alpha("0.5") == 0.5 and alpha("1") == 1.0 and alpha("150") == pytest.approx(150 / 255)
    with pytest.raises(argparse.ArgumentTypeError, match="0 to 255"):
        alpha("300")
