"""`edgeseg export-deepstream`: a DeepStream nvinfer config for semantic segmentation, its labels file,
the model files it names, a deepstream-app config for a file, camera or stream source, and seg_probe.py
(edgeseg/deploy/seg_probe.py, its settings filled in), a pyds sample printing each frame's class shares.

nvinfer computes its input as y = net-scale-factor * (x - offsets[c]) with ONE scale for all channels;
edgeseg divides by a per-channel std. The scale written is the usual one (1 / (255 * mean std)), and
the deviation it causes is reported (1.3% for ImageNet's std). nvinfer's segmentation parser labels a
pixel with the class whose score is highest AND above `segmentation-threshold` (>= 0): with a logits
output, pixels whose best logit is <= 0 stay unlabelled, so export `--output-kind probs` for DeepStream.
"""
import os
from typing import Any, Dict, List, Optional, Tuple

from .. import __version__
from ..artifacts import copy_file_atomic, file_sha256, write_bytes_atomic
from ..errors import ConfigError, redact
from ..preprocess import PreprocessSpec
from ..quantize import trt_cache
from .facts import ArtifactFacts, describe

NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}
COLOR_FORMAT = {"rgb": 0, "bgr": 1}
INFER_CONFIG = "config_infer_primary.txt"
APP_CONFIG = "deepstream_app_config.txt"
LABELS = "labels.txt"
PROBE_SAMPLE = "seg_probe.py"
CAMERA_DEFAULT = (1280, 720, 30)
Section = List[Tuple[str, Any]]


def nvinfer_scaling(spec: PreprocessSpec) -> Tuple[float, List[float], float]:
    """(net-scale-factor, offsets, largest relative deviation of that one scale from the per-channel ones)."""
    offsets = [m / spec.scale for m in spec.mean]
    mean_std = sum(spec.std) / len(spec.std)
    factor = spec.scale / mean_std
    deviation = max(abs(s / mean_std - 1.0) for s in spec.std)
    return factor, offsets, deviation


def _render(header: List[str], sections: List[Tuple[str, Section]]) -> bytes:
    """GKeyFile text (what DeepStream parses): '#' comments on their own lines, [group], key=value."""
    lines = ["# " + line for line in header]
    for name, items in sections:
        lines += ["", "[{}]".format(name)]
        lines += ["{}={}".format(key, value) for key, value in items if value is not None]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _number(value: float) -> str:
    return "{:.10g}".format(value)


class _Plan:
    """What goes into the folder: model files (source → name there), precision, DLA core, notes."""

    def __init__(self, precision: str, dla_core: Optional[int]) -> None:
        self.precision, self.dla_core = precision, dla_core
        self.files: Dict[str, str] = {}
        self.written: Dict[str, bytes] = {}  # name -> contents made here
        self.engine: Optional[str] = None
        self.onnx: Optional[str] = None
        self.calibration: Optional[str] = None
        self.notes: List[str] = []

    def add(self, source: str) -> str:
        """Ship `source` in the folder; returns its name there."""
        name = os.path.basename(source)
        self.files[name] = source
        return name

    def add_tagged_cache(self, source: str, trt_version: Optional[str]) -> str:
        """Ship the calibration cache `source` with its header naming `trt_version` (TensorRT skips a cache
        from another version); as written when the version is unknown. Returns its name there."""
        name = os.path.basename(source)
        self.written[name] = trt_cache.tagged_for(trt_cache.read(source), trt_version)
        return name


def _recorded_file(facts: ArtifactFacts, recorded: Optional[str]) -> Optional[str]:
    if recorded and os.path.isfile(recorded):
        return recorded
    return facts.sibling(recorded)


def _plan_engine(facts: ArtifactFacts, precision: Optional[str], dla_core: Optional[int]) -> _Plan:
    if precision not in (None, facts.precision):
        raise ConfigError("{}: the engine was built {}; drop --precision or build a {} engine with `edgeseg "
                          "build`".format(facts.path, facts.precision, precision))
    if dla_core not in (None, facts.dla_core):
        raise ConfigError("{}: the engine was built for {}; drop --dla-core or rebuild it with --dla-core {}".format(
            facts.path, "the GPU" if facts.dla_core is None else "DLA core {}".format(facts.dla_core), dla_core))
    plan = _Plan(facts.precision, facts.dla_core)
    plan.engine = plan.add(facts.path)
    onnx = facts.sibling((facts.sidecar.get("parent") or {}).get("built_from"))
    if onnx:
        plan.onnx = plan.add(onnx)
    else:
        plan.notes.append("the ONNX model the engine was built from is not beside it: DeepStream cannot rebuild "
                          "the engine if this TensorRT or GPU rejects it")
    if facts.int8_mode == "implicit-cache":
        cache = _recorded_file(facts, facts.sidecar.get("calibration_cache"))
        recorded = facts.sidecar.get("calibration_cache_sha256")
        if cache and recorded and file_sha256(cache) != recorded:
            plan.notes.append("calibration cache {} changed since the engine was built: not shipped; DeepStream "
                              "cannot rebuild this INT8 engine".format(cache))
        elif cache:  # nvinfer hands it to the engine's TensorRT when it rebuilds: tagged for that version
            plan.calibration = plan.add_tagged_cache(cache, facts.sidecar.get("tensorrt_version"))
        else:
            plan.notes.append("calibration cache {} not found: DeepStream cannot rebuild this INT8 engine".format(
                facts.sidecar.get("calibration_cache")))
    return plan


def _plan_onnx(facts: ArtifactFacts, precision: Optional[str], calibration: Optional[str],
               dla_core: Optional[int]) -> _Plan:
    qdq = facts.runtime == "tensorrt" and facts.precision == "int8"
    if qdq and (precision not in (None, "int8") or calibration or dla_core is not None):
        raise ConfigError("{}: a Q/DQ (explicit INT8) model runs int8 on the GPU as it is; drop --precision, "
                          "--calibration and --dla-core (DLA takes the FP32 model with --calibration)".format(
                              facts.path))
    precision = "int8" if qdq else (precision or "fp16")
    if precision == "int8" and not qdq and not calibration:
        raise ConfigError("{}: int8 needs a calibration; run `edgeseg calibrate {} --data DIR` and pass "
                          "--calibration MANIFEST".format(facts.path, facts.path))
    if calibration and precision != "int8":
        raise ConfigError("--calibration is for --precision int8, not {}".format(precision))
    if dla_core is not None and precision == "fp32":
        raise ConfigError("DLA runs FP16 or INT8 only; pass --precision fp16 or int8 with --dla-core")
    plan = _Plan(precision, dla_core)
    plan.onnx = plan.add(facts.path)
    if calibration:
        from ..runtime.builder import read_calibration

        cache = read_calibration(calibration, facts.path)["outputs"]["tensorrt_cache"]
        plan.calibration = plan.add(cache)
        plan.notes.append("{} says {}: DeepStream's TensorRT skips a cache from another version; on a device with "
                          "another TensorRT, build the engine there (`edgeseg build --precision int8 --calibration "
                          "MANIFEST --dla-core N` re-tags it) and export that engine".format(
                              plan.calibration, trt_cache.read(cache).header))
    return plan


def _infer_dims(facts: ArtifactFacts) -> Tuple[int, int, int]:
    shape = facts.inputs[0].shape
    width, height = facts.spec.size
    if len(shape) == 4 and shape[2] > 0 and shape[3] > 0:
        height, width = shape[2], shape[3]
    return 3, height, width


def _engine_name(plan: _Plan, batch_size: int) -> str:
    """Where nvinfer saves the engine it builds from onnx-file, so the next start loads it."""
    device = "dla{}".format(plan.dla_core) if plan.dla_core is not None else "gpu0"
    return "{}_b{}_{}_{}.engine".format(plan.onnx, batch_size, device, plan.precision)


def nvinfer_sections(facts: ArtifactFacts, plan: _Plan, batch_size: int = 1) -> List[Tuple[str, Section]]:
    factor, offsets, _ = nvinfer_scaling(facts.spec)
    output = facts.outputs[0]
    return [("property", [
        ("gpu-id", 0),
        ("gie-unique-id", 1),
        ("process-mode", 1),
        ("network-type", 2),
        ("onnx-file", plan.onnx),
        ("model-engine-file", plan.engine or _engine_name(plan, batch_size)),
        ("network-mode", NETWORK_MODE[plan.precision]),
        ("int8-calib-file", plan.calibration),
        ("enable-dla", 1 if plan.dla_core is not None else None),
        ("use-dla-core", plan.dla_core),
        ("workspace-size", facts.sidecar.get("workspace_mb")),
        ("batch-size", batch_size),
        ("infer-dims", ";".join(str(d) for d in _infer_dims(facts))),
        ("network-input-order", 0),
        ("model-color-format", COLOR_FORMAT[facts.spec.color_order]),
        ("net-scale-factor", _number(factor)),
        ("offsets", ";".join(_number(o) for o in offsets)),
        ("maintain-aspect-ratio", 0),
        ("scaling-filter", 1),
        ("output-blob-names", output.name),
        ("segmentation-output-order", 0),
        ("segmentation-threshold", "0.0"),
        ("num-detected-classes", len(facts.classes)),
        ("labelfile-path", LABELS),
    ])]


def _probe_video(path: str) -> Optional[Tuple[int, int]]:
    import cv2

    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            return None
        size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return size if size[0] > 0 and size[1] > 0 else None
    finally:
        capture.release()


def source_section(source: str, notes: List[str]) -> Tuple[Section, Tuple[int, int], bool]:
    """deepstream-app's [source0] for `source`, the frame size for the muxer, and whether it is live."""
    from ..stream.sources import STREAM_SCHEMES, parse_csi

    text = source.strip()
    if text.lower().startswith("csi://"):
        sensor, options = parse_csi(text)
        return ([("enable", 1), ("type", 5), ("camera-csi-sensor-id", sensor), ("camera-width", options["width"]),
                 ("camera-height", options["height"]), ("camera-fps-n", options["fps"]), ("camera-fps-d", 1)],
                (options["width"], options["height"]), True)
    device = text[len("/dev/video"):] if text.startswith("/dev/video") else text
    if device.isdigit():
        width, height, fps = CAMERA_DEFAULT
        return ([("enable", 1), ("type", 1), ("camera-v4l2-dev-node", int(device)), ("camera-width", width),
                 ("camera-height", height), ("camera-fps-n", fps), ("camera-fps-d", 1)], (width, height), True)
    if text.lower().startswith(STREAM_SCHEMES):
        kind = 4 if text.lower().startswith(("rtsp://", "rtsps://")) else 3
        notes.append("stream source: the muxer assumes 1920x1080; edit [streammux] for other sizes")
        if redact(text) != text:  # edgeseg stores no credentials
            notes.append("the stream's user and password are not written: put them in [source0] uri= on the device")
        return [("enable", 1), ("type", kind), ("uri", redact(text)), ("num-sources", 1)], (1920, 1080), True
    path = os.path.abspath(os.path.expanduser(text))
    size = (1920, 1080)
    if os.path.isfile(path):
        probed = _probe_video(path)
        if probed is None:
            raise ConfigError("{}: not a video OpenCV can read; pass a video file, csi://N, /dev/videoN or an "
                              "rtsp:// URL as --source".format(text))
        size = probed
    else:
        notes.append("{} is not here (a path on the device?): the muxer assumes 1920x1080; edit [streammux] if "
                     "the video differs".format(text))
    return [("enable", 1), ("type", 3), ("uri", "file://" + path), ("num-sources", 1)], size, False


def app_sections(facts: ArtifactFacts, source: str, save_video: Optional[str], notes: List[str]
                 ) -> List[Tuple[str, Section]]:
    """A deepstream-app pipeline: source → muxer → nvinfer (segmentation) → nvsegvisual → display or file."""
    source_items, (width, height), live = source_section(source, notes)
    model_width, model_height = facts.spec.size
    if save_video:
        sink = [("enable", 1), ("type", 3), ("container", 1), ("codec", 1), ("enc-type", 0),
                ("bitrate", 4000000), ("output-file", save_video), ("sync", 0)]
    else:
        sink = [("enable", 1), ("type", 2), ("sync", 0)]
    return [
        ("application", [("enable-perf-measurement", 1), ("perf-measurement-interval-sec", 5)]),
        ("tiled-display", [("enable", 0)]),
        ("source0", source_items + [("gpu-id", 0)]),
        ("streammux", [("gpu-id", 0), ("live-source", 1 if live else 0), ("batch-size", 1),
                       ("batched-push-timeout", 40000), ("width", width), ("height", height),
                       ("enable-padding", 0)]),
        ("primary-gie", [("enable", 1), ("gpu-id", 0), ("gie-unique-id", 1), ("batch-size", 1),
                         ("config-file", INFER_CONFIG)]),
        ("segvisual", [("enable", 1), ("gpu-id", 0), ("batch-size", 1), ("width", model_width),
                       ("height", model_height)]),
        ("osd", [("enable", 0)]),
        ("sink0", sink),
        ("tests", [("file-loop", 0)]),
    ]


def probe_sample(num_classes: int, muxer_size: Tuple[int, int], source: str) -> bytes:
    """seg_probe.py's source with its settings block written for this export."""
    from . import seg_probe

    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "seg_probe.py")) as f:
        head, rest = f.read().split(seg_probe.SETTINGS_BEGIN)
    tail = rest.split(seg_probe.SETTINGS_END)[1]
    settings = [("INFER_CONFIG", INFER_CONFIG), ("LABELS_FILE", LABELS), ("NUM_CLASSES", num_classes),
                ("MUXER_SIZE", tuple(muxer_size)), ("SOURCE", redact(source))]
    block = "".join("{} = {!r}\n".format(name, value) for name, value in settings)
    return (head + seg_probe.SETTINGS_BEGIN + block + seg_probe.SETTINGS_END + tail).encode("utf-8")


def export_deepstream(path: str, out_dir: str, precision: Optional[str] = None, calibration: Optional[str] = None,
                      dla_core: Optional[int] = None, source: str = "csi://0",
                      save_video: Optional[str] = None) -> Dict[str, Any]:
    """Write the nvinfer config, labels, model files and a deepstream-app config for `path` into `out_dir`.

    An engine keeps its own precision and DLA core; an ONNX model is built by nvinfer at `precision`
    (default fp16; int8 from a `calibration` manifest's TensorRT cache, or a Q/DQ model as it is).
    Returns {"folder", "files", "app_config", "infer_config", "probe_sample", "precision", "notes"}.
    """
    facts = describe(path)
    if facts.ort_optimized or facts.runtime == "onnxruntime":
        origin = (facts.sidecar.get("parent") or {}).get("file", "the exported ONNX model")
        raise ConfigError("{}: an ONNX Runtime artifact; DeepStream runs TensorRT: pass an engine, or the ONNX "
                          "model it came from ({})".format(path, origin))
    scores_build = "build the engine with `edgeseg build MODEL.onnx --keep-scores --preprocess host`, or pass " \
                   "the exported ONNX model (`edgeseg export --output-kind probs`)"
    if facts.output_kind == "classmap":
        raise ConfigError("{}: outputs a class map; DeepStream's segmentation parser takes per-class scores: "
                          "{}".format(path, scores_build))
    if (facts.sidecar.get("pixel_graph") or {}).get("input"):
        raise ConfigError("{}: takes the uint8 frame and normalises it in the graph, but nvinfer feeds float "
                          "NCHW and normalises itself: {}".format(path, scores_build))
    channels = facts.outputs[0].shape[1] if len(facts.outputs[0].shape) == 4 else -1
    if channels > 0 and channels != len(facts.classes):
        raise ConfigError("{}: outputs {} channels but its sidecar lists {} classes; re-export it".format(
            path, channels, len(facts.classes)))
    plan = _plan_engine(facts, precision, dla_core) if facts.engine else _plan_onnx(
        facts, precision, calibration, dla_core)
    _, _, deviation = nvinfer_scaling(facts.spec)
    if deviation > 1e-6:
        plan.notes.append("nvinfer takes one scale for all channels: std {} becomes {:.4f} for each, up to {:.1%} "
                          "off per channel".format(list(facts.spec.std), sum(facts.spec.std) / 3, deviation))
    if facts.output_kind == "logits":
        plan.notes.append("logits output: nvinfer leaves pixels whose best logit is <= 0 unlabelled; export "
                          "with `--output-kind probs` for DeepStream")
    app = app_sections(facts, source, save_video, plan.notes)
    origin = "{} (sha256 {})".format(os.path.basename(path), facts.sidecar.get("sha256") or file_sha256(path))
    header = ["written by edgeseg {} from {}".format(__version__, origin)]
    header += ["note: " + note for note in plan.notes]
    app_header = header[:1] + ["run: deepstream-app -c {}".format(APP_CONFIG)]
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, source_path in sorted(plan.files.items()):
        target = os.path.join(out_dir, name)
        if os.path.abspath(target) != os.path.abspath(source_path):
            copy_file_atomic(source_path, target)
        written.append(target)
    muxer, source0 = dict(dict(app)["streammux"]), dict(dict(app)["source0"])
    outputs = sorted(plan.written.items()) + [(LABELS, facts.labels_file()),
               (INFER_CONFIG, _render(header, nvinfer_sections(facts, plan))),
               (APP_CONFIG, _render(app_header, app)),
               (PROBE_SAMPLE, probe_sample(len(facts.classes), (muxer["width"], muxer["height"]),
                                          source0.get("uri") or source.strip()))]
    for name, data in outputs:
        write_bytes_atomic(os.path.join(out_dir, name), data)
        written.append(os.path.join(out_dir, name))
    return {"folder": out_dir, "files": written, "infer_config": os.path.join(out_dir, INFER_CONFIG),
            "app_config": os.path.join(out_dir, APP_CONFIG), "probe_sample": os.path.join(out_dir, PROBE_SAMPLE),
            "precision": plan.precision, "notes": plan.notes}
