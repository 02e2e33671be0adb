"""The fault suite: bad options, odd graphs, damaged sidecars and manifests, outputs that would overwrite inputs,
a full disk, secrets in URLs, kill -9. Every case runs the real CLI in a real process (torch blocked) against a
real workspace and asserts the exit code, one line and no traceback on stderr, and that every file that existed
before is byte-identical afterwards (no partial files left either)."""
import http.server
import json
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import onnx
import pytest
from conftest import PROBE_SIZE, REPO, torch_blocked_env
from onnx import TensorProto, helper, numpy_helper

from edgeseg.data.synthetic import write_video
from edgeseg.probe_model import write_probe_dataset, write_probe_model
from edgeseg.quantize import calibrate
from edgeseg.runtime.builder import build


def odd_graph(path, inputs, output_shape, input_type=TensorProto.FLOAT):
    """A bare model: Identity-like (ReduceMean over the inputs' first) with the given interface."""
    values = [helper.make_tensor_value_info(name, input_type, shape) for name, shape in inputs]
    first = inputs[0][0]
    nodes = [helper.make_node("Cast", [first], ["as_float"], to=TensorProto.FLOAT),
             helper.make_node("Reshape", ["as_float", "shape"], ["output"])]
    shape = numpy_helper.from_array(np.array(output_shape, np.int64), "shape")
    graph = helper.make_graph(nodes, "odd", values,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, output_shape)], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The workspace every case runs against."""
    root = tmp_path_factory.mktemp("faults")
    paths = {"root": root}
    paths["model"] = str(root / "probe.onnx")
    write_probe_model(paths["model"], PROBE_SIZE)
    paths["built"] = build(paths["model"], str(root / "probe_fp32.ort.onnx"), "fp32")[0]
    paths["video"] = write_video(str(root / "street.mp4"), frames=12, width=320, height=180, fps=10.0, seed=3)
    paths["data"] = write_probe_dataset(str(root / "val"), 3, PROBE_SIZE, seed=70)
    paths["manifest"] = calibrate(paths["model"], paths["data"], num=3, method="minmax",
                                  out_dir=str(root / "calibration"), log=lambda *_: None)["path"]
    paths["two_inputs"] = odd_graph(root / "two_inputs.onnx", [("a", [1, 3, 8, 8]), ("b", [1, 3, 8, 8])], [1, 3, 8, 8])
    paths["flat_output"] = odd_graph(root / "flat_output.onnx", [("x", [1, 3, 8, 8])], [1, 192])
    paths["one_channel"] = odd_graph(root / "one_channel.onnx", [("x", [1, 1, 8, 8])], [1, 1, 8, 8])
    paths["five_d"] = odd_graph(root / "five_d.onnx", [("x", [1, 3, 2, 8, 8])], [1, 3, 16, 8])
    paths["avi"] = str(root / "street.avi")  # streams over plain HTTP (no index needed to read it)
    writer = cv2.VideoWriter(paths["avi"], cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 180))
    capture = cv2.VideoCapture(paths["video"])
    for _ in range(12):
        writer.write(capture.read()[1])
    writer.release()
    paths["previous_video"] = str(root / "previous.mp4")
    shutil.copyfile(paths["video"], paths["previous_video"])
    return paths


def snapshot(root):
    return {os.path.join(folder, name): open(os.path.join(folder, name), "rb").read()
            for folder, _, names in os.walk(str(root)) for name in names}


def run_edgeseg(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "edgeseg"] + [str(a) for a in args], cwd=REPO,
                          env=torch_blocked_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def assert_refused(result, *fragments, code=2):
    """One line, no traceback, exit `code` (2: bad input; 1: a check failed)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("edgeseg"), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def assert_untouched(before, root):
    after = snapshot(root)
    for path, data in before.items():
        assert after.get(path) == data, "changed or removed: {}".format(path)
    assert not [p for p in after if ".partial" in os.path.basename(p)], [p for p in after if ".partial" in p]


# (id, argv with {placeholders} from the workspace, fragments of the one-line error)
CASES = [
    # checked outputs: nothing overwrites an input or a sidecar; paths are checked before the work
    ("run-output-is-the-source", ["run", "{built}", "--source", "{video}", "--output", "{video}", "--no-display"],
     ["is an input"]),
    ("run-report-is-a-sidecar", ["run", "{built}", "--source", "{video}", "--report", "{model}.json",
                                 "--no-display"], ["sidecar"]),
    ("run-report-csv-is-the-source", ["run", "{built}", "--source", "{root}/street.csv", "--report",
                                      "{root}/street.json", "--no-display"], ["street.csv"]),
    ("build-output-is-the-model", ["build", "{model}", "-o", "{model}"], ["is an input"]),
    ("build-json-is-the-artifacts-sidecar", ["build", "{model}", "-o", "{root}/new.ort.onnx", "--json",
                                             "{built}.json"], ["sidecar"]),
    ("eval-json-is-another-artifact", ["eval", "{built}", "--data", "{data}", "--json", "{model}"],
     ["is an artifact"]),
    ("bench-csv-is-an-input", ["bench", "{built}", "--iterations", "1", "--csv", "{built}"], ["is an input"]),
    ("calibrate-json-is-the-model-sidecar", ["calibrate", "{model}", "--data", "{data}", "--json", "{model}.json"],
     ["sidecar"]),
    ("calibrate-out-is-a-file", ["calibrate", "{model}", "--data", "{data}", "--out", "{video}"], ["is a file"]),
    ("export-triton-into-a-file", ["export-triton", "{built}", "-o", "{previous_video}"], ["is a file"]),
    ("export-deepstream-over-the-artifact", ["export-deepstream", "{model}", "-o", "{model}"], ["is an input"]),
    ("output-under-a-file", ["eval", "{built}", "--data", "{data}", "--json", "{video}/eval.json"],
     ["cannot be written"]),
    ("run-video-output-is-a-folder", ["run", "{built}", "--source", "{video}", "--output", "{data}",
                                      "--report", "{data}", "--no-display"], ["is a folder"]),
    # options validated at parse time
    ("alpha-above-255", ["run", "{built}", "--source", "{video}", "--alpha", "256"], ["--alpha", "out of range"]),
    ("max-frames-0", ["run", "{built}", "--source", "{video}", "--max-frames", "0"], ["--max-frames"]),
    ("threads-negative", ["run", "{built}", "--source", "{video}", "--threads", "-4"], ["--threads"]),
    ("visualize-bogus", ["run", "{built}", "--source", "{video}", "--visualize", "bogus"], ["--visualize"]),
    ("workspace-negative", ["build", "{model}", "--workspace", "-100"], ["--workspace"]),
    ("dla-core-negative", ["build", "{model}", "--dla-core", "-1"], ["--dla-core"]),
    ("limit-0", ["eval", "{built}", "--data", "{data}", "--limit", "0"], ["--limit"]),
    ("limit-negative", ["eval", "{built}", "--data", "{data}", "--limit", "-1"], ["--limit"]),
    ("iterations-0", ["bench", "{built}", "--iterations", "0"], ["--iterations"]),
    ("seconds-not-a-number", ["bench", "{built}", "--seconds", "soon"], ["--seconds", "not a number"]),
    ("num-0", ["calibrate", "{model}", "--data", "{data}", "--num", "0"], ["--num"]),
    ("train-batch-size-1", ["train", "unet", "--data", "synthetic:4", "--batch-size", "1"], ["--batch-size"]),
    ("train-epochs-0", ["train", "unet", "--data", "synthetic:4", "--epochs", "0"], ["--epochs"]),
    ("export-300-classes", ["export", "unet", "--num-classes", "300", "--input-size", "64x64", "-o",
                            "{root}/x.onnx"], ["--num-classes"]),
    ("unknown-stage", ["deploy", "{built}"], ["invalid choice"]),
    # graphs the device side cannot run, refused in one line
    ("two-inputs", ["run", "{two_inputs}", "--source", "{video}", "--no-display"], ["2 inputs"]),
    ("flat-output", ["eval", "{flat_output}", "--data", "{data}"], ["2 dimensions"]),
    ("one-channel-input", ["bench", "{one_channel}", "--iterations", "1"], ["1 channels"]),
    ("five-d-input", ["run", "{five_d}", "--source", "{video}", "--no-display"], ["5 dimensions"]),
    ("bench-one-bad-artifact-of-two", ["bench", "{built}", "{two_inputs}", "--iterations", "2", "--warmup", "0"],
     ["1 of 2 artifact(s) failed"]),
    # sources
    ("missing-source", ["run", "{built}", "--source", "{root}/nothing.mp4", "--no-display"], ["no such"]),
    ("stream-password-never-shown", ["run", "{built}", "--source", "http://user:hunter2@127.0.0.1:9/v.mp4",
                                     "--no-display"], ["***@127.0.0.1"]),
]


CHECK_FAILED = {"bench-one-bad-artifact-of-two"}  # the table is complete: a failed check (exit 1)


@pytest.mark.parametrize("case, argv, fragments", CASES, ids=[c[0] for c in CASES])
def test_refused_in_one_line_and_nothing_changes(ws, case, argv, fragments):
    before = snapshot(ws["root"])
    result = run_edgeseg(*[a.format(**ws) for a in argv])
    assert_refused(result, *fragments, code=1 if case in CHECK_FAILED else 2)
    assert "hunter2" not in result.stdout + result.stderr
    assert_untouched(before, ws["root"])


def damaged_copy(ws, tmp_path, edit):
    """A copy of the probe (8 scores out) and its sidecar with `edit(record)` applied to the sidecar."""
    artifact = str(tmp_path / "copy.onnx")
    shutil.copyfile(ws["model"], artifact)
    record = json.load(open(ws["model"] + ".json"))
    text = edit(record)
    open(artifact + ".json", "w").write(text if isinstance(text, str) else json.dumps(record))
    return artifact


@pytest.mark.parametrize("edit, fragments", [
    (lambda r: r.update(sha256="0" * 64), ["does not match its sidecar"]),
    (lambda r: "{not json", ["not valid JSON"]),
    (lambda r: r.update(palette=r["palette"][:3]), ["inconsistent"]),
    (lambda r: r.update(num_classes="abc"), ["inconsistent"]),
    (lambda r: r.update(classes=r["classes"][:4], palette=r["palette"][:4], num_classes=4), ["outputs 8 classes"]),
], ids=["hash", "not-json", "palette-short", "num-classes-text", "classes-vs-outputs"])
def test_damaged_sidecars_are_refused(ws, tmp_path, edit, fragments):
    artifact = damaged_copy(ws, tmp_path, edit)
    before = snapshot(tmp_path)
    assert_refused(run_edgeseg("eval", artifact, "--data", ws["data"]), *fragments)
    assert_untouched(before, tmp_path)


def test_a_json_that_is_not_a_sidecar_is_ignored_and_left_alone(ws, tmp_path):
    artifact = damaged_copy(ws, tmp_path, lambda r: json.dumps({"fps": 30.0, "frames": 12}))
    before = snapshot(tmp_path)
    result = run_edgeseg("info", artifact)
    assert result.returncode == 0 and "no sidecar" in result.stdout, result.stderr
    assert_untouched(before, tmp_path)


def manifest_copy(ws, tmp_path, edit):
    """A copy of the calibration folder whose manifest gets `edit(manifest, folder)`."""
    folder = str(tmp_path / "calibration")
    shutil.copytree(os.path.dirname(ws["manifest"]), folder)
    path = os.path.join(folder, "manifest.json")
    manifest = json.load(open(path))
    manifest["model"]["path"] = os.path.relpath(ws["model"], folder)
    edit(manifest, folder)
    json.dump(manifest, open(path, "w"))
    return path


def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("not for the device")
    return str(path)


@pytest.mark.parametrize("edit, fragments", [
    (lambda m, f: m.clear(), ["not a calibration manifest"]),
    (lambda m, f: m["outputs"]["tensorrt_qdq"].update(file=os.path.abspath(os.path.join(f, "..", "secret.txt"))),
     ["not a file in the manifest's folder"]),
    (lambda m, f: m["outputs"]["tensorrt_cache"].update(file="../secret.txt"), ["not a file in the manifest's folder"]),
    (lambda m, f: m["outputs"]["onnxruntime_int8"].update(sha256="0" * 64), ["changed since"]),
    (lambda m, f: (shutil.copyfile(os.path.join(f, "..", "secret.txt"), os.path.join(f, "fake.cache")),
                   m["outputs"]["tensorrt_cache"].update(
                       file="fake.cache", sha256=__import__("edgeseg.artifacts").artifacts.file_sha256(
                           os.path.join(f, "fake.cache")))), ["not a TensorRT calibration cache"]),
], ids=["not-a-manifest", "absolute-output", "dotdot-output", "tampered-output", "cache-not-a-cache"])
@pytest.mark.parametrize("stage", ["build", "export-deepstream"])
def test_manifests_cannot_point_outside_or_be_tampered_with(ws, tmp_path, edit, fragments, stage):
    secret_file(tmp_path)
    manifest = manifest_copy(ws, tmp_path, edit)
    before = snapshot(tmp_path)
    if stage == "build":
        result = run_edgeseg("build", ws["model"], "--precision", "int8", "--calibration", manifest,
                             "-o", tmp_path / "out.ort.onnx")
    else:
        result = run_edgeseg("export-deepstream", ws["model"], "--precision", "int8", "--calibration", manifest,
                             "-o", tmp_path / "ds")
    assert_refused(result, *fragments)
    assert_untouched(before, tmp_path)
    assert not (tmp_path / "ds").exists() and not (tmp_path / "out.ort.onnx").exists()


def test_two_calibrations_never_share_a_file(ws, tmp_path):
    first = run_edgeseg("calibrate", ws["model"], "--data", ws["data"], "--num", "2", "--method", "minmax",
                        "--seed", "1", "--out", tmp_path, "--json", tmp_path / "one.json")
    second = run_edgeseg("calibrate", ws["model"], "--data", ws["data"], "--num", "2", "--method", "minmax",
                         "--seed", "2", "--out", tmp_path, "--json", tmp_path / "two.json")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    one = json.load(open(str(tmp_path / "one.json")))["manifest"]
    two = json.load(open(str(tmp_path / "two.json")))["manifest"]
    assert os.path.dirname(one) != os.path.dirname(two)
    built = run_edgeseg("build", ws["model"], "--precision", "int8", "--calibration", one, "-o", tmp_path / "a.onnx")
    assert built.returncode == 0, built.stderr  # the first is still whole after the second


@pytest.fixture
def http_video(ws):
    """A real HTTP server (any credentials accepted) serving the workspace's video."""
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(ws["root"]), **k)  # noqa: E731
    server = socketserver.TCPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://user:hunter2@127.0.0.1:{}/street.avi".format(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_a_streams_password_is_in_no_output(ws, http_video, tmp_path):
    report = tmp_path / "report.json"
    result = run_edgeseg("run", ws["built"], "--source", http_video, "--report", report, "--max-frames", "4",
                         "--no-display")
    assert result.returncode == 0, result.stderr
    written = [report.read_text(), (tmp_path / "report.csv").read_text()]
    assert json.loads(written[0])["source"].startswith("http://***@127.0.0.1")
    for text in written + [result.stdout, result.stderr]:
        assert "hunter2" not in text and "user:" not in text


def test_a_truncated_video_is_reported(ws, tmp_path):
    """An AVI cut short: its header still says 24 frames; the run says how many it found, and ends cleanly."""
    whole = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 180))
    capture = cv2.VideoCapture(ws["video"])
    frames = [capture.read()[1] for _ in range(12)]
    for frame in frames + frames:
        writer.write(frame)
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.5)])
    if cv2.VideoCapture(str(cut)).get(cv2.CAP_PROP_FRAME_COUNT) != 24:
        pytest.skip("this OpenCV does not read the frame count of a cut AVI from its header")
    result = run_edgeseg("run", ws["built"], "--source", cut, "--no-display")
    assert result.returncode == 0, result.stderr
    assert "truncated" in result.stderr and "of its 24 frames" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MB tmpfs (needs root and mount); skipped with the reason elsewhere."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): {}".format(made.stdout.strip()))
    yield mount
    subprocess.run(["umount", str(mount)])


def fill(folder):
    """Fill the disk of `folder` to the last byte."""
    with open(str(folder / "ballast"), "wb", buffering=0) as f:
        for block in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * block)
                    f.flush()
            except OSError:
                pass


def test_full_disk_during_a_run_leaves_the_previous_video(ws, full_disk):
    previous = full_disk / "out.mp4"
    previous.write_bytes(b"the previous, good video")
    result = run_edgeseg("run", ws["built"], "--source", ws["video"], "--loop", "--max-frames", "300", "--output",
                         previous, "--no-display")
    assert_refused(result, "disk is full")
    assert previous.read_bytes() == b"the previous, good video"
    assert sorted(os.listdir(str(full_disk))) == ["out.mp4"]


def test_full_disk_during_build_and_eval_keeps_what_was_there(ws, full_disk):
    shutil.copyfile(ws["built"], str(full_disk / "probe.ort.onnx"))
    shutil.copyfile(ws["built"] + ".json", str(full_disk / "probe.ort.onnx.json"))
    fill(full_disk)
    before = snapshot(full_disk)
    assert_refused(run_edgeseg("build", ws["model"], "-o", full_disk / "probe.ort.onnx"))
    assert_refused(run_edgeseg("eval", ws["built"], "--data", ws["data"], "--json", full_disk / "eval.json"))
    assert_untouched(before, full_disk)


def test_kill_9_during_a_run_leaves_the_previous_video_and_the_next_run_cleans_up(ws, tmp_path):
    previous = tmp_path / "out.mp4"
    shutil.copyfile(ws["previous_video"], str(previous))
    process = subprocess.Popen([sys.executable, "-m", "edgeseg", "run", ws["built"], "--source", ws["video"], "--loop",
                                "--output", str(previous), "--no-display"], cwd=REPO, env=torch_blocked_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not [n for n in os.listdir(str(tmp_path)) if ".partial" in n]:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert previous.read_bytes() == open(ws["previous_video"], "rb").read()
    assert [n for n in os.listdir(str(tmp_path)) if ".partial" in n]  # what the kill left ...
    result = run_edgeseg("run", ws["built"], "--source", ws["video"], "--output", previous, "--no-display")
    assert result.returncode == 0, result.stderr
    assert os.listdir(str(tmp_path)) == ["out.mp4"]  # ... the next run to that path removed


def test_a_video_the_disk_could_not_hold_is_caught_when_it_is_closed(ws, full_disk, monkeypatch):
    """Between the sink's room checks the disk can fill and OpenCV says nothing: the frame count is verified
    at close, and a short video never replaces the previous one."""
    from edgeseg.errors import SinkError
    from edgeseg.stream.sinks import VideoFileSink

    monkeypatch.setattr(VideoFileSink, "CHECK_EVERY", 10 ** 9)  # no room checks: only the close-time one
    previous = full_disk / "out.mp4"
    previous.write_bytes(b"the previous, good video")
    sink = VideoFileSink(str(previous), 10.0, (320, 180))
    noise = np.random.RandomState(0)
    for _ in range(200):
        sink.write(noise.randint(0, 256, (180, 320, 3)).astype(np.uint8))  # incompressible: fills 1 MB
    with pytest.raises(SinkError, match="holds .* of the 200 frames written"):
        sink.close()
    assert previous.read_bytes() == b"the previous, good video" and os.listdir(str(full_disk)) == ["out.mp4"]


def test_no_error_message_carries_a_password():
    from edgeseg.errors import ArtifactError, SourceError, redact

    assert str(SourceError("rtsp://admin:hunter2@10.0.0.5:554/live: cannot open")) == \
        "rtsp://***@10.0.0.5:554/live: cannot open"
    pipeline = "rtspsrc location=rtsp://u:p@cam/x latency=0 ! decodebin ! appsink"
    assert str(ArtifactError(pipeline)) == redact(pipeline) == "rtspsrc location=rtsp://***@cam/x latency=0 ! " \
                                                                "decodebin ! appsink"
    assert redact("/data/video.mp4") == "/data/video.mp4" and redact("http://cam/x") == "http://cam/x"
