"""Artifacts and their JSON sidecars: atomic writes, content hashes, compatibility checks.

Every artifact `X` (an .onnx model, an engine) has a sidecar `X.json` that says what it is and
where it came from. A sidecar records the artifact's SHA-256; reading it checks the file still
matches, so a sidecar is never paired with the wrong file.
"""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator, Optional

from .errors import ArtifactError

SIDECAR_VERSION = 1


def sidecar_path(artifact: str) -> str:
    return artifact + ".json"


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def partial_path(path: str) -> str:
    """A new, empty, uniquely named file beside `path`, with the same extension (so writers that
    choose a format by extension still do) and the permissions a plain `open` would give."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, extension = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix="." + stem + ".", suffix=".partial" + extension, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return tmp


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes_atomic(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def copy_file_atomic(source: str, path: str) -> None:
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)


def write_json_atomic(path: str, payload: Dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=False)
            f.write("\n")


def write_sidecar(artifact: str, meta: Dict[str, Any]) -> Dict[str, Any]:
    """Write `artifact`'s sidecar with `meta` plus the artifact's name, size and hash."""
    record = dict(meta)
    record.update(
        sidecar_version=SIDECAR_VERSION,
        file=os.path.basename(artifact),
        sha256=file_sha256(artifact),
        size_bytes=os.path.getsize(artifact),
    )
    write_json_atomic(sidecar_path(artifact), record)
    return record


def read_sidecar(artifact: str, verify: bool = True) -> Optional[Dict[str, Any]]:
    """The sidecar of `artifact`, or None when it has none. Raises when it does not match."""
    path = sidecar_path(artifact)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            "{}: sidecar is not valid JSON ({}); delete it or re-export the model".format(path, exc)
        )
    if verify and record.get("sha256") and record["sha256"] != file_sha256(artifact):
        raise ArtifactError(
            "{}: file does not match its sidecar {} (hash differs); re-export or rebuild it, "
            "or delete the sidecar to run it as a bare model".format(artifact, path)
        )
    return record


def require_file(path: str, what: str, fix: str) -> None:
    """Raise a one-line ArtifactError when `path` is not a readable file."""
    if not os.path.isfile(path):
        raise ArtifactError("{}: {} not found; {}".format(path, what, fix))
