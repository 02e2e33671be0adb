"""edgeseg's TensorRT glue against the REAL TensorRT Python bindings of 8.6.1, 10.3.0, 10.16.1 and 11.4.0.

scripts/trt_surface/fetch.sh downloads each version's `tensorrt_bindings` wheel (the pybind11 module NVIDIA
ships) and builds stub libnvinfer & co. (every entry point returns NULL) so that module imports without a GPU.
Each version then runs in its own interpreter, with the bindings installed as `tensorrt`, every part of
edgeseg/runtime/tensorrt/compat.py and edgeseg/trt_cache.py that needs no GPU, and reports what it saw as one
JSON line that this test checks.

What it proves: the glue fits the bindings' real Python layer: their pybind classes and enums (DataType,
ILogger.Severity, NetworkDefinitionCreationFlag, BuilderFlag, CalibrationAlgoType), subclassing ILogger and
IInt8EntropyCalibrator2 (the C++ default get_algorithm of the calibrator, which decides which cache
header TensorRT reads), and the bindings' own Python helpers (trt.nptype).
What it cannot: nothing that reaches libnvinfer runs (Builder, Runtime, the ONNX parser get NULL), so no
engine is built, no cache is read by TensorRT itself, and no GPU is touched; tests/test_tensorrt.py does that
where TensorRT and a GPU exist.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FETCH = os.path.join(REPO, "scripts", "trt_surface", "fetch.sh")

# fetch.sh's version (its cache directory), network_flags, strongly_typed_only, has a calibrator, cache header
VERSIONS = [
    ("8.6.1", 1, False, True, "TRT-8601-EntropyCalibration2"),
    ("10.3.0", 1, False, True, "TRT-100300-EntropyCalibration2"),
    ("10.16.1.11", 1, False, True, "TRT-101601-EntropyCalibration2"),
    ("11.4.0.106", 0, True, False, "TRT-110400-EntropyCalibration2"),
]
# trt.DataType members numpy can hold, as trt.nptype maps them (INT64 from 10.0); every other member is an error
NUMPY = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "BOOL": "bool", "UINT8": "uint8"}
NUMPY_10 = dict(NUMPY, INT64="int64")

# Runs in the child: argv[1] is a scratch directory. Prints one JSON line of observations.
SCRIPT = r'''
import json, os, sys
import numpy as np
import tensorrt_bindings as trt
sys.modules["tensorrt"] = trt
from edgeseg.quantize import trt_cache
from edgeseg.runtime.tensorrt import compat as tc

def failure(call):
    try:
        call()
    except Exception as error:
        return [type(error).__name__, str(error)]
    return None

seen = {"imported": tc.import_tensorrt() is trt, "version": trt.__version__,
        "flags": tc.network_flags(trt), "strongly_typed_only": tc.strongly_typed_only(trt),
        "nptype_float": trt.nptype(trt.DataType.FLOAT) is np.float32, "dtypes": {}}
for name, member in trt.DataType.__members__.items():
    try:
        seen["dtypes"][name] = ["ok", tc.numpy_dtype(trt, member, "t", "m.engine").name]
    except Exception as error:
        seen["dtypes"][name] = [type(error).__name__, str(error)]

lines = []
logger = tc.capturing_logger(trt, lines, trt.ILogger.Severity.WARNING)
logger.log(trt.ILogger.Severity.ERROR, "boom")
logger.log(trt.ILogger.Severity.VERBOSE, "noise")
seen.update(logger_is_ilogger=isinstance(logger, trt.ILogger), lines=lines, last_error=tc.last_error(lines),
            severities=[m.name for m in sorted(trt.ILogger.Severity.__members__.values(), key=int)],
            SEVERITIES=list(tc.SEVERITIES))

cache = b"TRT-100300-EntropyCalibration2\ninput: 3c010204\n"
calibrator = failure(lambda: tc.cache_calibrator(trt, cache))
if calibrator is None:
    c = tc.cache_calibrator(trt, cache)
    calibrator = {"entropy2": isinstance(c, trt.IInt8EntropyCalibrator2),
                  "calibrator": isinstance(c, trt.IInt8Calibrator),
                  "algorithm": c.get_algorithm() == trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2,
                  "batch_size": c.get_batch_size(), "batch": repr(c.get_batch(["input"])),
                  "cache": c.read_calibration_cache() == cache}
seen["calibrator"] = calibrator

path = os.path.join(sys.argv[1], "old.cache")
trt_cache.write(path, {"input": 0.5}, "8.5.2")
seen.update(header=trt_cache.header_for(trt.__version__),
            tagged=trt_cache.tagged_for(trt_cache.read(path), trt.__version__).decode())
print(json.dumps(seen))
'''


def _cache_dir() -> str:
    given = os.environ.get("EDGESEG_TRT_BINDINGS")
    if given:
        return given
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "edgeseg", "trt-bindings")


@pytest.fixture(scope="module")
def bindings():
    """The fetch.sh cache directory with all four versions ready; skips, with the reason, where it cannot be made."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        pytest.skip("the TensorRT bindings wheels are for CPython 3.11; this is {} {}.{}".format(
            sys.implementation.name, *sys.version_info[:2]))
    cache = _cache_dir()
    missing = [v for v, *_ in VERSIONS if not os.path.isfile(os.path.join(cache, v, "ready"))]
    if missing and shutil.which("gcc") is None:
        pytest.skip("gcc not found: it builds the stub libnvinfer the TensorRT bindings load")
    env = {k: v for k, v in os.environ.items() if k != "TRT_SURFACE_VERSIONS"}
    env["PYTHON"] = sys.executable  # its pip downloads the wheels
    try:
        done = subprocess.run(["bash", FETCH, cache], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("fetching the TensorRT bindings wheels into {} took over 180 s (slow or unreachable package "
                    "registry)".format(cache))
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["fetch.sh exited with {}".format(done.returncode)])[-1]
        pytest.skip("could not fetch the TensorRT bindings wheels into {} (package registry unreachable, or the "
                    "download or extraction failed): {}".format(cache, last))
    return cache


@pytest.mark.parametrize("version,flags,strongly_typed,calibrates,header", VERSIONS, ids=[v[0] for v in VERSIONS])
def test_glue_against_real_bindings(bindings, tmp_path, version, flags, strongly_typed, calibrates, header):
    here = os.path.join(bindings, version)
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(here, "stub"),
               PYTHONPATH=os.pathsep.join([os.path.join(here, "pkg"), REPO]))
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert run.returncode == 0, "TensorRT {} glue script failed:\n{}".format(version, run.stderr[-4000:])
    seen = json.loads(run.stdout.strip().splitlines()[-1])

    assert seen["imported"], "trt_compat.import_tensorrt() did not return the bindings module"
    assert seen["version"] == version
    assert seen["nptype_float"], "trt.nptype(FLOAT) is not numpy.float32"
    assert (seen["flags"], seen["strongly_typed_only"]) == (flags, strongly_typed)

    numpy = NUMPY if version.startswith("8.") else NUMPY_10
    ok = {name: result[1] for name, result in seen["dtypes"].items() if result[0] == "ok"}
    assert ok == numpy
    errors = {name: result for name, result in seen["dtypes"].items() if result[0] != "ok"}
    assert "FP8" in errors  # every version has a type numpy cannot hold
    for name, (kind, message) in errors.items():
        assert kind == "ArtifactError" and "m.engine" in message and "'t'" in message and name in message, \
            (name, kind, message)

    assert seen["logger_is_ilogger"]
    assert seen["lines"] == ["[ERROR] boom"] and seen["last_error"] == "[ERROR] boom"
    assert seen["severities"] == seen["SEVERITIES"]

    if calibrates:
        assert seen["calibrator"] == {"entropy2": True, "calibrator": True, "algorithm": True, "batch_size": 1,
                                      "batch": "None", "cache": True}, seen["calibrator"]
    else:
        kind, message = seen["calibrator"]
        assert kind == "ConfigError" and "Q/DQ" in message, seen["calibrator"]

    assert seen["header"] == header
    assert seen["tagged"].splitlines() == [header, "input: 3f000000"]


@pytest.mark.parametrize("version", [v[0] for v in VERSIONS])
def test_the_surfaces_in_the_repository_are_the_real_ones(bindings, tmp_path, version):
    """tests/trt_double/surfaces/<version>.json, which the test double is built from, is what the real bindings
    show today (scripts/update_trt_surfaces.sh rewrites them; a difference means they are stale or edited)."""
    here = os.path.join(bindings, version)
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(here, "stub"), PYTHONPATH=os.path.join(here, "pkg"))
    out = tmp_path / "surface.json"
    run = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "trt_surface", "dump.py"), str(out)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert run.returncode == 0, run.stdout
    with open(os.path.join(REPO, "tests", "trt_double", "surfaces", version + ".json")) as f:
        assert json.load(f) == json.loads(out.read_text())
