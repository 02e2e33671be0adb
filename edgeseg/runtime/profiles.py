"""Device build profiles (engines/xavier_nx.json, engines/orin_nano.json): what `edgeseg build` uses
for one board — precision, DLA core, workspace, input size and timing cache.

A profile is a JSON object with exactly these keys:
  precision     "fp32" | "fp16" | "int8"
  dla_core      null, or a DLA core number (0 or 1 on Xavier NX); DLA needs fp16 or int8
  workspace_mb  TensorRT workspace in MiB, a positive integer
  input_size    "WxH", e.g. "1024x512"
  timing_cache  null, or a file path; a relative path is taken from the profile's own folder
  description   one line for people
`load_profile` checks them and raises ConfigError naming the file and the bad key.
"""
import json
import os
import re
from typing import Any, Dict, Tuple

from ..errors import ConfigError
from .base import PRECISIONS

KEYS = ("precision", "dla_core", "workspace_mb", "input_size", "timing_cache", "description")
_SIZE = re.compile(r"^([1-9][0-9]*)x([1-9][0-9]*)$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_profile(path: str) -> Dict[str, Any]:
    """The checked profile at `path`, plus "name" (the file's stem) and "path"; timing_cache resolved."""
    try:
        with open(path) as f:
            profile = json.load(f)
    except OSError as exc:
        raise ConfigError("{}: cannot read build profile ({}); see engines/ for examples".format(
            path, exc.strerror or exc))
    except ValueError as exc:
        raise ConfigError("{}: build profile is not valid JSON ({})".format(path, exc))
    if not isinstance(profile, dict):
        raise ConfigError("{}: build profile must be a JSON object with keys {}".format(path, ", ".join(KEYS)))

    def bad(key: str, want: str) -> ConfigError:
        return ConfigError("{}: {} must be {}, got {}".format(path, key, want, json.dumps(profile.get(key))))

    unknown = sorted(set(profile) - set(KEYS))
    if unknown:
        raise ConfigError("{}: unknown key {} (a profile has {})".format(path, ", ".join(unknown), ", ".join(KEYS)))
    missing = [key for key in KEYS if key not in profile]
    if missing:
        raise ConfigError("{}: missing key {} (a profile has {})".format(path, ", ".join(missing), ", ".join(KEYS)))
    if profile["precision"] not in PRECISIONS:
        raise bad("precision", "one of " + ", ".join(PRECISIONS))
    dla_core = profile["dla_core"]
    if dla_core is not None and not (_is_int(dla_core) and dla_core >= 0):
        raise bad("dla_core", "null or a DLA core number (0, 1)")
    if dla_core is not None and profile["precision"] == "fp32":
        raise ConfigError("{}: dla_core {} needs precision fp16 or int8 (DLA has no FP32), got fp32".format(
            path, dla_core))
    if not (_is_int(profile["workspace_mb"]) and profile["workspace_mb"] > 0):
        raise bad("workspace_mb", "a positive number of MiB")
    if not (isinstance(profile["input_size"], str) and _SIZE.match(profile["input_size"])):
        raise bad("input_size", 'a "WxH" string such as "1024x512"')
    timing_cache = profile["timing_cache"]
    if timing_cache is not None and not (isinstance(timing_cache, str) and timing_cache.strip()):
        raise bad("timing_cache", "null or a file path")
    if not (isinstance(profile["description"], str) and profile["description"].strip()):
        raise bad("description", "a non-empty string")
    result = dict(profile)
    if timing_cache is not None:
        result["timing_cache"] = os.path.normpath(os.path.join(os.path.dirname(path), os.path.expanduser(timing_cache)))
    result.update(name=os.path.splitext(os.path.basename(path))[0], path=path)
    return result


def input_size(profile: Dict[str, Any]) -> Tuple[int, int]:
    """(width, height) of a loaded profile's input_size."""
    match = _SIZE.match(profile["input_size"])
    if match is None:
        raise ConfigError("input_size {!r} is not a \"WxH\" string such as \"1024x512\"".format(profile["input_size"]))
    width, height = match.groups()
    return int(width), int(height)
