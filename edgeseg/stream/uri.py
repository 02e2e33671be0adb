"""jetson-inference's resource URIs for `edgeseg run INPUT OUTPUT`, in one place.

Inputs: `file://PATH` or a plain path (video, image, folder), an image glob (`images/*.jpg`, natural order),
`csi://N`, `v4l2:///dev/videoN`, `/dev/videoN`, `N`, `rtsp://`, `http(s)://` and GStreamer pipelines
(`open_source` reads those). Outputs: `display://N` (a window), `file://PATH` or a plain path: a video
(.mp4, .avi, ...), an image sequence (`out_%i.png`, printf-style, numbered from 0), one image (`out.jpg`), a
folder, or an `rtp://HOST:PORT` stream. `rtp://` inputs and outputs go through GStreamer (edgeseg/stream/gst.py),
which also refuses `rtsp://@:PORT/name` (an RTSP server) in one line.
"""
import glob
import os
import re
from typing import List, NamedTuple, Optional

from ..errors import ConfigError, SourceError
from ..imageio import is_image_name

STREAM_OUTPUT_SCHEMES = ("rtp://", "rtsp://")  # stream/gst.py's
UNSUPPORTED_SCHEMES = ("rtmp://", "rtpmp2ts://", "webrtc://")
_CONVERSION_RE = re.compile(r"%(%|0?\d*[id])")  # %% or one integer field (%i, %d, %04i)
_GLOB_CHARS = ("*", "?", "[")


class InputUri(NamedTuple):
    """What `open_source` opens: `spec` (a path, device or URL), or `files` for an image glob."""

    spec: str
    files: Optional[List[str]] = None


class OutputUri(NamedTuple):
    """`kind` is display, stream (rtp://, rtsp://), video, sequence (a printf pattern), image or folder; `path` the
    URL, file, pattern or folder."""

    kind: str
    path: str


def _scheme(text: str) -> str:
    return text[:text.index("://") + 3].lower() if "://" in text else ""


def natural_key(name: str) -> List[object]:
    """Sort key for frame2.png before frame10.png."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part]


def parse_input(text: str) -> InputUri:
    """The input URI `text` as `open_source` takes it: schemes stripped, globs expanded (natural order)."""
    spec = str(text).strip()
    scheme = _scheme(spec)
    if scheme in UNSUPPORTED_SCHEMES:
        raise ConfigError("{}: {} inputs are not supported; use rtp:// or rtsp:// (docs/from_segnet.md)".format(
            spec, scheme))
    if scheme == "display://":
        raise ConfigError("{}: display:// is an output; the input is a file, camera or stream".format(spec))
    if scheme in ("file://", "v4l2://"):
        spec = spec[len(scheme):]
    if " ! " in spec or "://" in spec or os.path.exists(os.path.expanduser(spec)) or \
            not any(c in spec for c in _GLOB_CHARS):
        return InputUri(spec)
    files = [f for f in glob.glob(os.path.expanduser(spec)) if is_image_name(f) and os.path.isfile(f)]
    if not files:
        raise SourceError("{}: this pattern matches no image file; check it (and quote it, so the shell does not "
                          "expand it)".format(spec))
    return InputUri(spec, sorted(files, key=natural_key))


def sequence_path(pattern: str, index: int) -> str:
    """The file of frame `index` in a printf-style sequence (`out_%i.png` → out_0.png, out_1.png, ...)."""
    return pattern % index


def _check_sequence(pattern: str) -> None:
    fields = [m for m in _CONVERSION_RE.findall(pattern) if m != "%"]
    stray = _CONVERSION_RE.sub("", pattern).count("%")
    if len(fields) != 1 or stray:
        raise ConfigError("{}: an image sequence has exactly one integer field, e.g. out_%i.png or out_%04i.png "
                          "(write a literal % as %%)".format(pattern))
    if not is_image_name(pattern):
        raise ConfigError("{}: an image sequence needs an image extension (.png, .jpg, ...)".format(pattern))


def parse_output(text: str) -> OutputUri:
    """The output URI `text`: display://N, a video, an image sequence, one image or a folder; ConfigError for
    what this build cannot write."""
    path = str(text).strip()
    scheme = _scheme(path)
    if scheme == "display://":
        return OutputUri("display", path)
    if scheme in STREAM_OUTPUT_SCHEMES:
        return OutputUri("stream", path)
    if scheme in UNSUPPORTED_SCHEMES:
        raise ConfigError("{}: {} outputs are not supported; use rtp://HOST:PORT (docs/from_segnet.md)".format(
            path, scheme))
    if scheme == "file://":
        path = path[len(scheme):]
    elif scheme:
        raise ConfigError("{}: unsupported output scheme; use a file, folder, image sequence (out_%i.png) or "
                          "display://0".format(path))
    from .sinks import FOURCC  # the video extensions OpenCV writes here

    extension = os.path.splitext(path)[1].lower()
    if "%" in path:
        _check_sequence(path)
        return OutputUri("sequence", path)
    if extension in FOURCC:
        return OutputUri("video", path)
    if is_image_name(path) and not os.path.isdir(path):
        return OutputUri("image", path)
    if not extension or os.path.isdir(path):
        return OutputUri("folder", path)
    raise ConfigError("{}: not a video ({}), an image, an image sequence (out_%i.png) nor a folder; choose another "
                      "output".format(path, ", ".join(sorted(FOURCC))))
