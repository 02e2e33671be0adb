"""GStreamer without OpenCV: decode and encode pipelines run by `gst-launch-1.0` in a subprocess, with raw
BGR frames over pipes, so they work whatever OpenCV was built with (pip's wheels have no GStreamer).

    open_gst_input("rtp://@:5000", codec="h264")            -> GstSource (udpsrc ! rtph264depay ! ... decoder)
    open_gst_output("rtp://192.168.1.2:5000", 30, (w, h))  -> GstSink (encoder ! rtph264pay ! udpsink)
    open_gst_output("out.mkv", 30, (w, h), codec="h265")    -> GstSink (encoder ! h265parse ! matroskamux)

The pipelines are jetson-inference's (jetson-utils gstDecoder/gstEncoder). Where NVIDIA's elements are
installed (a Jetson: nvv4l2decoder, nvv4l2h264enc, nvvidconv) they replace the software ones, element by
element; SWAP is that one table, and nothing else differs between the two variants. A decoded stream's
size and frame rate are read from the caps gst-launch-1.0 -v reports for its fdsink, so none needs giving;
width and height, when given, scale every frame to that size. An RTP output is sent at its frame rate (udpsink
syncs to the frames' timestamps): a video file processed faster than real time, sent in bursts, overflows a
receiver's socket buffer and loses frames.

Python 3.8 and numpy >= 1.17; no torch.
"""
import fractions
import functools
import os
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import time
from typing import IO, Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np

from ..artifacts import partial_path, remove_partials
from ..errors import ConfigError, SinkError, SourceError, redact
from .sinks import Sink
from .sources import FrameSource

INPUT_CODECS = ("h264", "h265", "vp8", "vp9", "mpeg2", "mpeg4", "mjpeg")
OUTPUT_CODECS = ("h264", "h265", "vp8", "vp9", "mjpeg")
DEFAULT_BITRATE = 4000000  # bits per second, as segnet
DEFAULT_RTSP_LATENCY = 2000  # ms, as segnet
TIMEOUT_S = 10.0  # how long a source waits for its next frame before it gives up
FIRST_WAIT_S = 60.0  # how long a live source waits for its first frame (a sender may start after it)
CLOSE_TIMEOUT_S = 60.0  # how long a sink waits for GStreamer to finish the output after the last frame

_TO_NVMM = "nvvidconv ! 'video/x-raw(memory:NVMM)' ! "
_NV_ENCODER = _TO_NVMM + "nv{} bitrate={{bps}} insert-sps-pps=1 idrinterval=30 maxperf-enable=1"
# What the Jetson variant swaps, and only that: key -> (software fragment, NVIDIA fragment). Bitrates are
# filled in from `bps` (x264enc/x265enc take kbit/s, vp8enc/vp9enc and NVIDIA's encoders bit/s).
SWAP: Dict[str, Tuple[str, str]] = {
    "decode h264": ("avdec_h264", "nvv4l2decoder"),
    "decode h265": ("avdec_h265", "nvv4l2decoder"),
    "decode vp8": ("vp8dec", "nvv4l2decoder"),
    "decode vp9": ("vp9dec", "nvv4l2decoder"),
    "decode mpeg2": ("avdec_mpeg2video", "nvv4l2decoder"),
    "decode mpeg4": ("avdec_mpeg4", "nvv4l2decoder"),
    "decode mjpeg": ("jpegdec", "nvv4l2decoder mjpeg=1"),
    "to BGR": ("videoconvert", "nvvidconv ! video/x-raw,format=BGRx ! videoconvert"),
    "encode h264": ("x264enc bitrate={kbps} speed-preset=ultrafast tune=zerolatency key-int-max=30",
                    _NV_ENCODER.format("v4l2h264enc")),
    "encode h265": ("x265enc bitrate={kbps} speed-preset=ultrafast tune=zerolatency key-int-max=30",
                    _NV_ENCODER.format("v4l2h265enc")),
    "encode vp8": ("vp8enc target-bitrate={bps} deadline=1 keyframe-max-dist=30",
                   _TO_NVMM + "nvv4l2vp8enc bitrate={bps}"),
    "encode vp9": ("vp9enc target-bitrate={bps} deadline=1 keyframe-max-dist=30",
                   _TO_NVMM + "nvv4l2vp9enc bitrate={bps}"),
    "encode mjpeg": ("jpegenc", "nvjpegenc"),
}
# codec -> (RTP encoding-name, depayloader (and parser), payloader, parser before a muxer)
RTP: Dict[str, Tuple[str, str, str, str]] = {
    "h264": ("H264", "rtph264depay ! h264parse", "rtph264pay config-interval=1", "h264parse ! "),
    "h265": ("H265", "rtph265depay ! h265parse", "rtph265pay config-interval=1", "h265parse ! "),
    "vp8": ("VP8", "rtpvp8depay", "rtpvp8pay", ""),
    "vp9": ("VP9", "rtpvp9depay", "rtpvp9pay", ""),
    "mpeg2": ("MPV", "rtpmpvdepay ! mpegvideoparse", "rtpmpvpay", ""),
    "mpeg4": ("MP4V-ES", "rtpmp4vdepay ! mpeg4videoparse", "rtpmp4vpay", ""),
    "mjpeg": ("JPEG", "rtpjpegdepay", "rtpjpegpay", ""),
}
MUXERS = {".mp4": "mp4mux", ".m4v": "mp4mux", ".mov": "qtmux", ".mkv": "matroskamux", ".avi": "avimux"}

_URI_RE = re.compile(r"^(rtp|rtsp)://([^:/]*)(?::(\d+))?(/.*)?$", re.IGNORECASE)
_CAPS_RE = re.compile(r"GstFdSink:[^.]+\.GstPad:sink: caps = video/x-raw.*?width=\(int\)(\d+), height=\(int\)(\d+)"
                      r"(?:.*?framerate=\(fraction\)(\d+)/(\d+))?")
_ERROR_RE = re.compile(r"^(?:ERROR: from element /(?:\S*/)?\w+:(\S+?): |WARNING: (erroneous pipeline): )(.*)$")


class StreamOptions(NamedTuple):
    """`edgeseg run`'s codec flags; the defaults are segnet's."""

    input_codec: Optional[str] = None
    rtsp_latency: int = DEFAULT_RTSP_LATENCY
    output_codec: Optional[str] = None
    bitrate: int = DEFAULT_BITRATE


# ------------------------------------------------------------------------------------ detection


def gstreamer_available() -> bool:
    """Whether gst-launch-1.0 is on PATH."""
    return shutil.which("gst-launch-1.0") is not None


@functools.lru_cache(maxsize=None)
def has_element(name: str) -> bool:
    """Whether GStreamer has the element `name` (gst-inspect-1.0 NAME succeeds)."""
    if shutil.which("gst-inspect-1.0") is None:
        return False
    return subprocess.run(["gst-inspect-1.0", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          timeout=60).returncode == 0


def _elements(fragment: str) -> List[str]:
    return [part.split()[0] for part in fragment.split(" ! ") if "/" not in part]


def pick(key: str, hardware: Optional[bool] = None) -> str:
    """SWAP[key]'s NVIDIA fragment when `hardware` (None: when all its elements are installed), else the
    software one."""
    software, nvidia = SWAP[key]
    if hardware is None:
        hardware = all(has_element(name) for name in _elements(nvidia))
    return nvidia if hardware else software


def gst_error(stderr: str) -> str:
    """GStreamer's first error line, shortened: 'filesink0: Could not open file "x" for writing.'."""
    lines = stderr.splitlines()
    for index, line in enumerate(lines):
        match = _ERROR_RE.match(line.strip())
        if match:
            reason = [d.strip() for d in lines[index + 1:index + 4] if d.strip().startswith("streaming stopped")]
            return "{}: {}{}".format(match.group(1) or match.group(2), match.group(3),
                                     " ({})".format(reason[0]) if reason else "")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[0] if lines else "no message"


# ------------------------------------------------------------------------------------ pipelines


def _check_codec(codec: Optional[str], allowed: Tuple[str, ...], flag: str) -> str:
    if codec not in allowed:
        raise ConfigError("{} {}: unsupported codec; use one of {}".format(flag, codec, ", ".join(allowed)))
    return str(codec)


def _parse_uri(uri: str) -> Tuple[str, str, int]:
    """rtp://host:port or rtsp://host:port/path -> (scheme, host, port); ConfigError when the port is missing."""
    match = _URI_RE.match(uri.strip())
    if match is None or match.group(3) is None:
        raise ConfigError("{}: give a port, e.g. rtp://@:5000 (receive) or rtp://192.168.1.2:5000 (send)".format(
            redact(uri)))
    return match.group(1).lower(), match.group(2), int(match.group(3))


def decode_pipeline(uri: str, codec: str, width: Optional[int] = None, height: Optional[int] = None,
                    rate: Optional[float] = None, latency: int = DEFAULT_RTSP_LATENCY, fd: int = 1,
                    hardware: Optional[bool] = None) -> str:
    """The pipeline that decodes `uri` (a file, rtp://[host]:port or rtsp://...) to raw BGR on file descriptor
    `fd`; width/height scale the frames, rate drops frames down to that many per second."""
    codec = _check_codec(codec, INPUT_CODECS, "--input-codec")
    encoding, depay = RTP[codec][:2]
    if uri.lower().startswith("rtp://"):
        _, host, port = _parse_uri(uri)
        address = " address={}".format(host) if host not in ("", "@") else ""
        head = "udpsrc port={}{} caps=application/x-rtp,media=video,clock-rate=90000,encoding-name={} ! {}".format(
            port, address, encoding, depay)
    elif uri.lower().startswith("rtsp://"):
        head = "rtspsrc location={} latency={} ! queue ! {}".format(shlex.quote(uri), int(latency), depay)
    else:
        head = "filesrc location={} ! parsebin".format(shlex.quote(uri))
    scale = "videoscale ! " if width and height else ""
    size = ",width={},height={}".format(width, height) if width and height else ""
    limit = "videorate drop-only=true max-rate={} ! ".format(int(rate)) if rate else ""
    return "{} ! {} ! {} ! {}{}video/x-raw,format=BGR{} ! fdsink fd={} sync=false".format(
        head, pick("decode " + codec, hardware), pick("to BGR", hardware), scale, limit, size, fd)


def encode_pipeline(uri: str, fps: float, size: Tuple[int, int], codec: str = "h264",
                    bitrate: Optional[int] = None, hardware: Optional[bool] = None) -> str:
    """The pipeline that encodes raw BGR frames of `size` (width, height) from stdin to rtp://host:port or to a
    video file (.mp4, .mkv, .mov, .avi)."""
    codec = _check_codec(codec, OUTPUT_CODECS, "--output-codec")
    bps = int(bitrate or DEFAULT_BITRATE)
    rate = fractions.Fraction(fps if fps > 0 else 30.0).limit_denominator(1001)
    encoder = pick("encode " + codec, hardware).format(bps=bps, kbps=max(1, bps // 1000))
    if uri.lower().startswith("rtp://"):
        _, host, port = _parse_uri(uri)
        tail = "{} ! udpsink host={} port={} auto-multicast=true".format(RTP[codec][2], host, port)
    else:
        extension = os.path.splitext(uri)[1].lower()
        if extension not in MUXERS:
            raise ConfigError("{}: --output-codec needs a video file ({}) or rtp://HOST:PORT".format(
                uri, ", ".join(sorted(MUXERS))))
        tail = "{}{} ! filesink location={}".format(RTP[codec][3], MUXERS[extension], shlex.quote(uri))
    return ("fdsrc fd=0 ! rawvideoparse width={} height={} format=bgr framerate={}/{} ! videoconvert ! "
            "video/x-raw,format=I420 ! {} ! {}").format(size[0], size[1], rate.numerator, rate.denominator,
                                                        encoder, tail)


def _launch(description: str, verbose: bool = False, **popen: Any) -> "subprocess.Popen[bytes]":
    """gst-launch-1.0 DESCRIPTION in its own session (Ctrl-C reaches edgeseg, which ends the pipeline)."""
    command = ["gst-launch-1.0", "-v" if verbose else "-q"] + shlex.split(description)
    return subprocess.Popen(command, start_new_session=True, **popen)


def _text(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", "replace")


# ------------------------------------------------------------------------------------ sink


class GstSink(Sink):
    """Feeds raw BGR frames to a gst-launch-1.0 encode pipeline's stdin. `close()` ends the input (EOS), waits
    for GStreamer to finish and checks its exit status; a file output is written beside `path` and moved into
    place only then. A failed pipeline raises SinkError with GStreamer's own error line."""

    def __init__(self, name: str, description: str, size: Tuple[int, int], partial: Optional[str] = None,
                 path: Optional[str] = None) -> None:
        self.name, self.description, self.size = name, description, tuple(size)
        self._partial, self.path = partial, path
        self.frames = 0
        self._stderr = tempfile.TemporaryFile()
        self._process: Optional["subprocess.Popen[bytes]"] = _launch(
            description, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr)

    def write(self, frame: np.ndarray) -> None:
        if self._process is None or self._process.stdin is None:
            raise SinkError("{}: the GStreamer output is closed".format(self.name))
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        try:
            self._process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        except OSError:  # the pipeline has ended (BrokenPipeError): say why
            self._finish()
            raise SinkError("{}: GStreamer stopped after {} frames".format(self.name, self.frames))
        self.frames += 1

    def close(self) -> None:
        self._finish()

    def _finish(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()  # end of stream: the muxer finishes the file
            code = process.wait(timeout=CLOSE_TIMEOUT_S)
        except OSError:
            code = process.wait(timeout=CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        error = _text(self._stderr)
        self._stderr.close()
        if code != 0:
            if self._partial is not None:
                os.remove(self._partial)
            raise SinkError("{}: GStreamer failed ({}); nothing was written there".format(
                self.name, gst_error(error) if error.strip() else "exit code {}".format(code)))
        if self._partial is not None and self.path is not None:
            os.replace(self._partial, self.path)


def open_gst_output(uri: str, fps: float, size: Tuple[int, int], codec: str = "h264",
                    bitrate: Optional[int] = None) -> Sink:
    """A GstSink to rtp://host:port or a video file; ConfigError for an RTSP server (rtsp://@:8554/name) or
    without GStreamer."""
    if uri.lower().startswith("rtsp://"):
        raise ConfigError("{}: serving RTSP needs gst-rtsp-server through Python GObject bindings, which edgeseg "
                          "does not use; send rtp://HOST:PORT instead, or publish to an RTSP server (mediamtx, "
                          "DeepStream)".format(redact(uri)))
    if not gstreamer_available():
        raise ConfigError("{}: needs GStreamer (gst-launch-1.0 not found); on Debian/Ubuntu run "
                          "scripts/setup_gstreamer.sh".format(uri))
    description = encode_pipeline(uri, fps, size, codec, bitrate)  # a bad codec or path fails here
    if uri.lower().startswith("rtp://"):
        return GstSink(uri, description, size)
    remove_partials(uri)  # what a killed run to this path left
    try:
        partial = partial_path(uri)
    except OSError as exc:
        raise ConfigError("{}: cannot write here ({}); choose another --output".format(uri, exc.strerror))
    return GstSink(uri, encode_pipeline(partial, fps, size, codec, bitrate), size, partial, uri)


# ------------------------------------------------------------------------------------ source


class GstSource(FrameSource):
    """Raw BGR frames from a gst-launch-1.0 decode pipeline, read from a pipe: `describe(fd)` gives the
    pipeline writing to file descriptor fd. The frame size and rate come from the caps gst-launch-1.0 -v
    reports; a size change mid-stream is not followed. A source ends when no frame arrives for `timeout_s`
    (a live one's first frame: `first_wait_s`); a file with loop=True restarts at its end."""

    def __init__(self, name: str, describe: Callable[[int], str], live: bool, loop: bool = False,
                 timeout_s: float = TIMEOUT_S, first_wait_s: float = FIRST_WAIT_S) -> None:
        self.name, self.live, self.loop, self.loops = name, live, loop, 0
        self._describe, self._timeout_s = describe, timeout_s
        self._first_wait_s = first_wait_s if live else timeout_s
        self._process: Optional["subprocess.Popen[bytes]"] = None
        self._start()
        self._pending = self._next_frame()
        if self._pending is None:
            self.close()
            raise SourceError("{}: GStreamer delivered no frame ({}); check the URI, that --input-codec "
                              "is the stream's codec, and the network".format(name, self.ended_early))

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        self.description = self._describe(write_fd)
        self._stdout, self._stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        try:
            self._process = _launch(self.description, verbose=True, stdin=subprocess.DEVNULL, stdout=self._stdout,
                                    stderr=self._stderr, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        self._pipe = read_fd
        self._shape: Optional[Tuple[int, int, int]] = None

    def _caps(self) -> bool:
        """Find the fdsink's caps in gst-launch -v's output (waiting up to timeout_s); False when none came."""
        deadline = time.monotonic() + self._wait_s()
        while True:
            match = _CAPS_RE.search(_text(self._stdout))
            if match:
                self._shape = (int(match.group(2)), int(match.group(1)), 3)
                if match.group(3) and int(match.group(3)) > 0 and int(match.group(4)) > 0:
                    self.fps = int(match.group(3)) / int(match.group(4))
                return True
            if self._process is None or self._process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                self.ended_early = "no frame for {:g} s".format(self._wait_s())
                return False
            time.sleep(0.02)

    def _wait_s(self) -> float:
        return self._timeout_s if self.delivered else self._first_wait_s

    def _read(self, count: int) -> Optional[bytes]:
        """`count` bytes from the pipe, or None at its end or after timeout_s without data."""
        chunks: List[bytes] = []
        while count:
            ready, _, _ = select.select([self._pipe], [], [], self._wait_s())
            if not ready:
                self.ended_early = "no frame for {:g} s".format(self._wait_s())
                return None
            chunk = os.read(self._pipe, min(count, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def _next_frame(self) -> Optional[np.ndarray]:
        if self._process is None:
            return None
        data = self._read(int(np.prod(self._shape))) if self._shape or self._caps() else None
        if data is not None and self._shape is not None:
            return np.frombuffer(data, np.uint8).reshape(self._shape)
        self._stop_process()
        if self.ended_early is None and self.live:
            self.ended_early = "the stream ended"
        if self.ended_early is None and self.loop and self.delivered:
            self.loops += 1
            self._start()
            return self._next_frame()
        return None

    def _stop_process(self) -> None:
        """End the pipeline (if it still runs) and free its pipe and files; a failed one sets ended_early to
        GStreamer's error line."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        elif process.returncode != 0 and self.ended_early is None:
            self.ended_early = gst_error(_text(self._stderr))
        process.wait()
        os.close(self._pipe)
        self._stdout.close()
        self._stderr.close()

    def _free(self) -> None:
        self._stop_process()


def open_gst_input(uri: str, codec: Optional[str] = None, width: Optional[int] = None,
                   height: Optional[int] = None, rate: Optional[float] = None, latency: Optional[int] = None,
                   loop: bool = False, timeout_s: float = TIMEOUT_S) -> FrameSource:
    """A GstSource for rtp://@:port (any address), rtp://host:port, rtsp://... or a video file, decoded as
    `codec` (required, as segnet's --input-codec)."""
    name = redact(uri)
    if codec is None:
        raise SourceError("{}: needs --input-codec ({}) to decode with GStreamer".format(
            name, ", ".join(INPUT_CODECS)))
    if not gstreamer_available():
        raise SourceError("{}: needs GStreamer (gst-launch-1.0 not found); on Debian/Ubuntu run "
                          "scripts/setup_gstreamer.sh".format(name))
    if "://" not in uri and not os.path.isfile(uri):
        raise SourceError("{}: no such video file; check the path".format(uri))
    latency = DEFAULT_RTSP_LATENCY if latency is None else latency
    decode_pipeline(uri, codec, width, height, rate, latency)  # a bad codec or URI fails here, before launching
    source = GstSource(name, lambda fd: decode_pipeline(uri, codec, width, height, rate, latency, fd=fd),
                       live="://" in uri, loop=loop, timeout_s=timeout_s)
    if rate:
        source.fps = float(rate)
    return source


# ------------------------------------------------------------------------------------ open_source / open_sinks


def gst_input(spec: str, options: Optional[StreamOptions], loop: bool = False) -> Optional[FrameSource]:
    """open_source's hook: a GstSource for rtp://, and for rtsp:// or a video file when --input-codec is given;
    None for everything else."""
    options = options or StreamOptions()
    lowered = spec.strip().lower()
    if lowered.startswith("rtp://") or (options.input_codec and (lowered.startswith("rtsp://")
                                                                 or os.path.isfile(spec))):
        return open_gst_input(spec.strip(), options.input_codec, latency=options.rtsp_latency, loop=loop)
    return None


def gst_output(output: str, fps: float, size: Tuple[int, int], options: Optional[StreamOptions]) -> Optional[Sink]:
    """open_sinks' hook: a GstSink for rtp:// (rtsp://: ConfigError), and for any output when --output-codec is
    given; None for everything else."""
    options = options or StreamOptions()
    if output.lower().startswith(("rtp://", "rtsp://")) or options.output_codec:
        return open_gst_output(output, fps, size, options.output_codec or "h264", options.bitrate)
    return None
