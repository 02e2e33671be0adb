import os

import pytest

from edgeseg.artifacts import atomic_path, read_sidecar, sidecar_path, write_sidecar
from edgeseg.errors import ArtifactError


def test_sidecar_round_trip(tmp_path):
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"model bytes")
    meta = {"model": "x", "preprocess": {"size": [4, 2]}, "classes": ["a", "b"]}
    written = write_sidecar(str(artifact), meta)
    read = read_sidecar(str(artifact))
    assert read == written
    assert read["model"] == "x" and read["size_bytes"] == 11 and len(read["sha256"]) == 64
    assert sidecar_path(str(artifact)) == str(artifact) + ".json"


def test_missing_sidecar_is_none(tmp_path):
    artifact = tmp_path / "bare.onnx"
    artifact.write_bytes(b"x")
    assert read_sidecar(str(artifact)) is None


def test_hash_mismatch_is_caught(tmp_path):
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"one")
    write_sidecar(str(artifact), {})
    artifact.write_bytes(b"two")
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        read_sidecar(str(artifact))


def test_corrupt_sidecar_is_a_clear_error(tmp_path):
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"one")
    (tmp_path / "model.onnx.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        read_sidecar(str(artifact))


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(str(target)) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(str(tmp_path)) == ["out.bin"]
    with atomic_path(str(target)) as tmp:
        open(tmp, "wb").write(b"new")
    assert target.read_bytes() == b"new"
