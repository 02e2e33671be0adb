"""Artifacts and their JSON sidecars: atomic writes, content hashes, pairs committed together.

Every artifact `X` (an .onnx model, an engine) has a sidecar `X.json` that says what it is and where it
came from. A sidecar is recognised by its schema (SIDECAR_KEYS: a JSON without them is not one) and
records the artifact's SHA-256; reading it checks the file still matches.

`new_artifact(X)` writes a model and its sidecar as one thing. The model is written to a hidden partial
file; `commit(meta)` then (1) writes the new sidecar complete to `X.json.next`, (2) renames the model
into place, (3) renames `X.json.next` to `X.json`. A crash before (2) leaves the old pair; a crash
between (2) and (3) leaves a model whose hash the pending sidecar names, which `read_sidecar` (and the
next write) rolls forward. Leftovers of interrupted writes (partial files, a stale pending sidecar) are
removed by the next write to that path.
"""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

from .errors import ArtifactError, ConfigError

SIDECAR_VERSION = 1
SIDECAR_KEYS = ("sidecar_version", "stage", "file", "sha256")
PENDING = ".next"  # X.json.next: a complete new sidecar whose model may not be in place yet


def sidecar_path(artifact: str) -> str:
    return artifact + ".json"


def is_sidecar(record: Any) -> bool:
    """Whether a parsed JSON document is an edgeseg sidecar (has the schema's keys)."""
    return isinstance(record, dict) and all(key in record for key in SIDECAR_KEYS) and \
        isinstance(record["sha256"], str)


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


def _partial_affixes(path: str) -> Tuple[str, str, str]:
    folder = os.path.dirname(os.path.abspath(path))
    stem, extension = os.path.splitext(os.path.basename(path))
    return folder, "." + stem + ".", ".partial" + extension


def partial_path(path: str) -> str:
    """A new, empty, uniquely named file beside `path`, with the same extension (so writers that
    choose a format by extension still do) and the permissions a plain `open` would give."""
    folder, prefix, suffix = _partial_affixes(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return tmp


def remove_partials(path: str) -> None:
    """Remove the partial files an interrupted write to `path` left behind (kill -9, power loss)."""
    folder, prefix, suffix = _partial_affixes(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds. Partial
    files an earlier interrupted write to `path` left are removed first."""
    remove_partials(path)
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


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise ArtifactError("{}: sidecar is not valid JSON ({}); delete it or re-export the model".format(path, exc))


def _pending_record(artifact: str, sha256: Optional[str]) -> Optional[Dict[str, Any]]:
    """The pending sidecar `X.json.next` when its model is in place (hash `sha256`), else None."""
    pending = sidecar_path(artifact) + PENDING
    if not os.path.exists(pending):
        return None
    try:
        with open(pending) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if is_sidecar(record) and sha256 is not None and record["sha256"] == sha256 else None


def resolve_pair(artifact: str) -> None:
    """Finish a commit a crash interrupted between renaming the model and its sidecar (roll forward); a
    pending sidecar whose model never arrived is left for the next write to `artifact` to remove."""
    pending = sidecar_path(artifact) + PENDING
    if os.path.exists(pending) and os.path.isfile(artifact):
        if _pending_record(artifact, file_sha256(artifact)) is not None:
            try:
                os.replace(pending, sidecar_path(artifact))
            except OSError:
                pass  # a read-only folder: read_sidecar still reads the pending one


class PendingArtifact:
    """A model being written (at `tmp`) that `commit` makes `path`'s, together with its sidecar."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp = partial_path(path)
        self.committed = False

    def commit(self, meta: Dict[str, Any]) -> Dict[str, Any]:
        """Make the model at `tmp` and a sidecar of `meta` (which names its stage) `path`'s pair."""
        from . import __version__

        record = dict(meta)
        record.update(sidecar_version=SIDECAR_VERSION, file=os.path.basename(self.path),
                      sha256=file_sha256(self.tmp), size_bytes=os.path.getsize(self.tmp))
        record.setdefault("edgeseg_version", __version__)
        if not is_sidecar(record):
            raise ValueError("a sidecar needs {}".format(", ".join(SIDECAR_KEYS)))
        pending = sidecar_path(self.path) + PENDING
        write_json_atomic(pending, record)  # (1) the new sidecar, complete
        os.replace(self.tmp, self.path)  # (2) the commit point
        try:
            os.replace(pending, sidecar_path(self.path))  # (3)
        except FileNotFoundError:  # a reader rolled it forward in between
            if not is_sidecar(_read_json(sidecar_path(self.path))):
                raise
        self.committed = True
        return record

    def discard(self) -> None:
        if not self.committed and os.path.exists(self.tmp):
            os.remove(self.tmp)


@contextlib.contextmanager
def new_artifact(path: str) -> Iterator[PendingArtifact]:
    """Write `path` and its sidecar as a pair: write the model to `.tmp`, then call `.commit(meta)`.
    Nothing changes at `path` unless the commit happens; leftovers of earlier interrupted writes go."""
    resolve_pair(path)
    remove_partials(path)
    pending = sidecar_path(path) + PENDING
    if os.path.exists(pending):  # its model never arrived: the old pair stands
        os.remove(pending)
    remove_partials(pending)
    artifact = PendingArtifact(path)
    try:
        yield artifact
    finally:
        artifact.discard()


def read_sidecar(artifact: str, verify: bool = True) -> Optional[Dict[str, Any]]:
    """The sidecar of `artifact`, or None when it has none (a JSON beside it that is not a sidecar does not
    count). Rolls an interrupted commit forward. Raises when the sidecar does not match the file."""
    path = sidecar_path(artifact)
    sha256 = None
    if os.path.exists(path + PENDING) and os.path.isfile(artifact):
        sha256 = file_sha256(artifact)
        pending = _pending_record(artifact, sha256)
        if pending is not None:
            resolve_pair(artifact)
            return pending
    if not os.path.exists(path):
        return None
    record = _read_json(path)
    if not is_sidecar(record):
        return None
    if verify and record["sha256"] != (sha256 or file_sha256(artifact)):
        raise ArtifactError(
            "{}: file does not match its sidecar {} (hash differs); re-export or rebuild it, "
            "or delete the sidecar to run it as a bare model".format(artifact, path)
        )
    return record


def _is_sidecar_file(path: str) -> bool:
    try:
        with open(path) as f:
            return is_sidecar(json.load(f))
    except (OSError, ValueError):
        return False


def _writable(path: str) -> bool:
    """Whether `path` can be created or replaced: its nearest existing folder is writable."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK) and \
        (not os.path.exists(path) or os.access(path, os.W_OK))


def check_outputs(files: Sequence[Optional[str]] = (), folders: Sequence[Optional[str]] = (),
                  inputs: Sequence[Optional[str]] = (), artifacts: Sequence[Optional[str]] = ()) -> None:
    """Before any work starts: every output can be written, is not an input of the command (nor an input's
    sidecar), is not any artifact's sidecar, and no two outputs are one path; a plain file output (a report)
    is not an artifact either (only `artifacts`, the pairs a command writes, may replace one). Raises
    ConfigError naming the path and the fix. (None entries are skipped: options not given.)"""
    taken: Dict[str, str] = {}
    for given in (p for p in inputs if p):
        for path, what in ((given, "an input of this command"), (sidecar_path(given), "the sidecar of " + given)):
            taken[os.path.realpath(path)] = what
    plain = {p for p in files if p}
    outputs = [(p, False) for p in list(files) + list(artifacts) if p] + [(p, True) for p in folders if p]
    for path, folder in outputs:
        real = os.path.realpath(path)
        if real in taken:
            raise ConfigError("{}: is {}; choose another output path (nothing was written)".format(path, taken[real]))
        taken[real] = "another output of this command"
        if path in plain and os.path.isfile(path) and _is_sidecar_file(sidecar_path(path)):
            raise ConfigError("{}: is an artifact (it has a sidecar); choose another output path (nothing was "
                              "written)".format(path))
        if folder and os.path.isfile(path):
            raise ConfigError("{}: is a file, and a folder is written here; choose a folder path".format(path))
        if not folder and os.path.isdir(path):
            raise ConfigError("{}: is a folder; give a file path".format(path))
        if not folder and _is_sidecar_file(path):
            raise ConfigError("{}: is the sidecar of {}; choose another output path (sidecars are never "
                              "overwritten)".format(path, path[:-len(".json")] if path.endswith(".json") else
                                                    "an artifact"))
        if not _writable(path):
            raise ConfigError("{}: cannot be written here (no permission); choose another path".format(path))


def require_file(path: str, what: str, fix: str) -> None:
    """Raise a one-line ArtifactError when `path` is not a readable file."""
    if not os.path.isfile(path):
        raise ArtifactError("{}: {} not found; {}".format(path, what, fix))
