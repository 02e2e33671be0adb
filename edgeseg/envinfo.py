"""What this machine has (Python, numpy, runtimes, OpenCV, and the Jetson facts of `jetson.board`), for
`edgeseg info`.

Every probe returns None for what is absent or unreadable and never raises. torch is never
imported: its presence and version come from package metadata only.
"""
import importlib.util
import platform
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import __version__
from .jetson.board import (
    MODEL_PATH,
    NVPMODEL,
    RELEASE_PATH,
    jetpack_for_l4t,
    jetson_model,
    l4t_release,
    power_mode,
    read_text,
)

try:
    from importlib import metadata as _metadata
except ImportError:  # Python < 3.8
    import importlib_metadata as _metadata  # type: ignore

_GSTREAMER_RE = re.compile(r"^\s*GStreamer:\s*(YES|NO)\b", re.MULTILINE | re.IGNORECASE)


def package_version(dist: str) -> Optional[str]:
    """Installed version of distribution `dist` from its metadata, without importing it."""
    try:
        return _metadata.version(dist)
    except Exception:  # PackageNotFoundError, or broken metadata
        return None


def torch_version() -> Optional[str]:
    """torch's version if it is importable, "unknown" if it has no metadata; never imports it."""
    try:
        if importlib.util.find_spec("torch") is None:
            return None
    except (ImportError, ValueError):
        return None
    return package_version("torch") or "unknown"


def onnxruntime_info() -> Tuple[Optional[str], Optional[List[str]]]:
    """onnxruntime's version and available execution providers."""
    try:
        import onnxruntime

        return onnxruntime.__version__, list(onnxruntime.get_available_providers())
    except Exception:  # absent, or its native libraries fail to load
        return None, None


def gstreamer_enabled(build_info: str) -> Optional[bool]:
    """Whether an OpenCV build-information text says GStreamer: YES (None if not mentioned)."""
    match = _GSTREAMER_RE.search(build_info)
    return None if match is None else match.group(1).upper() == "YES"


def opencv_info() -> Tuple[Optional[str], Optional[bool]]:
    """OpenCV's version and whether it was built with GStreamer."""
    try:
        import cv2

        return cv2.__version__, gstreamer_enabled(cv2.getBuildInformation())
    except Exception:
        return None, None


def tensorrt_info() -> Dict[str, object]:
    """TensorRT, PyCUDA and CUDA device facts from `edgeseg.runtime.tensorrt.environment()`."""
    keys = ("tensorrt_version", "pycuda_version", "cuda_device", "compute_capability")
    try:
        from .runtime.tensorrt import environment

        env = environment()
        return {key: env.get(key) for key in keys}
    except Exception:  # module not there yet, or a broken CUDA install
        return {key: None for key in keys}


def resident_memory_mb(status: str = "/proc/self/status") -> Optional[float]:
    """This process's resident memory (VmRSS) in MB; None where /proc is not there."""
    text = read_text(status) or ""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return None


def collect(
    model_path: str = MODEL_PATH, release_path: str = RELEASE_PATH, nvpmodel: str = NVPMODEL
) -> Dict[str, object]:
    """Everything `edgeseg info` reports, as a flat dict; absent things are None."""
    ort_version, ort_providers = onnxruntime_info()
    cv_version, cv_gstreamer = opencv_info()
    l4t = l4t_release(release_path)
    info: Dict[str, object] = {
        "edgeseg": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "torch": torch_version(),
        "onnxruntime": ort_version,
        "onnxruntime_providers": ort_providers,
        "opencv": cv_version,
        "opencv_gstreamer": cv_gstreamer,
    }
    info.update(tensorrt_info())
    info.update(
        {
            "jetson_model": jetson_model(model_path),
            "l4t": l4t,
            "jetpack": jetpack_for_l4t(l4t),
            "power_mode": power_mode(nvpmodel),
        }
    )
    return info


def _installed(version: object, detail: str = "") -> str:
    if version is None:
        return "not installed"
    return "{} ({})".format(version, detail) if detail else str(version)


def _dotted(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return ".".join(str(part) for part in value)
    return "unknown" if value is None else str(value)


def format_report(info: Dict[str, object]) -> str:
    """Aligned "name  value" lines for a `collect()` dict."""
    providers = [str(p) for p in info.get("onnxruntime_providers") or []]  # type: ignore[attr-defined]
    gstreamer = info.get("opencv_gstreamer")
    opencv_detail = "" if gstreamer is None else "GStreamer: " + ("YES" if gstreamer else "NO")
    rows = [
        ("edgeseg", str(info.get("edgeseg"))),
        ("python", str(info.get("python"))),
        ("platform", "{} ({})".format(info.get("platform"), info.get("machine"))),
        ("numpy", _installed(info.get("numpy"))),
        ("torch", _installed(info.get("torch"))),
        ("onnxruntime", _installed(info.get("onnxruntime"), ", ".join(providers))),
        ("opencv", _installed(info.get("opencv"), opencv_detail)),
        ("tensorrt", _installed(info.get("tensorrt_version"))),
        ("pycuda", _installed(info.get("pycuda_version"))),
    ]
    if info.get("cuda_device") is not None:
        compute = _dotted(info.get("compute_capability"))
        rows.append(("cuda device", "{} (compute {})".format(info["cuda_device"], compute)))
    if info.get("jetson_model") is None and info.get("l4t") is None:
        rows.append(("jetson", "not detected"))
    else:
        l4t = info.get("l4t")
        jetpack = "JetPack " + str(info.get("jetpack") or "unknown")
        rows += [
            ("jetson", str(info.get("jetson_model") or "unknown model")),
            ("l4t", "unknown" if l4t is None else "{} ({})".format(l4t, jetpack)),
            ("power mode", str(info.get("power_mode") or "unknown")),
        ]
    return "\n".join("{:<16} {}".format(name, value) for name, value in rows)
