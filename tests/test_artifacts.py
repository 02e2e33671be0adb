"""Artifacts and sidecars: pairs committed together (a kill -9 at any point leaves the old pair or the new one),
sidecars recognised by their schema, leftovers of interrupted writes removed, atomic writes."""
import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import REPO

from edgeseg.artifacts import atomic_path, is_sidecar, new_artifact, read_sidecar, sidecar_path
from edgeseg.errors import ArtifactError


def write_pair(path, data, **meta):
    with new_artifact(str(path)) as pending:
        with open(pending.tmp, "wb") as f:
            f.write(data)
        return pending.commit(dict({"stage": "test"}, **meta))


def test_sidecar_round_trip(tmp_path):
    artifact = tmp_path / "model.onnx"
    written = write_pair(artifact, b"model bytes", model="x", preprocess={"size": [4, 2]}, classes=["a", "b"])
    read = read_sidecar(str(artifact))
    assert read == written and is_sidecar(read)
    assert read["model"] == "x" and read["size_bytes"] == 11 and len(read["sha256"]) == 64
    assert read["edgeseg_version"] and read["file"] == "model.onnx"
    assert sidecar_path(str(artifact)) == str(artifact) + ".json"
    assert sorted(os.listdir(str(tmp_path))) == ["model.onnx", "model.onnx.json"]


def test_missing_sidecar_is_none(tmp_path):
    artifact = tmp_path / "bare.onnx"
    artifact.write_bytes(b"x")
    assert read_sidecar(str(artifact)) is None


def test_a_json_that_is_not_a_sidecar_is_not_taken_for_one(tmp_path):
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"x")
    for document in ({"fps": 30.0, "frames": 12}, {"sha256": "0" * 64}, [1, 2], "text"):
        (tmp_path / "model.onnx.json").write_text(json.dumps(document))
        assert read_sidecar(str(artifact)) is None, document


def test_hash_mismatch_is_caught(tmp_path):
    artifact = tmp_path / "model.onnx"
    write_pair(artifact, b"one")
    artifact.write_bytes(b"two")
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        read_sidecar(str(artifact))


def test_corrupt_sidecar_is_a_clear_error(tmp_path):
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"one")
    (tmp_path / "model.onnx.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        read_sidecar(str(artifact))


def test_a_failed_write_leaves_the_old_pair(tmp_path):
    artifact = tmp_path / "model.onnx"
    old = write_pair(artifact, b"old model")
    with pytest.raises(RuntimeError):
        with new_artifact(str(artifact)) as pending:
            with open(pending.tmp, "wb") as f:
                f.write(b"half a new mod")
            raise RuntimeError("crash mid-write")
    assert artifact.read_bytes() == b"old model" and read_sidecar(str(artifact)) == old
    assert sorted(os.listdir(str(tmp_path))) == ["model.onnx", "model.onnx.json"]


KILL_AT = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from edgeseg.artifacts import new_artifact
calls = [0]
real = os.replace
def replace(src, dst):
    calls[0] += 1
    if calls[0] == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)  # the power goes, here
    return real(src, dst)
os.replace = replace
with new_artifact({path!r}) as pending:
    with open(pending.tmp, "wb") as f:
        f.write(b"new model")
    pending.commit({{"stage": "test", "generation": "new"}})
"""


@pytest.mark.parametrize("kill_at, survivor", [(1, "old"), (2, "old"), (3, "new"), (4, "new")])
def test_kill_9_at_any_point_of_a_commit_leaves_one_valid_pair(tmp_path, kill_at, survivor):
    """The commit renames three times: the pending sidecar into place (1, inside its atomic write), the model
    (2), the sidecar (3). A kill before the model's rename leaves the old pair, after it the new one (rolled
    forward when read); the next write clears what the kill left."""
    artifact = tmp_path / "model.onnx"
    write_pair(artifact, b"old model", generation="old")
    process = subprocess.run([sys.executable, "-c", KILL_AT.format(repo=REPO, kill_at=kill_at, path=str(artifact))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.returncode == (-signal.SIGKILL if kill_at <= 3 else 0), process.stderr
    record = read_sidecar(str(artifact))
    assert record["generation"] == survivor
    assert artifact.read_bytes() == (b"old model" if survivor == "old" else b"new model")
    write_pair(artifact, b"newer model", generation="newer")  # clears the leftovers
    assert sorted(os.listdir(str(tmp_path))) == ["model.onnx", "model.onnx.json"]
    assert read_sidecar(str(artifact))["generation"] == "newer"


def test_atomic_path_leaves_nothing_on_failure_and_clears_old_partials(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(str(target)) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(str(tmp_path)) == ["out.bin"]
    (tmp_path / ".out.killed.partial.bin").write_bytes(b"left by a kill -9")
    (tmp_path / ".other.x.partial.bin").write_bytes(b"another file's")
    with atomic_path(str(target)) as tmp:
        open(tmp, "wb").write(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(os.listdir(str(tmp_path))) == [".other.x.partial.bin", "out.bin"]
