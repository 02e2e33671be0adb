"""tegrastats: its lines parsed, a background reader, the summary of a run, and fps per watt.

Formats handled (one line per interval; the JetPack 5+ tools prefix a timestamp):
  Xavier NX, JetPack 4/5:  ... CPU [9%@1190,...,off] EMC_FREQ 10%@1600 GR3D_FREQ 62%@306 ...
                           AO@41.5C GPU@43C ... VDD_IN 4067/4067 VDD_CPU_GPU_CV 738/738 ...
  Orin, JetPack 5/6:       ... GR3D_FREQ 0%@[305,305] (or GR3D_FREQ 0%) ... cpu@53.062C tj@53C ...
                           VDD_IN 5704mW/5704mW VDD_CPU_GPU_CV 831mW/831mW ...
  AGX Xavier / AGX Orin have no input rail (GPU 0/0 CPU 311/311 ... SYS5V 1482/1482, or
  VDD_GPU_SOC 3205mW/3205mW VDD_CPU_CV ... VIN_SYS_5V0 ...): their total is the sum of the rails.
"""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..report.frames import number

_TIMESTAMP_RE = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\b")
_RAM_RE = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP_RE = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU_RE = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?")
_CORE_RE = re.compile(r"^(\d+(?:\.\d+)?)%(?:@(\d+))?$")
_GPU_RE = re.compile(r"\bGR3D_FREQ (\d+(?:\.\d+)?)%(?:@\[?([\d,]+)\]?)?")
_EMC_RE = re.compile(r"\bEMC_FREQ (\d+(?:\.\d+)?)%(?:@(\d+))?")
_TEMP_RE = re.compile(r"(?<![\w@%])([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
# "VDD_IN 3591/3591", "VDD_IN 4846mW/4846mW", or an instantaneous "VDD_IN 4846mW" alone. The
# lookahead keeps "RAM 2448/7765MB" and "SWAP 0/3882MB" out.
_RAIL_RE = re.compile(
    r"(?<![\w@%])([A-Za-z][A-Za-z0-9_]*) (\d+(?:\.\d+)?)(?:mW/(\d+(?:\.\d+)?)mW|mW|/(\d+(?:\.\d+)?))(?![\w/.])"
)
_NOT_RAILS = frozenset(["RAM", "SWAP", "IRAM"])
# Rails that measure the whole module's input: VDD_IN (Xavier NX, Orin NX/Nano, TX1/TX2),
# POM_5V_IN (Nano). Without one (AGX Xavier, AGX Orin) the total is the sum of all rails.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
SUM_OF_RAILS = "sum of rails"
# Sensors left out of the maximum temperature: PMIC reads a fixed placeholder (100C on Nano/TX2,
# 50C on Xavier NX), and an offline sensor reads -256C.
TEMPERATURE_IGNORED = frozenset(["PMIC"])
TEMPERATURE_INVALID_BELOW = -100.0


def parse_tegrastats_line(line: str) -> Dict[str, Any]:
    """One tegrastats line as a dict; fields the line lacks are None (or empty).

    Keys: timestamp (str, JetPack 5+), ram_used_mb, ram_total_mb, swap_used_mb, swap_total_mb,
    cpu (list of {"core", "load", "mhz"} for online cores), cpu_off (indices of 'off' cores),
    cpu_load (mean over online cores, %), gpu_load (GR3D_FREQ %), gpu_mhz, emc_load, emc_mhz,
    temperatures ({name: C}), rails ({name: {"now_mw", "avg_mw"}}; avg None when not printed),
    power_in_mw (instantaneous input power), power_in_avg_mw, and power_in_source (the input
    rail's name, or "sum of rails" when the board prints none)."""
    out: Dict[str, Any] = {
        "timestamp": None, "ram_used_mb": None, "ram_total_mb": None, "swap_used_mb": None,
        "swap_total_mb": None, "cpu": [], "cpu_off": [], "cpu_load": None, "gpu_load": None,
        "gpu_mhz": None, "emc_load": None, "emc_mhz": None, "temperatures": OrderedDict(),
        "rails": OrderedDict(), "power_in_mw": None, "power_in_avg_mw": None, "power_in_source": None,
    }
    match = _TIMESTAMP_RE.search(line)
    if match:
        out["timestamp"] = match.group(1)
    match = _RAM_RE.search(line)
    if match:
        out["ram_used_mb"], out["ram_total_mb"] = int(match.group(1)), int(match.group(2))
    match = _SWAP_RE.search(line)
    if match:
        out["swap_used_mb"], out["swap_total_mb"] = int(match.group(1)), int(match.group(2))
    match = _CPU_RE.search(line)
    if match:
        shared_mhz = match.group(2)  # old "CPU [X%,Y%]@Z" form
        for core, entry in enumerate(match.group(1).split(",")):
            entry = entry.strip()
            if entry.lower() == "off":
                out["cpu_off"].append(core)
                continue
            core_match = _CORE_RE.match(entry)
            if core_match is None:
                continue
            mhz = core_match.group(2) or shared_mhz
            out["cpu"].append({"core": core, "load": float(core_match.group(1)),
                               "mhz": int(mhz) if mhz else None})
        if out["cpu"]:
            out["cpu_load"] = float(np.mean([c["load"] for c in out["cpu"]]))
    match = _GPU_RE.search(line)
    if match:
        out["gpu_load"] = float(match.group(1))
        if match.group(2):
            freqs = [int(f) for f in match.group(2).split(",") if f]
            out["gpu_mhz"] = max(freqs) if freqs else None
    match = _EMC_RE.search(line)
    if match:
        out["emc_load"] = float(match.group(1))
        out["emc_mhz"] = int(match.group(2)) if match.group(2) else None
    for name, value in _TEMP_RE.findall(line):
        out["temperatures"][name] = float(value)
    for name, now, avg_mw, avg_plain in _RAIL_RE.findall(line):
        if name in _NOT_RAILS:
            continue
        avg = avg_mw or avg_plain
        out["rails"][name] = {"now_mw": float(now), "avg_mw": float(avg) if avg else None}
    rails = out["rails"]
    for name in INPUT_RAILS:
        if name in rails:
            out["power_in_mw"] = rails[name]["now_mw"]
            out["power_in_avg_mw"] = rails[name]["avg_mw"]
            out["power_in_source"] = name
            break
    else:
        if rails:
            out["power_in_mw"] = float(sum(r["now_mw"] for r in rails.values()))
            averages = [r["avg_mw"] for r in rails.values()]
            out["power_in_avg_mw"] = None if None in averages else float(sum(averages))
            out["power_in_source"] = SUM_OF_RAILS
    return out


def _mean(values: Sequence[float]) -> Optional[float]:
    return float(np.mean(values)) if len(values) else None


def summarize_tegrastats(samples: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """Summary of parsed samples (None when there are none): samples, gpu_load_mean,
    gpu_load_max, cpu_load_mean (over online cores and samples), temperature_max_c and
    temperature_max_sensor (PMIC placeholders and offline sensors left out), power_in_w_mean,
    power_in_w_max, power_source ("VDD_IN", "POM_5V_IN" or "sum of rails"), ram_used_mb_max."""
    if not samples:
        return None
    gpu = [s["gpu_load"] for s in samples if s.get("gpu_load") is not None]
    cpu = [c["load"] for s in samples for c in s.get("cpu") or []]
    power = [s["power_in_mw"] / 1000.0 for s in samples if s.get("power_in_mw") is not None]
    ram = [s["ram_used_mb"] for s in samples if s.get("ram_used_mb") is not None]
    hottest: Optional[Tuple[float, str]] = None
    for sample in samples:
        for name, value in (sample.get("temperatures") or {}).items():
            if name in TEMPERATURE_IGNORED or value < TEMPERATURE_INVALID_BELOW:
                continue
            if hottest is None or value > hottest[0]:
                hottest = (value, name)
    sources = [s["power_in_source"] for s in samples if s.get("power_in_source")]
    return OrderedDict([
        ("samples", len(samples)),
        ("gpu_load_mean", _mean(gpu)),
        ("gpu_load_max", float(max(gpu)) if gpu else None),
        ("cpu_load_mean", _mean(cpu)),
        ("temperature_max_c", hottest[0] if hottest else None),
        ("temperature_max_sensor", hottest[1] if hottest else None),
        ("power_in_w_mean", _mean(power)),
        ("power_in_w_max", float(max(power)) if power else None),
        ("power_source", sources[0] if sources else None),
        ("ram_used_mb_max", int(max(ram)) if ram else None),
    ])


class TegraStats:
    """Runs `tegrastats --interval N` in the background and collects parsed samples.

        with TegraStats(interval_ms=500) as stats:
            ... run the benchmark ...
        print(stats.summary())

    Each sample also gets `t`, the `time.perf_counter()` of its arrival, to line it up with frame
    records. When `tegrastats` is not on PATH everything is a no-op: `available` is False and
    `summary()` returns None."""

    def __init__(self, interval_ms: int = 1000, command: str = "tegrastats") -> None:
        self.interval_ms = int(interval_ms)
        self.command = command
        self.executable = shutil.which(command)
        self.samples: List[Dict[str, Any]] = []
        self.error: Optional[str] = None
        self._lock = threading.Lock()
        self._process: Optional[subprocess.Popen] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def available(self) -> bool:
        return self.executable is not None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "TegraStats":
        if not self.available or self._process is not None:
            return self
        try:
            # A session of its own, so stop() can end whatever tegrastats started too.
            self._process = subprocess.Popen(
                [str(self.executable), "--interval", str(self.interval_ms)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                universal_newlines=True, errors="replace", bufsize=1, start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            self.error = "could not start {}: {}".format(self.executable, exc)
            self._process = None
            return self
        self._thread = threading.Thread(
            target=self._read, args=(self._process.stdout,), name="tegrastats-reader", daemon=True
        )
        self._thread.start()
        return self

    def _read(self, stream: Any) -> None:
        try:
            for line in stream:
                line = line.strip()
                if not line:
                    continue
                sample = parse_tegrastats_line(line)
                sample["t"] = time.perf_counter()
                with self._lock:
                    self.samples.append(sample)
        except (OSError, ValueError):  # the pipe closed under us
            pass

    def _signal(self, process: subprocess.Popen, sig: int) -> None:
        try:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, sig)  # the group outlives a reaped leader only while it has members
            elif process.poll() is None:
                process.send_signal(sig)
        except OSError:  # already gone
            pass

    def stop(self, timeout: float = 3.0) -> None:
        """End tegrastats (and anything in its process group), reap it and join the reader."""
        process, thread = self._process, self._thread
        if process is None:
            return
        self._signal(process, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(process, getattr(signal, "SIGKILL", signal.SIGTERM))
            process.wait(timeout=timeout)
        if hasattr(os, "killpg"):
            self._signal(process, getattr(signal, "SIGKILL", signal.SIGTERM))  # stragglers holding the pipe
        if thread is not None:
            thread.join(timeout)
        if process.stdout is not None and (thread is None or not thread.is_alive()):
            process.stdout.close()  # (closing under a reader still blocked in read() would block too)
        self._process, self._thread = None, None

    def __enter__(self) -> "TegraStats":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def snapshot(self) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self.samples)

    def summary(self) -> Optional[Dict[str, Any]]:
        """`summarize_tegrastats` of the samples so far; None when unavailable or none came."""
        if not self.available:
            return None
        summary = summarize_tegrastats(self.snapshot())
        if summary is not None:
            summary["interval_ms"] = self.interval_ms
        return summary


def fps_per_watt(fps: float, power_summary: Optional[Dict[str, Any]]) -> Optional[float]:
    """Frames per second per watt of mean input power (`power_in_w_mean` of a tegrastats
    summary); None without a summary or a positive power."""
    if not power_summary:
        return None
    watts = number(power_summary.get("power_in_w_mean"))
    rate = number(fps)
    if watts is None or watts <= 0 or rate is None:
        return None
    return rate / watts
