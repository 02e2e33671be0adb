"""The Jetson board: its model, its L4T (Jetson Linux) and JetPack releases, its nvpmodel power mode.
Every probe returns None off a Jetson or when unreadable, and never raises."""
import re
import subprocess
from typing import Optional

MODEL_PATH = "/proc/device-tree/model"
RELEASE_PATH = "/etc/nv_tegra_release"
NVPMODEL = "nvpmodel"

# L4T release -> JetPack release (NVIDIA's JetPack archive, as tabled by jetson-stats).
L4T_TO_JETPACK = {
    "32.6.1": "4.6",
    "32.7.1": "4.6.1",
    "32.7.2": "4.6.2",
    "32.7.3": "4.6.3",
    "32.7.4": "4.6.4",
    "32.7.5": "4.6.5",
    "32.7.6": "4.6.6",
    "35.1.0": "5.0.2",
    "35.2.1": "5.1",
    "35.3.1": "5.1.1",
    "35.4.1": "5.1.2",
    "35.5.0": "5.1.3",
    "35.6.0": "5.1.4",
    "35.6.1": "5.1.5",
    "35.6.2": "5.1.5",
    "36.2.0": "6.0 DP",
    "36.3.0": "6.0",
    "36.4.0": "6.1",
    "36.4.3": "6.2",
    "36.4.4": "6.2.1",
}

_L4T_RE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?")
_POWER_MODE_RE = re.compile(r"^NV Power Mode:\s*(.+?)\s*$", re.MULTILINE)


def read_text(path: str) -> Optional[str]:
    """A file's text (undecodable bytes replaced); None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None



def jetson_model(path: str = MODEL_PATH) -> Optional[str]:
    """The board's device-tree model, e.g. "NVIDIA Jetson Xavier NX Developer Kit"."""
    text = read_text(path)
    if text is None:
        return None
    return text.rstrip("\x00").strip() or None


def parse_l4t_release(text: str) -> Optional[str]:
    """"# R35 (release), REVISION: 3.1, ..." -> "35.3.1"."""
    match = _L4T_RE.search(text)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return "{}.{}.{}".format(major, minor, patch or "0")


def l4t_release(path: str = RELEASE_PATH) -> Optional[str]:
    """The L4T (Jetson Linux) release from /etc/nv_tegra_release."""
    text = read_text(path)
    return None if text is None else parse_l4t_release(text)


def jetpack_for_l4t(l4t: Optional[str]) -> Optional[str]:
    """The JetPack release that ships L4T `l4t`, when known."""
    return None if l4t is None else L4T_TO_JETPACK.get(l4t)


def power_mode(command: str = NVPMODEL, timeout: float = 3.0) -> Optional[str]:
    """The nvpmodel power mode name (e.g. "MODE_20W_6CORE") from `nvpmodel -q`."""
    try:
        result = subprocess.run(
            [command, "-q"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            universal_newlines=True, timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    match = _POWER_MODE_RE.search(result.stdout)
    return None if match is None else match.group(1)

