"""Device build profiles (engines/*.json) and their checks."""
import json
import os

import pytest

from edgeseg.errors import ConfigError
from edgeseg.runtime.profiles import KEYS, input_size, load_profile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD = {"description": "test board", "precision": "int8", "dla_core": 1, "workspace_mb": 512,
        "input_size": "640x360", "timing_cache": "board.timing.cache"}


def write(tmp_path, payload, name="board.json"):
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return str(path)


@pytest.mark.parametrize("name", ["xavier_nx", "orin_nano"])
def test_shipped_profiles_load(name):
    path = os.path.join(ROOT, "engines", name + ".json")
    profile = load_profile(path)
    assert set(KEYS) <= set(profile) and profile["name"] == name
    assert profile["precision"] in ("fp16", "int8") and input_size(profile) == (1024, 512)
    assert profile["timing_cache"] == os.path.join(ROOT, "engines", name + ".timing.cache")
    assert profile["dla_core"] is None  # GPU by default; Xavier NX's description says how to use a DLA core


def test_good_profile(tmp_path):
    path = write(tmp_path, GOOD)
    profile = load_profile(path)
    assert (profile["precision"], profile["dla_core"], profile["workspace_mb"]) == ("int8", 1, 512)
    assert profile["timing_cache"] == str(tmp_path / "board.timing.cache") and profile["path"] == path
    assert load_profile(write(tmp_path, dict(GOOD, timing_cache=None)))["timing_cache"] is None


@pytest.mark.parametrize("change, message", [
    ({"precision": "int4"}, "precision must be one of fp32, fp16, int8, got \"int4\""),
    ({"dla_core": -1}, "dla_core must be null or a DLA core number"),
    ({"dla_core": True}, "dla_core must be null or a DLA core number"),
    ({"precision": "fp32", "dla_core": 0}, "dla_core 0 needs precision fp16 or int8"),
    ({"workspace_mb": 0}, "workspace_mb must be a positive number of MiB"),
    ({"workspace_mb": "1G"}, "workspace_mb must be a positive number of MiB"),
    ({"input_size": "1024*512"}, "input_size must be a \"WxH\" string"),
    ({"input_size": [1024, 512]}, "input_size must be a \"WxH\" string"),
    ({"timing_cache": ""}, "timing_cache must be null or a file path"),
    ({"description": ""}, "description must be a non-empty string"),
    ({"dla": 0}, "unknown key dla"),
])
def test_bad_value_names_the_file_and_key(tmp_path, change, message):
    path = write(tmp_path, dict(GOOD, **change))
    with pytest.raises(ConfigError) as error:
        load_profile(path)
    assert str(error.value).startswith(path + ": ") and message in str(error.value)


def test_missing_key_and_bad_file(tmp_path):
    without = {k: v for k, v in GOOD.items() if k != "workspace_mb"}
    with pytest.raises(ConfigError, match=r"board\.json: missing key workspace_mb"):
        load_profile(write(tmp_path, without))
    with pytest.raises(ConfigError, match=r"board\.json: build profile is not valid JSON"):
        load_profile(write(tmp_path, "{precision: fp16"))
    with pytest.raises(ConfigError, match=r"board\.json: build profile must be a JSON object"):
        load_profile(write(tmp_path, "[1, 2]"))
    with pytest.raises(ConfigError, match=r"nowhere\.json: cannot read build profile"):
        load_profile(str(tmp_path / "nowhere.json"))
