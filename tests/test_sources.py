"""Frame sources on real files: video files (and --loop), image folders, errors, reconnecting live sources."""
import os

import cv2
import numpy as np
import pytest

from edgeseg.errors import SourceError
from edgeseg.stream import sources
from edgeseg.stream.sources import (
    CaptureSource,
    FrameSource,
    ImageFolderSource,
    VideoFileSource,
    csi_pipeline,
    open_source,
)

FRAMES = 8
W, H = 64, 48


def level(i):
    return 20 + 25 * i


def write_video(path, frames=FRAMES, fourcc="mp4v", fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((H, W, 3), level(i), np.uint8)
        frame[:8, :8] = (255, 0, 0)  # a blue corner, so channel order is visible
        writer.write(frame)
    writer.release()
    return str(path)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "levels.mp4")


class Recorder:
    def __init__(self):
        self.lines = []
        self.sleeps = []

    def log(self, line):
        self.lines.append(line)

    def sleep(self, seconds):
        self.sleeps.append(seconds)


def assert_frame(frame):
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


# ---------------------------------------------------------------------------------- video files


def test_video_file_every_frame_in_order(video):
    with open_source(video) as source:
        assert isinstance(source, VideoFileSource) and isinstance(source, FrameSource)
        assert source.name == video and not source.live and source.reconnects == 0
        assert source.fps == pytest.approx(10.0) and source.frame_count == FRAMES
        frames = list(source)
    assert len(frames) == FRAMES
    for i, frame in enumerate(frames):
        assert_frame(frame)
        assert frame.shape == (H, W, 3)
        assert abs(float(frame[16:, 16:].mean()) - level(i)) < 5, i
        assert frame[2, 2, 0] > 200 and frame[2, 2, 2] < 60  # BGR: blue stays in channel 0
    assert source.read() is None  # stays ended, even after close


def test_video_loop_restarts_at_frame_zero(video):
    source = open_source(video, loop=True, log=lambda line: None)
    frames = [source.read() for _ in range(2 * FRAMES + 3)]
    source.close()
    assert all(frame is not None for frame in frames)
    assert source.loops == 2 and source.frame_count is None and source.file_frame_count == FRAMES
    assert np.array_equal(frames[FRAMES], frames[0]) and np.array_equal(frames[2 * FRAMES], frames[0])
    assert np.array_equal(frames[FRAMES + 3], frames[3])
    assert not np.array_equal(frames[FRAMES], frames[FRAMES - 1])


def test_mjpg_avi_and_fps_override(tmp_path):
    path = write_video(tmp_path / "clip.avi", frames=3, fourcc="MJPG", fps=25.0)
    source = open_source(path, fps=12.5)
    assert source.fps == 12.5 and len(list(source)) == 3


# ---------------------------------------------------------------------------------- image folders


def test_image_folder_sorted_converted_and_odd_files_skipped(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "frame_1.png"), np.full((H, W, 3), (10, 20, 30), np.uint8))
    cv2.imwrite(str(folder / "frame_2.png"), np.full((H, W), 100, np.uint8))  # grayscale
    cv2.imwrite(str(folder / "frame_10.png"), np.full((H, W, 3), 51400, np.uint16))  # 16-bit: 51400/257 = 200
    bgra = np.zeros((H + 4, W, 4), np.uint8)
    bgra[:] = (40, 50, 60, 128)
    cv2.imwrite(str(folder / "frame_11.png"), bgra)  # BGRA, and another size
    cv2.imwrite(str(folder / "frame_12.tif"), np.full((H, W), 65535, np.uint16))  # 16-bit grey
    (folder / "frame_3.jpg").write_bytes(os.urandom(500))  # not an image
    (folder / "notes.txt").write_text("ignored")
    (folder / "sub").mkdir()
    recorder = Recorder()
    with open_source(str(folder), log=recorder.log) as source:
        assert isinstance(source, ImageFolderSource) and not source.live and source.fps == 30.0
        frames = list(source)
    assert [os.path.basename(path) for path in source.files] == [
        "frame_1.png", "frame_2.png", "frame_3.jpg", "frame_10.png", "frame_11.png", "frame_12.tif"]
    assert len(frames) == 5
    for frame in frames:
        assert_frame(frame)
    assert tuple(frames[0][0, 0]) == (10, 20, 30)
    assert tuple(frames[1][0, 0]) == (100, 100, 100)
    assert tuple(frames[2][0, 0]) == (200, 200, 200)
    assert tuple(frames[3][0, 0]) == (40, 50, 60) and frames[3].shape == (H + 4, W, 3)
    assert tuple(frames[4][0, 0]) == (255, 255, 255)
    assert len(recorder.lines) == 1 and "frame_3.jpg" in recorder.lines[0] and str(folder) in recorder.lines[0]


def test_image_folder_fps_and_loop(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / "{}.jpg".format(i)), np.full((H, W, 3), level(i), np.uint8))
    source = open_source(str(tmp_path), fps=5, loop=True)
    frames = [source.read() for _ in range(7)]
    assert source.fps == 5.0 and source.loops == 2 and np.array_equal(frames[3], frames[0])


def test_single_image_file(tmp_path):
    path = tmp_path / "one.png"
    cv2.imwrite(str(path), np.full((H, W, 3), 7, np.uint8))
    assert len(list(open_source(str(path)))) == 1


# ---------------------------------------------------------------------------------- errors


def test_missing_undecodable_and_empty_sources(tmp_path):
    missing = str(tmp_path / "nope.mp4")
    with pytest.raises(SourceError) as error:
        open_source(missing)
    assert missing in str(error.value) and "no such file or folder" in str(error.value)

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(20000))
    with pytest.raises(SourceError) as error:
        open_source(str(garbage))
    assert str(garbage) in str(error.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError) as error:
        open_source(str(empty))
    assert str(empty) in str(error.value) and "no image files" in str(error.value)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    (broken / "b.jpg").write_bytes(os.urandom(300))
    lines = []
    with pytest.raises(SourceError) as error:
        open_source(str(broken), log=lines.append)
    assert str(broken) in str(error.value) and "decodes" in str(error.value) and len(lines) == 2


def test_gstreamer_sources_say_opencv_lacks_gstreamer():
    if sources.opencv_has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    for spec in ("videotestsrc num-buffers=5 ! videoconvert ! appsink", "csi://0"):
        with pytest.raises(SourceError) as error:
            open_source(spec)
        message = str(error.value)
        assert message.startswith(spec) and "GStreamer" in message and "JetPack" in message
        assert "\n" not in message


def test_csi_pipeline_string():
    assert csi_pipeline(0) == (
        "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! "
        "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
        "appsink drop=1 max-buffers=1")
    assert "sensor-id=1" in csi_pipeline(1, 1920, 1080, 60, 2)
    assert "width=1920,height=1080,framerate=60/1" in csi_pipeline(1, 1920, 1080, 60, 2)
    assert "nvvidconv flip-method=2 !" in csi_pipeline(1, flip_method=2)


def test_routing_by_spec(monkeypatch, video):
    """Cameras, URLs, pipelines and csi:// reach cv2.VideoCapture with the right target and API."""
    calls = []

    def fake_capture(target, api=None, params=None):
        calls.append((target, api))
        return cv2.VideoCapture(video)

    monkeypatch.setattr(sources, "_capture", fake_capture)
    monkeypatch.setattr(sources, "opencv_has_gstreamer", lambda: True)
    for spec in ("0", "/dev/video3", "rtsp://user:secret@cam.local/stream", "csi://1?width=1920&height=1080",
                 "videotestsrc ! appsink"):
        source = open_source(spec)
        assert source.live and source.frame_count is None and source.read() is not None
        source.close()
    targets = [target for target, _ in calls]
    assert targets[:3] == [0, 3, "rtsp://user:secret@cam.local/stream"]
    assert targets[3] == csi_pipeline(1, 1920, 1080) and targets[4] == "videotestsrc ! appsink"
    assert calls[3][1] == cv2.CAP_GSTREAMER and calls[4][1] == cv2.CAP_GSTREAMER
    with pytest.raises(SourceError, match="appsink"):
        open_source("videotestsrc ! fakesink")
    with pytest.raises(SourceError, match="csi://"):
        open_source("csi://0?zoom=2")
    assert open_source("rtsp://user:secret@cam.local/x").name == "rtsp://***@cam.local/x"


def test_camera_that_does_not_open(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "_capture", lambda target, api=None, params=None: cv2.VideoCapture(
        str(tmp_path / "absent.mp4")))
    with pytest.raises(SourceError) as error:
        open_source("/dev/video7")
    assert "/dev/video7" in str(error.value) and "csi://0" in str(error.value)


# ---------------------------------------------------------------------------------- live sources


def opener_for(*targets):
    """An opener returning cv2.VideoCapture(targets[0]), then targets[1], ...; the last one repeats."""
    queue = list(targets)
    opened = []

    def opener():
        target = queue.pop(0) if len(queue) > 1 else queue[0]
        opened.append(target)
        return cv2.VideoCapture(target)

    return opener, opened


def test_live_source_gives_up_after_its_reconnect_attempts(video, tmp_path):
    gone = str(tmp_path / "gone.mp4")
    opener, opened = opener_for(video, gone)
    recorder = Recorder()
    source = CaptureSource("cam", opener, live=True, reconnect_attempts=6, backoff_s=0.5, max_backoff_s=8.0,
                           sleep=recorder.sleep, log=recorder.log)
    assert source.live and source.frame_count is None
    frames = list(source)
    assert len(frames) == FRAMES
    reconnecting = [line for line in recorder.lines if "reconnecting" in line]
    assert len(reconnecting) == 6
    assert reconnecting[0] == "cam: stream lost, reconnecting (1/6) in 0.5 s"
    assert reconnecting[1] == "cam: stream lost, reconnecting (2/6) in 1.0 s"
    assert recorder.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped
    assert "gave up after 6" in recorder.lines[-1]
    assert opened == [video] + [gone] * 6 and source.reconnects == 0
    assert source.read() is None and len(opened) == 7  # ended for good: no more attempts


def test_backoff_cap_and_no_reconnects(video, tmp_path):
    gone = str(tmp_path / "gone.mp4")
    recorder = Recorder()
    source = CaptureSource("cam", opener_for(video, gone)[0], reconnect_attempts=5, backoff_s=0.25, max_backoff_s=1.5,
                           sleep=recorder.sleep, log=recorder.log)
    assert len(list(source)) == FRAMES and recorder.sleeps == [0.25, 0.5, 1.0, 1.5, 1.5]
    recorder = Recorder()
    source = CaptureSource("cam", opener_for(video, gone)[0], reconnect_attempts=0, sleep=recorder.sleep,
                           log=recorder.log)
    assert len(list(source)) == FRAMES and recorder.sleeps == [] and "gave up" in recorder.lines[-1]


def test_live_source_comes_back_on_the_second_attempt(video, tmp_path):
    gone = str(tmp_path / "gone.mp4")
    opener, opened = opener_for(video, gone, video, gone)
    recorder = Recorder()
    source = CaptureSource("rtsp://cam", opener, reconnect_attempts=3, sleep=recorder.sleep, log=recorder.log)
    frames = list(source)
    assert len(frames) == 2 * FRAMES and source.reconnects == 1
    assert np.array_equal(frames[FRAMES], frames[0])  # the reopened stream delivers again
    reconnecting = [line for line in recorder.lines if "reconnecting" in line]
    # first outage: attempt 1 fails, 2 succeeds; second outage starts again at 1 (the count was reset)
    assert [line.split("(")[1].split(")")[0] for line in reconnecting] == ["1/3", "2/3", "1/3", "2/3", "3/3"]
    assert recorder.sleeps == [0.5, 1.0, 0.5, 1.0, 2.0]
    assert any("reconnected" in line for line in recorder.lines)


def test_a_stop_ends_the_reconnect_back_off_at_once(video, tmp_path):
    """Ctrl-C sets the run's stop event: a stream waiting 8 s to reconnect ends within a moment."""
    import threading
    import time

    stop = threading.Event()
    gone = str(tmp_path / "gone.mp4")
    source = CaptureSource("cam", opener_for(video, gone)[0], reconnect_attempts=5, backoff_s=8.0,
                           max_backoff_s=8.0, log=lambda *_: None, stop=stop)
    frames = [source.read() for _ in range(FRAMES)]
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert source.read() is None and all(f is not None for f in frames)
    assert time.monotonic() - started < 3.0 and source.ended_early == "stopped while reconnecting"


def test_live_source_that_never_opens_raises(tmp_path):
    with pytest.raises(SourceError) as error:
        CaptureSource("rtsp://nowhere", lambda: cv2.VideoCapture(str(tmp_path / "absent.mp4")))
    assert "rtsp://nowhere" in str(error.value)
