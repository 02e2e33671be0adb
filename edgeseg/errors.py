"""Errors a user can cause. The CLI prints them as one line and exits with code 2 (1 for a failed check).

Messages never carry credentials: a URL's userinfo (rtsp://user:password@host) is replaced by `***`
wherever edgeseg prints or stores a source (`redact`), and every EdgesegError message is redacted too.
"""
import re

# scheme://userinfo@ anywhere in a text (a URL, or one inside a GStreamer pipeline)
_USERINFO_RE = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with every URL's user and password hidden: rtsp://user:secret@host/ -> rtsp://***@host/."""
    return _USERINFO_RE.sub(r"\1***@", str(text))


class EdgesegError(Exception):
    """A problem with the user's input: a file, a flag, a device. The message says what to do."""

    exit_code = 2

    def __init__(self, message: str = "") -> None:
        super().__init__(redact(message))


class ArtifactError(EdgesegError):
    """A model, engine or sidecar that is missing, corrupt, mismatched or built for another device."""


class SourceError(EdgesegError):
    """A video, camera or image source that does not exist, does not open or does not decode."""


class ConfigError(EdgesegError):
    """A flag or option value that cannot be used (unknown model, bad size, missing dependency)."""


class SinkError(EdgesegError):
    """An output that could not be written completely (a full disk, a writer that failed); what was at its
    path before is left untouched."""


class CheckFailed(EdgesegError):
    """A check the user asked for did not pass (the INT8 accuracy guard, a bench row): exit code 1."""

    exit_code = 1
