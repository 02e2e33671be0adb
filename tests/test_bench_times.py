"""`edgeseg bench`'s per-iteration phases (H2D, compute, D2H) and its trtexec-layout --export-times trace.

TensorRT runs through the test double (tests/trt_double), whose pycuda stream advances a simulated device
clock by a known time per copy and per execution, so the CUDA-event split can be checked exactly. ONNX
Runtime (one `run` call, no separate copies) runs a real probe model through the CLI.
"""
import json

import numpy as np
import pytest
import test_tensorrt_glue
from conftest import run_cli
from test_bad_input import assert_clean_error

ort = pytest.importorskip("onnxruntime")
load_double = test_tensorrt_glue.load_double  # the fixture that puts the doubles in sys.modules for one test

TRTEXEC_KEYS = ["startH2dMs", "endH2dMs", "startComputeMs", "endComputeMs", "startD2hMs", "endD2hMs",
                "h2dMs", "computeMs", "d2hMs", "latencyMs", "endToEndMs"]  # trtexec's exportJSONTrace, less Enq
ORT_KEYS = ["startComputeMs", "endComputeMs", "computeMs", "latencyMs", "endToEndMs"]
DURATIONS = {"htod": 0.5, "execute": 2.0, "dtoh": 0.25}  # ms on the double's device clock


def read_trace(path):
    with open(str(path)) as f:
        return json.load(f)


def assert_back_to_back(records, first, last):
    """Each iteration starts after the previous one ended."""
    for before, after in zip(records, records[1:]):
        assert after[first] >= before[last]


# ------------------------------------------------------------------------------------ TensorRT (double)


def test_the_pycuda_double_events_follow_pycuda(load_double):
    """record() returns self and queues the point; time_since/time_till fail until both are reached;
    synchronize() runs the stream's work up to the event only; end.time_since(start) == start.time_till(end)."""
    _, cuda = load_double("10.3")
    cuda.init()
    context = cuda.Device(0).retain_primary_context()
    context.push()
    try:
        cuda.DURATIONS_MS.update(DURATIONS)
        stream, device = cuda.Stream(), cuda.mem_alloc(16)
        start, end = cuda.Event(), cuda.Event()
        assert start.record(stream) is start
        cuda.memcpy_htod_async(device, np.ones(4, np.float32), stream)
        end.record(stream)
        cuda.memcpy_dtoh_async(np.empty(4, np.float32), device, stream)
        assert not end.query()
        with pytest.raises(cuda.LogicError, match="cuEventElapsedTime"):
            end.time_since(start)
        assert end.synchronize() is end and end.query() and len(stream.pending) == 1  # the D2H copy is left
        assert end.time_since(start) == start.time_till(end) == DURATIONS["htod"]
        untimed = cuda.Event(cuda.event_flags.DISABLE_TIMING).record(stream).synchronize()
        with pytest.raises(cuda.LogicError):
            untimed.time_since(start)
    finally:
        cuda.Context.pop()
        context.detach()


def test_tensorrt_phases_are_timed_by_cuda_events_in_trtexecs_layout(load_double, tmp_path, probe_onnx):
    from edgeseg.bench import bench
    from edgeseg.runtime import open_artifact
    from edgeseg.runtime.builder import build as build_artifact

    _, cuda = load_double("10.3")
    cuda.DURATIONS_MS.update(DURATIONS)
    engine, _, _ = build_artifact(probe_onnx, str(tmp_path / "probe_fp16.engine"), "fp16")
    trace = tmp_path / "times.json"
    with open_artifact(engine) as segmenter:
        result = bench(segmenter, iterations=6, warmup=2, times_path=str(trace))
        records = read_trace(trace)
        assert len(records) == 6 and all(list(r) == TRTEXEC_KEYS for r in records)
        for r in records:
            assert r["startH2dMs"] <= r["endH2dMs"] <= r["startComputeMs"] <= r["endComputeMs"] \
                <= r["startD2hMs"] <= r["endD2hMs"]
            assert (r["h2dMs"], r["computeMs"], r["d2hMs"]) == (
                DURATIONS["htod"], DURATIONS["execute"], DURATIONS["dtoh"])
            assert r["latencyMs"] == r["h2dMs"] + r["computeMs"] + r["d2hMs"] == r["endToEndMs"]
        assert records[0]["startH2dMs"] == 0.0  # timed from the zero event recorded as timing began
        assert_back_to_back(records, "startH2dMs", "endD2hMs")
        assert {k: v["p50"] for k, v in result["phases_ms"].items()} == {
            "h2d": DURATIONS["htod"], "compute": DURATIONS["execute"], "d2h": DURATIONS["dtoh"]}
        assert result["times"] == str(trace)
        # timing is opt-in: bench turns it off, and the frame path records no event
        recorded = cuda.CALLS.count("Event.record")
        segmenter.predict(np.zeros((64, 128, 3), np.uint8))
        assert cuda.CALLS.count("Event.record") == recorded > 0
        assert segmenter.backend.phase_times() == {}


# ------------------------------------------------------------------------------------ ONNX Runtime (CLI)


def test_onnxruntime_export_times_reports_compute_only(probe_onnx, tmp_path):
    trace, report = tmp_path / "times.json", tmp_path / "bench.json"
    result = run_cli("bench", probe_onnx, "--iterations", "7", "--warmup", "1", "--export-times", trace,
                     "--json", report, block_torch=True)
    assert result.returncode == 0, result.stderr
    records = read_trace(trace)
    assert len(records) == 7 and all(list(r) == ORT_KEYS for r in records)
    for r in records:
        assert 0 <= r["startComputeMs"] < r["endComputeMs"]
        assert r["computeMs"] == pytest.approx(r["endComputeMs"] - r["startComputeMs"])
        assert r["latencyMs"] == r["computeMs"] == pytest.approx(r["endToEndMs"])
    assert_back_to_back(records, "startComputeMs", "endComputeMs")
    row = json.loads(report.read_text())["results"][0]
    assert set(row["phases_ms"]) == {"compute"} and row["times"] == str(trace)
    assert row["phases_ms"]["compute"]["count"] == 7
    assert row["phases_ms"]["compute"]["mean"] == pytest.approx(np.mean([r["computeMs"] for r in records]))
    header, _, cells = result.stdout.strip().splitlines()[:3]
    titles = [c.strip() for c in header.strip("|").split("|")]
    values = dict(zip(titles, [c.strip() for c in cells.strip("|").split("|")]))
    assert values["H2D ms mean/median"] == values["D2H ms mean/median"] == "-"
    mean, median = (float(v) for v in values["compute ms mean/median"].split("/"))
    assert mean == pytest.approx(row["phases_ms"]["compute"]["mean"], abs=1e-3)
    assert median == pytest.approx(row["phases_ms"]["compute"]["p50"], abs=1e-3)


def test_several_artifacts_get_one_trace_each(probe_onnx, probe_classmap_onnx, tmp_path):
    trace = tmp_path / "times.json"
    result = run_cli("bench", probe_onnx, probe_classmap_onnx, "--iterations", "3", "--warmup", "0",
                     "--export-times", trace, block_torch=True)
    assert result.returncode == 0, result.stderr
    assert not trace.exists()
    for name in ("times.probe_onnx.json", "times.probe_classmap_onnx.json"):
        assert len(read_trace(tmp_path / name)) == 3
        assert "wrote {}".format(tmp_path / name) in result.stderr + result.stdout


def test_a_bad_export_times_path_is_one_line(probe_onnx, tmp_path):
    assert_clean_error(run_cli("bench", probe_onnx, "--iterations", "1", "--export-times", tmp_path,
                               block_torch=True), "{}: is a folder".format(tmp_path))
    assert_clean_error(run_cli("bench", probe_onnx, "--iterations", "1", "--export-times", probe_onnx,
                               block_torch=True), "is an input")
