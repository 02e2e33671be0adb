"""jetson_clocks: whether the clocks are pinned at their maximum (`jetson_clocks --show`)."""
import re
import shutil
import subprocess
from typing import Dict, List, Optional, Tuple

_JC_CPU_RE = re.compile(r"^\s*cpu(\d+):\s*(.*)$")
_JC_UNIT_RE = re.compile(r"^\s*(GPU|EMC)\s+(MinFreq=.*)$")
_JC_FIELD_RE = re.compile(r"(\w+)=(\S*)")


def _fields(text: str) -> Dict[str, str]:
    return dict(_JC_FIELD_RE.findall(text))


def _freqs(fields: Dict[str, str]) -> Optional[Tuple[int, int, int]]:
    try:
        return int(fields["MinFreq"]), int(fields["MaxFreq"]), int(fields["CurrentFreq"])
    except (KeyError, ValueError):
        return None


def parse_jetson_clocks_show(text: str) -> Optional[bool]:
    """Whether `jetson_clocks --show` output says the clocks are pinned at their maximum: every
    online CPU and the GPU with MinFreq == MaxFreq == CurrentFreq, and the EMC at MaxFreq (its
    MinFreq stays low). None when the text has no CPU or GPU clock lines (e.g. "run as root")."""
    checks: List[bool] = []
    seen_cpu = seen_gpu = False
    for line in text.splitlines():
        match = _JC_CPU_RE.match(line)
        if match:
            fields = _fields(match.group(2))
            if fields.get("Online", "1") == "0":
                continue
            freqs = _freqs(fields)
            if freqs is not None:
                seen_cpu = True
                low, high, now = freqs
                checks.append(low == high == now)
            continue
        match = _JC_UNIT_RE.match(line)
        if match:
            freqs = _freqs(_fields(match.group(2)))
            if freqs is None:
                continue
            low, high, now = freqs
            if match.group(1) == "GPU":
                seen_gpu = True
                checks.append(low == high == now)
            else:
                checks.append(now == high)
    if not (seen_cpu or seen_gpu):
        return None
    return all(checks)


def jetson_clocks_active(command: str = "jetson_clocks", timeout: float = 5.0) -> Optional[bool]:
    """`parse_jetson_clocks_show` of `jetson_clocks --show`; None when the command is absent, fails
    (it needs root) or times out. Never raises."""
    try:
        executable = shutil.which(command)
        if executable is None:
            return None
        result = subprocess.run(
            [executable, "--show"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, universal_newlines=True, timeout=timeout,
        )
        return parse_jetson_clocks_show(result.stdout or "")
    except Exception:  # OSError, TimeoutExpired, undecodable output
        return None
