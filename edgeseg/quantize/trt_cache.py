"""TensorRT's text calibration cache: the one reader and writer for `calibrate` (writes it) and `build`.

A cache is a header line `TRT-<version>-<algorithm>` and one `tensor: <scale>` line per tensor, the scale
as the hex digits of its big-endian IEEE-754 float32 bits (as IInt8Calibrator::writeCalibrationCache
writes it). <version> is NV_TENSORRT_VERSION of the TensorRT that wrote it: major*1000 + minor*100 + patch
up to 8.x (8.5.2 -> 8502), major*10000 + minor*100 + patch from 10.0 (10.3.0 -> 100300; NVIDIA's
TrafficCamNet cache for 10.3 says TRT-100300-EntropyCalibration2). TensorRT skips a cache whose header
names another version or calibrator (NVIDIA/TensorRT#1378), so `build` re-tags it for the TensorRT
that builds (`tagged_for`); the scales themselves do not depend on the version.
"""
import re
import struct
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np

from ..artifacts import atomic_path, require_file
from ..errors import ArtifactError, ConfigError

Ranges = Dict[str, Tuple[float, float]]  # tensor name -> (lowest, highest), float32 values

# TensorRT ignores a cache whose header names another calibrator than the one reading it. The cache holds
# only final scales (whatever method computed them) and edgeseg's builder reads caches through
# IInt8EntropyCalibrator2, so every cache says EntropyCalibration2; the manifest records the actual method.
ALGORITHM = "EntropyCalibration2"
DEFAULT_VERSION = "8.5.2"  # JetPack 5.1.x (the last JetPack for Xavier NX) ships TensorRT 8.5.2
CALIBRATE = "calibrate first: `edgeseg calibrate MODEL.onnx --data DIR`"
_HEADER = re.compile(r"^TRT-(\d+)-(\w+)$")
_LINE = re.compile(r"^(\S.*): ([0-9a-fA-F]{1,8})$")
INTERNAL_NAME = re.compile(r"^\(Unnamed Layer\*? ?\d+\)")  # tensor names TensorRT makes up itself


class CalibrationCache(NamedTuple):
    """A parsed cache: its bytes as read, header line, version code, algorithm and scales."""
    data: bytes
    header: str
    version: str
    algorithm: str
    scales: Dict[str, float]


def version_code(version: str) -> str:
    """NV_TENSORRT_VERSION of a version string: '8.5.2.2' -> '8502', '10.3.0' -> '100300'."""
    numbers = [int(p) for p in re.findall(r"\d+", str(version))[:3]]
    if not numbers:
        raise ConfigError("TensorRT version {!r} has no number in it; give one like 8.5.2 or 10.3.0".format(version))
    major, minor, patch = (numbers + [0, 0])[:3]
    return str(major * (10000 if major >= 10 else 1000) + minor * 100 + patch)


def header_for(version: str) -> str:
    """The header TensorRT `version` writes, and reads without skipping the cache."""
    return "TRT-{}-{}".format(version_code(version), ALGORITHM)


def scales_from_ranges(ranges: Ranges) -> Dict[str, float]:
    """TensorRT's per-tensor scale for each range: max(|min|, |max|) / 127 in float32 (1.0 where a
    tensor was always 0: TensorRT refuses a zero scale)."""
    scales = {}
    for name, (low, high) in sorted(ranges.items()):
        amax = np.float32(max(abs(low), abs(high)))
        scale = np.float32(amax / np.float32(127.0))
        scales[name] = float(scale) if np.isfinite(scale) and scale > 0 else 1.0
    return scales


def write(path: str, scales: Dict[str, float], version: str = DEFAULT_VERSION) -> None:
    """Write `scales` as a cache for TensorRT `version`, atomically."""
    lines = [header_for(version)]
    lines.extend("{}: {}".format(name, struct.pack(">f", scale).hex()) for name, scale in sorted(scales.items()))
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")


def read(path: str) -> CalibrationCache:
    """Parse the cache at `path`: ArtifactError naming the file when it is not one, ConfigError when
    another calibrator than IInt8EntropyCalibrator2 wrote it."""
    require_file(path, "calibration cache", CALIBRATE)
    with open(path, "rb") as f:
        data = f.read()
    try:
        lines = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        lines = []
    header = _HEADER.match(lines[0]) if lines else None
    entries = [_LINE.match(line) for line in lines[1:]]
    bad = [line for line, entry in zip(lines[1:], entries) if entry is None]
    if header is None or bad or len(lines) < 2:
        raise ArtifactError("{}: not a TensorRT calibration cache (want a 'TRT-<version>-{}' header and "
                            "'tensor: hexscale' lines{}); {}".format(
                                path, ALGORITHM, ", got {!r}".format((bad or lines or [""])[0][:60]), CALIBRATE))
    if header.group(2) != ALGORITHM:
        raise ConfigError("{}: calibration cache was written by {}, but edgeseg reads caches through "
                          "IInt8EntropyCalibrator2 and TensorRT ignores a cache from another calibrator; {}".format(
                              path, header.group(2), CALIBRATE))
    scales = {m.group(1): float(struct.unpack(">f", bytes.fromhex(m.group(2).zfill(8)))[0])
              for m in entries if m is not None}
    return CalibrationCache(data, lines[0], header.group(1), header.group(2), scales)


def tagged_for(cache: CalibrationCache, version: Optional[str]) -> bytes:
    """The cache's bytes with its header naming TensorRT `version` (unchanged when version is None)."""
    if version is None:
        return cache.data
    lines = cache.data.decode("utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip())
    lines[first] = header_for(version)
    return ("\n".join(lines) + "\n").encode("utf-8")
