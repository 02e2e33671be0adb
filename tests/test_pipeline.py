"""The run loop: pipelined and --sync agree, live sources drop frames, stops are clean, faults are clear."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import PROBE_SIZE, REPO

from edgeseg.data.synthetic import render_scene
from edgeseg.probe_model import expected_class_map
from edgeseg.runtime import open_artifact
from edgeseg.stream.loop import run
from edgeseg.stream.pipeline import Pipeline
from edgeseg.stream.render import Renderer
from edgeseg.stream.sinks import ImageFolderSink, Sinks, VideoFileSink
from edgeseg.stream.sources import FrameSource

QUIET = lambda *_: None  # noqa: E731


def edgeseg_threads():
    return [t for t in threading.enumerate() if t.name.startswith("edgeseg-")]


def generated_frame(index, width, height):
    """Frame `index`: one of three street scenes with the index written on it (so every frame differs)."""
    frame = render_scene(index % 3, width, height)[0]
    cv2.putText(frame, str(index), (5, height - 5), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 0, 0), 2)
    return frame


class GeneratedSource(FrameSource):
    """A real in-memory source: `count` distinct frames, optionally live and optionally paced."""

    def __init__(self, count, live=False, interval=0.0, sizes=((320, 180),)):
        self.name, self.live, self.fps, self.frame_count, self.reconnects = "generated", live, 30.0, count, 0
        self._count, self._interval, self._sizes, self._index = count, interval, sizes, 0

    def read(self):
        if self._index >= self._count:
            return None
        if self._interval:
            time.sleep(self._interval)
        frame = generated_frame(self._index, *self._sizes[self._index % len(self._sizes)])
        self._index += 1
        return frame

    def close(self):
        pass


def pipeline(segmenter, source, sinks, visualize=("overlay",), **options):
    renderer = Renderer(segmenter.palette.bgr_array(), visualize, 0.5)
    return Pipeline(segmenter, source, sinks, renderer, hud=False, **options)


@pytest.fixture(scope="module")
def probe_built(probe_onnx, tmp_path_factory):
    """The probe as `edgeseg build --preprocess graph` makes it: uint8 frame in, uint8 class map out."""
    from edgeseg.runtime.builder import build

    return build(probe_onnx, str(tmp_path_factory.mktemp("built") / "probe.ort.onnx"), "fp32", preprocess="graph")[0]


@pytest.mark.parametrize("probe", ["probe_onnx", "probe_classmap_onnx", "probe_built"])
def test_pipelined_and_sync_draw_each_frames_own_answer_in_order(probe, request, tmp_path):
    """Every written mask is the probe's known answer for that very frame, in both modes: scores argmaxed on
    the host, an int32 class map, and a built artifact fed the resized frame from reused buffers."""
    path = request.getfixturevalue(probe)
    with open_artifact(path) as segmenter:
        colours = segmenter.palette.bgr_array()
        for mode in ("sync", "pipelined"):
            sink = ImageFolderSink(str(tmp_path / mode), ".png")
            report = pipeline(segmenter, GeneratedSource(8), [sink], ("mask",), sync=mode == "sync").run()
            assert report["frames"] == 8 and report["dropped_frames"] == 0 and report["mode"] == mode
            for index in range(8):
                frame = generated_frame(index, 320, 180)
                expected = cv2.resize(expected_class_map(frame, PROBE_SIZE), (320, 180),
                                      interpolation=cv2.INTER_NEAREST)
                written = cv2.imread(str(tmp_path / mode / "frame_{:06d}.png".format(index)))
                np.testing.assert_array_equal(written, colours[expected], err_msg="{} {}".format(mode, index))
    assert not edgeseg_threads()


def test_every_stage_is_timed_per_frame(classmap_onnx):
    with open_artifact(classmap_onnx) as segmenter:
        p = pipeline(segmenter, GeneratedSource(6), [])
        report = p.run()
    assert set(report["stages_ms"]) == {"capture", "preprocess", "infer", "postprocess", "render", "write",
                                        "queue_wait", "end_to_end"}
    for times in report.frames.sample():
        order = [times[k] for k in ("capture_start", "captured", "preprocessed", "inferred", "postprocessed",
                                    "written")]
        assert order == sorted(order)


def test_a_live_source_keeps_only_the_newest_frame(classmap_onnx):
    with open_artifact(classmap_onnx) as segmenter:
        backend = segmenter.backend
        real_infer = backend.infer
        backend.infer = lambda blob: (time.sleep(0.05), real_infer(blob))[1]
        report = pipeline(segmenter, GeneratedSource(60, live=True, interval=0.002), []).run()
        backend.infer = real_infer
    assert report["dropped_frames"] > 0 and report["frames"] + report["dropped_frames"] <= 60
    assert report["frames"] < 60


def test_stop_ends_a_run_cleanly_and_the_video_plays(classmap_onnx, tmp_path):
    stop = threading.Event()
    out = str(tmp_path / "stopped.avi")
    with open_artifact(classmap_onnx) as segmenter:
        with Sinks([VideoFileSink(out, 10.0, (320, 180))]) as sinks:  # closed (the video finished) at the end
            p = pipeline(segmenter, GeneratedSource(10_000, live=False, interval=0.001), sinks, stop=stop)
            threading.Timer(0.5, stop.set).start()
            started = time.perf_counter()
            report = p.run()
    assert time.perf_counter() - started < 10 and report["interrupted"] and 0 < report["frames"] < 10_000
    capture = cv2.VideoCapture(out)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == report["frames"] and capture.read()[0]
    assert not edgeseg_threads()


def test_a_failing_stage_raises_instead_of_hanging(classmap_onnx):
    with open_artifact(classmap_onnx) as segmenter:
        backend = segmenter.backend
        backend.infer = lambda blob: (_ for _ in ()).throw(RuntimeError("device lost"))
        with pytest.raises(RuntimeError, match="device lost"):
            pipeline(segmenter, GeneratedSource(50), []).run()
    assert not edgeseg_threads()


def test_frames_that_change_size(classmap_onnx, tmp_path):
    out = str(tmp_path / "sizes.avi")
    with open_artifact(classmap_onnx) as segmenter:
        with Sinks([VideoFileSink(out, 10.0, (320, 180))]) as sinks:
            report = pipeline(segmenter, GeneratedSource(6, sizes=((320, 180), (200, 300))), sinks).run()
    assert report["frames"] == 6 and int(cv2.VideoCapture(out).get(cv2.CAP_PROP_FRAME_COUNT)) == 6


def test_mask_and_overlay_side_by_side(classmap_onnx, street_video, tmp_path):
    with open_artifact(classmap_onnx) as segmenter:
        report = run(segmenter, street_video, output=str(tmp_path / "frames"), max_frames=2,
                     visualize=("overlay", "mask"), log=QUIET)
    image = cv2.imread(str(tmp_path / "frames" / "frame_000000.jpg"))
    assert report["frames"] == 2 and image.shape[:2] == (180, 640)


def test_sigint_stops_the_cli_cleanly(classmap_onnx, street_video, tmp_path):
    out, report = tmp_path / "sigint.avi", tmp_path / "sigint.json"
    process = subprocess.Popen([sys.executable, "-m", "edgeseg", "run", classmap_onnx, "--source", street_video,
                                "--loop", "--output", str(out), "--report", str(report), "--no-display"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    deadline = time.time() + 60
    while not out.parent.exists() or not any(n.startswith(".sigint") for n in os.listdir(str(tmp_path))):
        assert time.time() < deadline
        time.sleep(0.2)
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    data = json.loads(report.read_text())
    assert data["interrupted"] and data["frames"] > 0
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == data["frames"]
    assert (tmp_path / "sigint.csv").exists() and (tmp_path / "sigint.png").exists()
