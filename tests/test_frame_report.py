"""edgeseg.report and edgeseg.jetson: per-frame statistics, CSV, the OpenCV latency plot, tegrastats and
jetson_clocks parsing, and the tegrastats collector (against a fake tegrastats script)."""
import csv
import os
import stat
import time

import numpy as np
import pytest

from edgeseg.jetson import clocks, tegrastats
from edgeseg.report import frame_csv, frame_log, plot
from edgeseg.report import frames as records

# --- real tegrastats lines ------------------------------------------------------------------
# Xavier NX, JetPack 5 (as given for this project): 'off' cores, plain X/Y rails, no GPU frequency.
XAVIER_NX_JP5 = (
    "RAM 2448/7765MB (lfb 7x4MB) SWAP 0/3882MB (cached 0MB) CPU [12%@1190,9%@1190,off,off,8%@1190,"
    "6%@1190] EMC_FREQ 0% GR3D_FREQ 0% AUX@36C CPU@37.5C thermal@36.7C AO@37C GPU@36C PMIC@50C "
    "VDD_IN 3591/3591 VDD_CPU_GPU_CV 491/491 VDD_SOC 1270/1270"
)
# Xavier NX (DataDog/datadog-agent pkg/collector/corechecks/nvidia/jetson/jetson_test.go, xavierNxSample).
XAVIER_NX = (
    "RAM 4412/7772MB (lfb 237x4MB) SWAP 139/3886MB (cached 2MB) CPU [9%@1190,6%@1190,6%@1190,5%@1190,"
    "4%@1190,8%@1267] EMC_FREQ 10%@1600 GR3D_FREQ 62%@306 APE 150 MTS fg 0% bg 0% AO@41.5C GPU@43C "
    "PMIC@100C AUX@41.5C CPU@43.5C thermal@42.55C VDD_IN 4067/4067 VDD_CPU_GPU_CV 738/738 VDD_SOC 1353/1353"
)
# Orin Nano/NX, JetPack 6 with timestamp, GPU frequency list and mW rails (a public Rust tegrastats
# parser's test line, "parses_verbose_off_and_bracket_freqs").
ORIN_JP6 = (
    "11-30-2025 13:26:01 RAM 2461/7620MB (lfb 3x2MB) SWAP 1243/3810MB (cached 5MB) CPU [19%@729,14%@729,"
    "22%@729,8%@729,15%@729,17%@729] EMC_FREQ 4%@2133 GR3D_FREQ 0%@[305] NVDEC off NVJPG off NVJPG1 off "
    "VIC off OFA off APE 200 cpu@46.531C soc2@47.312C soc0@46.593C gpu@48.218C tj@48.843C soc1@48.843C "
    "VDD_IN 5704mW/5704mW VDD_CPU_GPU_CV 831mW/831mW VDD_SOC 1624mW/1624mW"
)
# AGX Orin, L4T r36 (datadog-agent jetson_test.go, r36Sample): no input rail, ragged spacing.
AGX_ORIN_R36 = (
    "RAM 29114/30697MB (lfb 3x4MB)    SWAP 4915/15348MB (cached 1MB) CPU [3%@729,4%@729,0%@729,1%@729,"
    "0%@2201,100%@2201,1%@2201,0%@2201,100%@2201,0%@2201,0%@2201,0%@2201] EMC_FREQ 1%@2133 "
    "GR3D_FREQ 0%@[305,305] NVENC      off  NVDEC    off NVJPG off NVJPG1    off         VIC        off"
    "          OFA           off          NVDLA0    off       NVDLA1     off          PVA0_FREQ off"
    "         APE           174        cpu@53.062C soc2@48.25C soc0@48.843C  gpu@47.812C tj@53.062C "
    "soc1@48.968C    VDD_GPU_SOC 3205mW/3205mW VDD_CPU_CV 4405mW/4405mW VIN_SYS_5V0 4767mW/4767mW"
)
# Orin NX, JetPack 5 (datadog-agent jetson_test.go, voltageUnitSample): 'off' cores with mW rails.
ORIN_NX_JP5 = (
    "RAM 6334/15388MB (lfb 1770x4MB) SWAP 491/7694MB (cached 0MB) CPU [6%@729,9%@729,5%@729,16%@729,"
    "off,off,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 0%@611 VIC_FREQ 729 APE 174 CV0@45.812C CPU@47.937C "
    "SOC2@46.093C SOC0@46.968C CV1@46.406C GPU@45.875C tj@48.875C SOC1@48.875C CV2@45.75C "
    "VDD_IN 5299mW/5299mW VDD_CPU_GPU_CV 773mW/773mW VDD_SOC 1424mW/1424mW"
)
# AGX Xavier (datadog-agent jetson_test.go, agXSample): 4 'off' cores, rails without a VDD_ prefix.
AGX_XAVIER = (
    "RAM 721/31927MB (lfb 7291x4MB) SWAP 0/15963MB (cached 0MB) CPU [2%@1190,0%@1190,0%@1190,0%@1190,"
    "off,off,off,off] EMC_FREQ 0%@665 GR3D_FREQ 0%@318 APE 150 MTS fg 0% bg 0% AO@37.5C GPU@37.5C "
    "Tdiode@40C PMIC@100C AUX@36C CPU@37.5C thermal@36.9C Tboard@37C GPU 0/0 CPU 311/311 SOC 932/932 "
    "CV 0/0 VDDRQ 621/621 SYS5V 1482/1482"
)
# TX2 (rbonghi/jetson_stats tests/tegrastats): negative temperatures, instantaneous != average.
TX2 = (
    "RAM 4722/7844MB (lfb 1x512kB) CPU [55%@2035,14%@2034,27%@2034,55%@2035,47%@2035,45%@2035] "
    "SWAP 149/1024MB (cached 7MB) EMC_FREQ 2%@1866 GR3D_FREQ 40%@1300 APE 150 MTS fg 0% bg 0% "
    "BCPU@-45C MCPU@-45C GPU@-51C PLL@45C AO@47.5C Tboard@37C Tdiode@46.75C PMIC@100C thermal@46.4C "
    "VDD_IN 14025/14416 VDD_CPU 2209/2538 VDD_GPU 6854/6903 VDD_SOC 1371/1370 VDD_WIFI 19/19 NVENC 716 "
    "NVDEC 716 VDD_DDR 2702/2702"
)
# Nano (datadog-agent jetson_test.go, nanoSample): POM_5V_IN is the input rail.
NANO = (
    "RAM 534/3964MB (lfb 98x4MB) SWAP 5/1982MB (cached 1MB) IRAM 0/252kB(lfb 252kB) CPU [16%@204,9%@204,"
    "0%@204,0%@204] EMC_FREQ 0%@204 GR3D_FREQ 0%@76 APE 25 PLL@34C CPU@36.5C PMIC@100C GPU@36C AO@39.5C "
    "thermal@36.25C POM_5V_IN 1022/1022 POM_5V_GPU 0/0 POM_5V_CPU 204/204"
)

# --- frame records ---------------------------------------------------------------------------


def boundary_frames(count=10):
    """Frame i: capture 1 ms, preprocess 2, infer 10 + i, postprocess 3, write 4 (end-to-end 20 + i)."""
    frames, t = [], 1000.0
    for i in range(count):
        durations = [1.0, 2.0, 10.0 + i, 3.0, 4.0]
        frame = {"index": i, "capture_start": t}
        for boundary, ms in zip(records.BOUNDARIES[1:], durations):
            t += ms / 1000.0
            frame[boundary] = t
        frames.append(frame)
        t += 0.005
    return frames


def pipelined_frames(count=10):
    """The boundaries of `boundary_frames` (end-to-end 20 + i ms) with work times 1, 2, 8 + i, 3, 4 ms:
    the infer boundary difference holds 2 ms of waiting, so the queue wait is 2 ms."""
    frames = boundary_frames(count)
    for i, frame in enumerate(frames):
        frame.update(work_capture=1.0, work_preprocess=2.0, work_infer=8.0 + i, work_postprocess=3.0, work_write=4.0)
    return frames


def test_stage_statistics_from_boundaries_are_exact():
    stats = frame_log.stage_statistics(boundary_frames())
    assert list(stats) == ["capture", "preprocess", "infer", "postprocess", "write", "end_to_end"]
    infer = np.arange(10, 20, dtype=float)
    assert stats["infer"]["count"] == 10
    assert stats["infer"]["mean"] == pytest.approx(14.5, abs=1e-6)
    assert stats["infer"]["p50"] == pytest.approx(np.percentile(infer, 50), abs=1e-6)
    assert stats["infer"]["p90"] == pytest.approx(18.1, abs=1e-6)
    assert stats["infer"]["p99"] == pytest.approx(18.91, abs=1e-6)
    assert stats["infer"]["max"] == pytest.approx(19.0, abs=1e-6)
    for stage, ms in (("capture", 1.0), ("preprocess", 2.0), ("postprocess", 3.0), ("write", 4.0)):
        assert stats[stage]["mean"] == pytest.approx(ms, abs=1e-6)
        assert stats[stage]["max"] == pytest.approx(ms, abs=1e-6)
    assert stats["end_to_end"]["p50"] == pytest.approx(24.5, abs=1e-6)
    assert stats["end_to_end"]["max"] == pytest.approx(29.0, abs=1e-6)


def test_work_times_are_preferred_and_queue_wait_is_the_rest():
    stats = frame_log.stage_statistics(pipelined_frames())
    assert list(stats)[-2:] == ["end_to_end", "queue_wait"]
    assert stats["infer"]["mean"] == pytest.approx(12.5, abs=1e-6)  # work 8..17, not boundaries 10..19
    assert stats["infer"]["max"] == pytest.approx(17.0, abs=1e-6)
    assert stats["end_to_end"]["mean"] == pytest.approx(24.5, abs=1e-6)  # still written - capture_start
    assert stats["queue_wait"]["mean"] == pytest.approx(2.0, abs=1e-6)
    assert stats["queue_wait"]["max"] == pytest.approx(2.0, abs=1e-6)


def test_the_render_part_of_postprocess_is_reported_after_it_and_in_the_csv(tmp_path):
    frames = pipelined_frames(4)
    for i, frame in enumerate(frames):
        frame["work_render"] = 1.0 + i  # part of the 3 ms of postprocess
    stats = frame_log.stage_statistics(frames)
    assert list(stats) == ["capture", "preprocess", "infer", "postprocess", "render", "write", "end_to_end",
                           "queue_wait"]
    assert stats["render"]["mean"] == pytest.approx(2.5) and stats["postprocess"]["mean"] == pytest.approx(3.0)
    assert stats["queue_wait"]["mean"] == pytest.approx(2.0)  # a part is not counted twice
    path = str(tmp_path / "frames.csv")
    frame_csv.write_frames_csv(frames, path)
    rows = read_csv(path)
    assert [float(r["work_render_ms"]) for r in rows] == [1.0, 2.0, 3.0, 4.0]
    assert "work_render_ms" not in frame_csv.csv_columns(pipelined_frames(2))


def test_partial_work_times_and_missing_boundaries():
    frames = boundary_frames(4)
    frames[0]["work_infer"] = 5.0  # infer ran 5 ms of its 10: 5 ms waited
    del frames[3]["written"]  # dropped before the write finished
    stats = frame_log.stage_statistics(frames)
    assert stats["infer"]["min"] == pytest.approx(5.0, abs=1e-6)
    assert stats["write"]["count"] == 3 and stats["end_to_end"]["count"] == 3
    assert stats["queue_wait"]["count"] == 1 and stats["queue_wait"]["mean"] == pytest.approx(5.0, abs=1e-6)
    assert frame_log.stage_statistics([]) == {"end_to_end": {"count": 0}}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_frames_csv_has_one_row_per_frame(tmp_path):
    path = str(tmp_path / "frames.csv")
    frame_csv.write_frames_csv(boundary_frames(), path)
    rows = read_csv(path)
    assert len(rows) == 10
    assert list(rows[0]) == frame_csv.csv_columns(boundary_frames())
    assert list(rows[0]) == ["index", "t_capture_start_ms", "t_captured_ms", "t_preprocessed_ms", "t_inferred_ms",
                             "t_postprocessed_ms", "t_written_ms", "capture_ms", "preprocess_ms", "infer_ms",
                             "postprocess_ms", "write_ms", "end_to_end_ms"]
    assert [int(r["index"]) for r in rows] == list(range(10))
    assert float(rows[0]["t_capture_start_ms"]) == 0.0
    assert float(rows[0]["t_written_ms"]) == pytest.approx(20.0, abs=1e-3)
    assert float(rows[1]["t_capture_start_ms"]) == pytest.approx(25.0, abs=1e-3)  # 20 ms + 5 ms gap
    assert float(rows[3]["infer_ms"]) == pytest.approx(13.0, abs=1e-3)
    assert float(rows[9]["end_to_end_ms"]) == pytest.approx(29.0, abs=1e-3)
    assert [p for p in os.listdir(str(tmp_path)) if p != "frames.csv"] == []  # no partial file left


def test_frames_csv_with_work_times(tmp_path):
    path = str(tmp_path / "frames.csv")
    frames = pipelined_frames(3)
    del frames[2]["written"]
    frame_csv.write_frames_csv(frames, path)
    rows = read_csv(path)
    assert len(rows) == 3
    assert list(rows[0])[-7:] == ["work_capture_ms", "work_preprocess_ms", "work_infer_ms", "work_postprocess_ms",
                                  "work_write_ms", "end_to_end_ms", "queue_wait_ms"]
    assert float(rows[1]["work_infer_ms"]) == 9.0
    assert float(rows[1]["infer_ms"]) == pytest.approx(11.0, abs=1e-3)
    assert float(rows[0]["queue_wait_ms"]) == pytest.approx(2.0, abs=1e-3)
    assert rows[2]["end_to_end_ms"] == "" and rows[2]["t_written_ms"] == ""


def noisy_frames(count=300, seed=0):
    rng = np.random.RandomState(seed)
    frames, t = [], 50.0
    for i in range(count):
        durations = [rng.uniform(0.5, 2), rng.uniform(1, 3), rng.gamma(9, 1.5), rng.uniform(1, 4), rng.uniform(2, 6)]
        if i % 97 == 50:
            durations[2] += 40  # a stall
        frame = {"index": i, "capture_start": t}
        for boundary, ms in zip(records.BOUNDARIES[1:], durations):
            t += ms / 1000.0
            frame[boundary] = t
        frame.update(("work_" + s, d * 0.9) for s, d in zip(records.STAGES, durations))
        frames.append(frame)
    return frames


def test_latency_png_is_written_and_readable(tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = str(tmp_path / "latency.png")
    plot.plot_latency_png(noisy_frames(), path, title="deeplabv3 fp16 1024x512")
    image = cv2.imread(path)
    assert image is not None and image.shape == (700, 1000, 3)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 20  # anti-aliased text, polyline, boxes, p50/p99 lines
    for bgr in (plot._LINE, plot._P50, plot._P99, plot._BOX):  # each element is drawn
        assert np.all(image == np.array(bgr, np.uint8), axis=-1).any(), bgr
    assert (image != 255).any(axis=-1).mean() > 0.02
    assert os.listdir(str(tmp_path)) == ["latency.png"]


def test_latency_png_other_sizes_and_no_frames(tmp_path):
    cv2 = pytest.importorskip("cv2")
    for frames, size in ((boundary_frames(1), (640, 480)), ([], (1000, 700)), (boundary_frames(), (1600, 900))):
        path = str(tmp_path / "l.png")
        plot.plot_latency_png(frames, path, size=size)
        assert cv2.imread(path).shape == (size[1], size[0], 3)


def test_parse_xavier_nx_jetpack5():
    s = tegrastats.parse_tegrastats_line(XAVIER_NX_JP5)
    assert (s["ram_used_mb"], s["ram_total_mb"]) == (2448, 7765)
    assert (s["swap_used_mb"], s["swap_total_mb"]) == (0, 3882)
    assert s["cpu"] == [{"core": 0, "load": 12.0, "mhz": 1190}, {"core": 1, "load": 9.0, "mhz": 1190},
                        {"core": 4, "load": 8.0, "mhz": 1190}, {"core": 5, "load": 6.0, "mhz": 1190}]
    assert s["cpu_off"] == [2, 3] and s["cpu_load"] == pytest.approx(8.75)
    assert s["gpu_load"] == 0.0 and s["gpu_mhz"] is None
    assert s["emc_load"] == 0.0
    assert dict(s["temperatures"]) == {"AUX": 36.0, "CPU": 37.5, "thermal": 36.7, "AO": 37.0, "GPU": 36.0,
                                       "PMIC": 50.0}
    assert dict(s["rails"]) == {"VDD_IN": {"now_mw": 3591.0, "avg_mw": 3591.0},
                                "VDD_CPU_GPU_CV": {"now_mw": 491.0, "avg_mw": 491.0},
                                "VDD_SOC": {"now_mw": 1270.0, "avg_mw": 1270.0}}
    assert (s["power_in_mw"], s["power_in_source"]) == (3591.0, "VDD_IN")
    assert s["timestamp"] is None

    s = tegrastats.parse_tegrastats_line(XAVIER_NX)
    assert (s["gpu_load"], s["gpu_mhz"], s["emc_load"], s["emc_mhz"]) == (62.0, 306, 10.0, 1600)
    assert s["cpu"][5] == {"core": 5, "load": 8.0, "mhz": 1267} and s["cpu_off"] == []
    assert "MTS" not in s["rails"] and "APE" not in s["rails"]
    assert s["power_in_mw"] == 4067.0


def test_parse_orin_jetpack6():
    s = tegrastats.parse_tegrastats_line(ORIN_JP6)
    assert s["timestamp"] == "11-30-2025 13:26:01"
    assert (s["ram_used_mb"], s["ram_total_mb"]) == (2461, 7620)
    assert len(s["cpu"]) == 6 and s["cpu"][2] == {"core": 2, "load": 22.0, "mhz": 729}
    assert (s["gpu_load"], s["gpu_mhz"]) == (0.0, 305)
    assert s["temperatures"]["tj"] == 48.843 and s["temperatures"]["gpu"] == 48.218
    assert dict(s["rails"]) == {"VDD_IN": {"now_mw": 5704.0, "avg_mw": 5704.0},
                                "VDD_CPU_GPU_CV": {"now_mw": 831.0, "avg_mw": 831.0},
                                "VDD_SOC": {"now_mw": 1624.0, "avg_mw": 1624.0}}
    assert (s["power_in_mw"], s["power_in_source"]) == (5704.0, "VDD_IN")


def test_parse_agx_orin_sums_rails_without_input_rail():
    s = tegrastats.parse_tegrastats_line(AGX_ORIN_R36)
    assert len(s["cpu"]) == 12 and s["cpu"][5]["load"] == 100.0 and s["cpu"][5]["mhz"] == 2201
    assert (s["gpu_load"], s["gpu_mhz"]) == (0.0, 305)
    assert list(s["rails"]) == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]
    assert s["power_in_mw"] == 3205.0 + 4405.0 + 4767.0 and s["power_in_source"] == tegrastats.SUM_OF_RAILS


def test_parse_off_cores_and_older_boards():
    s = tegrastats.parse_tegrastats_line(ORIN_NX_JP5)
    assert [c["core"] for c in s["cpu"]] == [0, 1, 2, 3] and s["cpu_off"] == [4, 5, 6, 7]
    assert (s["gpu_mhz"], s["power_in_mw"]) == (611, 5299.0)

    s = tegrastats.parse_tegrastats_line(AGX_XAVIER)
    assert s["cpu_off"] == [4, 5, 6, 7] and s["cpu_load"] == 0.5
    assert dict((k, v["now_mw"]) for k, v in s["rails"].items()) == {
        "GPU": 0.0, "CPU": 311.0, "SOC": 932.0, "CV": 0.0, "VDDRQ": 621.0, "SYS5V": 1482.0}
    assert s["power_in_mw"] == 3346.0 and s["power_in_source"] == tegrastats.SUM_OF_RAILS
    assert s["temperatures"]["Tdiode"] == 40.0

    s = tegrastats.parse_tegrastats_line(TX2)
    assert s["temperatures"]["GPU"] == -51.0
    assert s["rails"]["VDD_IN"] == {"now_mw": 14025.0, "avg_mw": 14416.0}
    assert (s["power_in_mw"], s["power_in_avg_mw"]) == (14025.0, 14416.0)
    assert "NVENC" not in s["rails"]

    s = tegrastats.parse_tegrastats_line(NANO)
    assert (s["power_in_mw"], s["power_in_source"]) == (1022.0, "POM_5V_IN")
    assert "IRAM" not in s["rails"] and s["ram_used_mb"] == 534

    empty = tegrastats.parse_tegrastats_line("garbage")
    assert empty["cpu"] == [] and empty["power_in_mw"] is None and empty["gpu_load"] is None


def test_summarize_tegrastats_and_fps_per_watt():
    samples = [tegrastats.parse_tegrastats_line(line) for line in (XAVIER_NX_JP5, XAVIER_NX)]
    summary = tegrastats.summarize_tegrastats(samples)
    assert summary["samples"] == 2
    assert (summary["gpu_load_mean"], summary["gpu_load_max"]) == (31.0, 62.0)
    assert summary["cpu_load_mean"] == pytest.approx((12 + 9 + 8 + 6 + 9 + 6 + 6 + 5 + 4 + 8) / 10.0)
    # PMIC's fixed 100C placeholder is left out of the maximum
    assert (summary["temperature_max_c"], summary["temperature_max_sensor"]) == (43.5, "CPU")
    assert summary["power_in_w_mean"] == pytest.approx((3.591 + 4.067) / 2)
    assert summary["power_source"] == "VDD_IN" and summary["ram_used_mb_max"] == 4412
    assert tegrastats.summarize_tegrastats([]) is None
    assert tegrastats.fps_per_watt(38.29, summary) == pytest.approx(38.29 / 3.829)
    assert tegrastats.fps_per_watt(30.0, None) is None
    assert tegrastats.fps_per_watt(30.0, {"power_in_w_mean": None}) is None
    assert tegrastats.fps_per_watt(30.0, {"power_in_w_mean": 0.0}) is None


def executable(path, text):
    with open(str(path), "w") as f:
        f.write(text)
    os.chmod(str(path), os.stat(str(path)).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def live_group_members(pgid):
    """Processes of process group `pgid` that are not zombies (a killed child of the fake script is
    reaped by init when it gets to it; a zombie holds no pipe and runs nothing)."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs /proc")
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/{}/stat".format(name)) as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(text[:text.rindex(")") + 1])
    return members


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder) + os.pathsep + os.environ.get("PATH", ""))
    return folder


def test_tegrastats_collects_stops_cleanly_and_summarises(fake_bin, tmp_path):
    args_file = tmp_path / "args"
    # a long-lived child too (`sleep 30 &`): only killing the whole process group ends it within the test
    executable(fake_bin / "tegrastats", "#!/bin/sh\necho \"$@\" > '{}'\nsleep 30 &\nwhile true; do\n  echo '{}'\n"
               "  sleep 0.05\n"
               "  echo '{}'\n  sleep 0.05\ndone\n".format(args_file, XAVIER_NX_JP5, XAVIER_NX))
    stats = tegrastats.TegraStats(interval_ms=50)
    assert stats.available
    with stats:
        process, thread = stats._process, stats._thread
        assert stats.running and thread.is_alive()
        deadline = time.time() + 5
        while len(stats.snapshot()) < 4 and time.time() < deadline:
            time.sleep(0.02)
    assert args_file.read_text().split() == ["--interval", "50"]
    assert process.poll() is not None and not thread.is_alive() and not stats.running
    deadline = time.time() + 2  # SIGKILL is delivered asynchronously: on a busy machine a child may lag
    while live_group_members(process.pid) and time.time() < deadline:
        time.sleep(0.02)
    assert live_group_members(process.pid) == []  # the loop's `sleep` went too
    samples = stats.snapshot()
    assert len(samples) >= 4
    assert samples[0]["ram_used_mb"] == 2448 and samples[1]["gpu_load"] == 62.0
    assert all(a["t"] <= b["t"] for a, b in zip(samples, samples[1:]))
    summary = stats.summary()
    assert summary["samples"] == len(samples) and summary["gpu_load_max"] == 62.0
    assert summary["interval_ms"] == 50 and summary["power_source"] == "VDD_IN"
    assert 3.5 < summary["power_in_w_mean"] < 4.1
    count = len(samples)
    time.sleep(0.15)
    assert len(stats.snapshot()) == count  # nothing arrives after stop()
    stats.stop()  # a second stop is harmless


def test_tegrastats_absent_is_a_noop(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    stats = tegrastats.TegraStats()
    assert not stats.available
    with stats:
        assert not stats.running
    assert stats.summary() is None and stats.snapshot() == []
    assert tegrastats.fps_per_watt(30.0, stats.summary()) is None


# jetson_clocks --show texts. ON: AGX Orin, L4T R39 (a public environment log); OFF: Orin NX,
# JetPack 6.2 (a public system report); TX2 with offline cores: rbonghi/jetson_stats tests/jetson_clocks.
JC_ON_AGX_ORIN = """SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11, Offline CPUs: 
""" + "".join(
    "cpu{}:{}Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0 \n".format(
        i, "  " if i < 10 else " ") for i in range(12)) + """\
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
Active GPU TPCs: 8
EMC MinFreq=3199000000 MaxFreq=3199000000 CurrentFreq=3199000000
DLA0_CORE:   Online=1 MinFreq=0 MaxFreq=1600000000 CurrentFreq=1600000000
PVA0_AXI:  Online=1 MinFreq=0 MaxFreq=985600000 CurrentFreq=985600000
FAN Dynamic Speed Control=nvfancontrol hwmon2_pwm1=66
NV Power Mode: MAXN
"""
JC_OFF_ORIN_NX = """SOC family:tegra234  Machine:NVIDIA Jetson Orin NX Engineering Reference Developer Kit
Online CPUs: 0-5
cpu0:  Online=1 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=1510400 IdleStates: WFI=1 c7=1 
cpu1:  Online=1 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=1497600 IdleStates: WFI=1 c7=1 
cpu2:  Online=1 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=1190400 IdleStates: WFI=1 c7=1 
cpu3:  Online=1 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=1113600 IdleStates: WFI=1 c7=1 
cpu4:  Online=1 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=729600 IdleStates: WFI=1 c7=1 
cpu5:  Online=1 Governor=schedutil MinFreq=729600 MaxFreq=1510400 CurrentFreq=883200 IdleStates: WFI=1 c7=1 
GPU MinFreq=306000000 MaxFreq=624750000 CurrentFreq=306000000
Active GPU TPCs: 2
EMC MinFreq=204000000 MaxFreq=2133000000 CurrentFreq=2133000000 FreqOverride=0
NV Power Mode: MAXN_SUPER
"""
JC_TX2 = """SOC family:tegra186  Machine:quill
Online CPUs: 0,3-5
CPU Cluster Switching: Disabled
cpu0: Online=1 Governor=schedutil MinFreq=2035200 MaxFreq=2035200 CurrentFreq=2035200 IdleStates: C1=1 c7=1 
cpu1: Online=0 Governor=schedutil MinFreq=345600 MaxFreq=2035200 CurrentFreq=1113600 IdleStates: C1=1 c6=1 c7=1 
cpu2: Online=0 Governor=schedutil MinFreq=345600 MaxFreq=2035200 CurrentFreq=1113600 IdleStates: C1=1 c6=1 c7=1 
cpu3: Online=1 Governor=schedutil MinFreq=2035200 MaxFreq=2035200 CurrentFreq=2035200 IdleStates: C1=1 c7=1 
cpu4: Online=1 Governor=schedutil MinFreq=2035200 MaxFreq=2035200 CurrentFreq=2035200 IdleStates: C1=1 c7=1 
cpu5: Online=1 Governor=schedutil MinFreq=2035200 MaxFreq=2035200 CurrentFreq=2035200 IdleStates: C1=1 c7=1 
GPU MinFreq=1134750000 MaxFreq=1134750000 CurrentFreq=1134750000
EMC MinFreq=40800000 MaxFreq=1600000000 CurrentFreq=1600000000 FreqOverride=1
Fan: speed=255
NV Power Mode: MAXP_CORE_ARM
"""


def test_parse_jetson_clocks_show():
    assert clocks.parse_jetson_clocks_show(JC_ON_AGX_ORIN) is True
    assert clocks.parse_jetson_clocks_show(JC_OFF_ORIN_NX) is False
    assert clocks.parse_jetson_clocks_show(JC_TX2) is True  # offline cores do not count
    assert clocks.parse_jetson_clocks_show(JC_TX2.replace("CurrentFreq=1600000000", "CurrentFreq=800000000")) is False
    assert clocks.parse_jetson_clocks_show(JC_ON_AGX_ORIN.replace("CurrentFreq=1300500000", "CurrentFreq=918000000")) \
        is False
    assert clocks.parse_jetson_clocks_show("Error: Run this script(/usr/bin/jetson_clocks) as a root user\n") is None
    assert clocks.parse_jetson_clocks_show("") is None


def test_jetson_clocks_active_runs_the_command(fake_bin, tmp_path, monkeypatch):
    show = tmp_path / "show.txt"
    show.write_text(JC_ON_AGX_ORIN)
    executable(fake_bin / "jetson_clocks", "#!/bin/sh\n[ \"$1\" = --show ] || exit 2\ncat '{}'\n".format(show))
    assert clocks.jetson_clocks_active() is True
    show.write_text(JC_OFF_ORIN_NX)
    assert clocks.jetson_clocks_active() is False
    executable(fake_bin / "jetson_clocks", "#!/bin/sh\necho 'Error: Run this script as a root user'\nexit 1\n")
    assert clocks.jetson_clocks_active() is None
    executable(fake_bin / "slow_clocks", "#!/bin/sh\nexec sleep 5\n")
    started = time.time()
    assert clocks.jetson_clocks_active("slow_clocks", timeout=0.3) is None
    assert time.time() - started < 3
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert clocks.jetson_clocks_active() is None
