"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""


class EdgesegError(Exception):
    """A problem with the user's input: a file, a flag, a device. The message says what to do."""

    exit_code = 2


class ArtifactError(EdgesegError):
    """A model, engine or sidecar that is missing, corrupt, mismatched or built for another device."""


class SourceError(EdgesegError):
    """A video, camera or image source that does not exist, does not open or does not decode."""


class ConfigError(EdgesegError):
    """A flag or option value that cannot be used (unknown model, bad size, missing dependency)."""
