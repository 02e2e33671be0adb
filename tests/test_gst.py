"""GStreamer pipelines (edgeseg/stream/gst.py) run for real through gst-launch-1.0's software elements: a
video file written and read back by OpenCV, an RTP stream sent by `edgeseg run` and decoded on the loopback
interface, the Jetson variant's element swap, and failing pipelines reported in one line."""
import glob
import os
import socket
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import REPO, run_cli

from edgeseg.errors import ConfigError, SinkError, SourceError
from edgeseg.stream import gst

NEEDED = ("x264enc", "x265enc", "avdec_h264", "rtph264pay", "rtph264depay", "rawvideoparse", "mp4mux",
          "matroskamux", "parsebin")
pytestmark = pytest.mark.skipif(
    not gst.gstreamer_available() or not all(gst.has_element(e) for e in NEEDED),
    reason="needs GStreamer with {} (scripts/setup_gstreamer.sh installs them)".format(", ".join(NEEDED)))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def levels(count):
    """Frames whose three channels step apart: each frame's mean colour says which frame it is."""
    return [np.full((48, 64, 3), (10 + 12 * i, 240 - 12 * i, 60 + 6 * i), np.uint8) for i in range(count)]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-9))


@pytest.mark.parametrize("name,codec", [("out.mp4", "h264"), ("out.mkv", "h265")])
def test_gst_sink_writes_a_video_opencv_reads_back(tmp_path, name, codec):
    path = str(tmp_path / name)
    frames = levels(15)
    sink = gst.open_gst_output(path, 10.0, (64, 48), codec=codec, bitrate=2000000)
    assert "x264enc bitrate=2000 " in sink.description or "x265enc bitrate=2000 " in sink.description
    for frame in frames:
        sink.write(frame)
    assert not os.path.exists(path)  # written beside it until complete
    sink.close()
    assert os.listdir(str(tmp_path)) == [name]  # no partial file left
    video = cv2.VideoCapture(path)
    read = []
    ok, frame = video.read()
    while ok:
        read.append(frame)
        ok, frame = video.read()
    assert len(read) == len(frames)
    assert read[0].shape == (48, 64, 3)
    for sent, got in zip(frames, read):
        assert np.abs(got.mean(axis=(0, 1)) - sent.mean(axis=(0, 1))).max() < 8


def test_gst_source_decodes_a_file_scaled_and_looping(tmp_path):
    path = str(tmp_path / "clip.mp4")
    sink = gst.open_gst_output(path, 10.0, (64, 48))
    for frame in levels(6):
        sink.write(frame)
    sink.close()
    with gst.open_gst_input(path, codec="h264") as source:
        frames = list(source)
    assert len(frames) == 6 and frames[0].shape == (48, 64, 3) and source.fps == 10.0
    assert source.ended_early is None
    with gst.open_gst_input(path, codec="h264", width=32, height=16, loop=True) as looping:
        scaled = [looping.read() for _ in range(14)]
    assert all(f is not None and f.shape == (16, 32, 3) for f in scaled)
    assert looping.loops == 2


def _receive(uri, into, errors):
    try:
        with gst.open_gst_input(uri, codec="h264", timeout_s=3) as source:
            into.extend(source)
    except Exception as exc:  # reported by the test
        errors.append(exc)


def test_gst_sink_rtp_stream_is_received_on_loopback():
    port = free_udp_port()
    received, errors = [], []
    receiver = threading.Thread(target=_receive, args=("rtp://@:{}".format(port), received, errors))
    receiver.start()
    time.sleep(1.0)  # the receiver binds its port
    sent = levels(20)
    sink = gst.open_gst_output("rtp://127.0.0.1:{}".format(port), 30.0, (64, 48))
    for frame in sent:
        sink.write(frame)
    sink.close()
    receiver.join(60)
    assert not errors
    assert len(received) == len(sent)
    for want, got in zip(sent, received):
        assert got.shape == (48, 64, 3)
        assert np.abs(got.mean(axis=(0, 1)) - want.mean(axis=(0, 1))).max() < 8


def test_edgeseg_run_streams_rtp_that_is_received_and_decoded(probe_classmap_onnx, street_video, tmp_path):
    """`edgeseg run MODEL --source VIDEO --output rtp://127.0.0.1:PORT` while edgeseg's own GstSource receives
    on rtp://@:PORT: every frame arrives, at the size sent, close to what the same run writes to a folder."""
    reference = str(tmp_path / "reference")
    common = ("run", probe_classmap_onnx, "--source", street_video, "--no-display", "--no-hud")
    result = run_cli(*common, "--output", reference)
    assert result.returncode == 0, result.stderr
    port = free_udp_port()
    received, errors = [], []
    receiver = threading.Thread(target=_receive, args=("rtp://@:{}".format(port), received, errors))
    receiver.start()
    time.sleep(1.0)
    result = run_cli(*common, "--output", "rtp://127.0.0.1:{}".format(port), "--bitrate", "8000000")
    receiver.join(60)
    assert result.returncode == 0, result.stderr
    assert "wrote rtp://127.0.0.1:{} (12 frames)".format(port) in result.stdout
    assert not errors
    expected = [cv2.imread(p) for p in sorted(glob.glob(os.path.join(reference, "*.jpg")))]
    assert len(expected) == 12 and len(received) == 12
    scores = [psnr(want, got) for want, got in zip(expected, received)]
    assert received[0].shape == expected[0].shape
    assert min(scores) > 28, scores


@pytest.mark.parametrize("hardware", [False, True])
def test_rtp_output_is_paced_by_the_frames_timestamps(hardware):
    """A video file runs faster than real time: sent in bursts, its RTP packets overflow a receiver's socket
    buffer and frames are lost (how often depends on the machine's load, so the loopback tests above cannot
    tell). The RTP branch timestamps each frame at the output rate and leaves udpsink waiting for each
    timestamp (its default, sync=true): nothing in the pipeline may turn that off."""
    for codec in gst.OUTPUT_CODECS:
        elements = [e.strip() for e in gst.encode_pipeline("rtp://10.0.0.2:5000", 25.0, (640, 360), codec,
                                                           bitrate=3000000, hardware=hardware).split("!")]
        assert elements[1].startswith("rawvideoparse ") and "framerate=25/1" in elements[1], elements
        assert elements[-1].startswith("udpsink ") and "sync=false" not in elements[-1], elements


CASES = [("rtp://@:5000", "h264"), ("rtp://239.0.0.1:5000", "h265"), ("rtsp://cam.local:554/live", "mjpeg"),
         ("clip.mkv", "vp9"), ("clip.mp4", "mpeg4")]


@pytest.mark.parametrize("uri,codec", CASES)
def test_jetson_decode_pipeline_differs_only_in_swapped_elements(uri, codec):
    software = gst.decode_pipeline(uri, codec, hardware=False)
    jetson = gst.decode_pipeline(uri, codec, hardware=True)
    assert "nvv4l2decoder" in jetson and "nvv4l2decoder" not in software
    for key in ("decode " + codec, "to BGR"):
        jetson = jetson.replace(gst.SWAP[key][1], gst.SWAP[key][0])
    assert jetson == software


@pytest.mark.parametrize("uri,codec", [("rtp://10.0.0.2:5000", c) for c in gst.OUTPUT_CODECS]
                         + [("out.mp4", "h264"), ("out.mkv", "h265")])
def test_jetson_encode_pipeline_differs_only_in_swapped_elements(uri, codec):
    software = gst.encode_pipeline(uri, 25.0, (640, 360), codec, bitrate=3000000, hardware=False)
    jetson = gst.encode_pipeline(uri, 25.0, (640, 360), codec, bitrate=3000000, hardware=True)
    software_fragment, jetson_fragment = (f.format(bps=3000000, kbps=3000) for f in gst.SWAP["encode " + codec])
    assert jetson_fragment in jetson and software_fragment in software
    assert jetson.replace(jetson_fragment, software_fragment) == software


def test_failing_pipeline_is_one_line(tmp_path):
    sink = gst.GstSink("broken", "fdsrc fd=0 ! nosuchelement ! fakesink", (64, 48))
    with pytest.raises(SinkError) as error:
        for frame in levels(3):
            sink.write(frame)
        sink.close()
    assert 'no element "nosuchelement"' in str(error.value) and "\n" not in str(error.value)
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(ConfigError):  # a file where the output's folder should be
        gst.open_gst_output(str(blocked / "out.mp4"), 10.0, (64, 48))
    with pytest.raises(SourceError, match="needs --input-codec"):
        gst.open_gst_input("rtp://@:5000")
    with pytest.raises(ConfigError, match="rtp://HOST:PORT"):
        gst.open_gst_output("rtsp://@:8554/seg", 30.0, (64, 48))


def test_cli_failing_pipelines_exit_2_in_one_line(probe_classmap_onnx, street_video, tmp_path):
    common = ("run", probe_classmap_onnx, "--source", street_video, "--no-display")
    wrong_codec = run_cli(*common, "--input-codec", "h265", block_torch=True)  # the video is MPEG-4 part 2
    rtsp_server = run_cli(*common, "--output", "rtsp://@:8554/seg", block_torch=True)
    bad_path = run_cli(*common, "--output", str(tmp_path / "out.flv"), "--output-codec", "h264")
    for result, words in ((wrong_codec, "reason not-linked"), (rtsp_server, "gst-rtsp-server"),
                          (bad_path, "out.flv: not a video")):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and words in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert not os.listdir(str(tmp_path))


def test_setup_script_is_quiet_when_gstreamer_is_there():
    result = subprocess.run([os.path.join(REPO, "scripts", "setup_gstreamer.sh")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
