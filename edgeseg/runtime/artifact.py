"""Open any artifact (ONNX model, ORT artifact, TensorRT engine) as a ready-to-use segmenter."""
import os
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..artifacts import read_sidecar, require_file
from ..errors import ArtifactError, ConfigError, EdgesegError
from ..palettes import Palette, palette_for
from ..preprocess import FrameResizer, Preprocessor, PreprocessSpec
from ..sidecar import describe_bare_model
from .base import IN_FLIGHT, Backend
from .onnxruntime import OnnxRuntimeBackend
from .tensorrt import TensorRTBackend, tensorrt_available

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
OUTPUT_KINDS = ("logits", "probs", "classmap")


class PreprocessOverrides:
    """Preprocessing given on the command line, for bare ONNX files that have no sidecar."""

    def __init__(
        self,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        bgr: bool = False,
        size: Optional[Sequence[int]] = None,
        num_classes: Optional[int] = None,
        classes: Optional[str] = None,
    ) -> None:
        self.mean, self.std, self.bgr, self.size = mean, std, bgr, size
        self.num_classes, self.classes = num_classes, classes

    def given(self) -> bool:
        return any(v is not None for v in (self.mean, self.std, self.size)) or self.bgr


def is_engine(path: str) -> bool:
    return path.lower().endswith(ENGINE_SUFFIXES)


def open_backend(path: str, sidecar: Optional[Dict[str, Any]] = None, threads: int = 0,
                 spinning: bool = True) -> Backend:
    """The best runtime present for `path`: TensorRT for engines, ONNX Runtime for ONNX files."""
    if is_engine(path):
        if not tensorrt_available():
            parent = (sidecar or {}).get("parent", {}).get("file", "the ONNX model it was built from")
            raise ArtifactError(
                "{}: a TensorRT engine needs TensorRT and pycuda, which are not installed here; "
                "run {} instead, or install JetPack's TensorRT and `pip install edgeseg[trt]`".format(path, parent))
        return TensorRTBackend(path, sidecar=sidecar).open()
    return OnnxRuntimeBackend(path, threads=threads, spinning=spinning).open()


class ArgMax:
    """The class axis's argmax of C x H x W scores as uint8, twice as fast as numpy's strided `argmax(axis=0)`
    (17 against 36 ms at 19 x 512 x 1024 on the 2-core x86, benchmarks/host_budget.py): one pass per class
    over contiguous planes, into buffers reused call after call. Ties go to the lower class, as numpy's."""

    def __init__(self) -> None:
        self._buffers: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None  # best, index, greater

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        plane = scores.shape[1:]
        if self._buffers is None or self._buffers[1].shape != plane:
            self._buffers = (np.empty(plane, np.float32), np.empty(plane, np.uint8), np.empty(plane, bool))
        best, index, greater = self._buffers
        np.copyto(best, scores[0], casting="same_kind")
        index.fill(0)
        for c in range(1, scores.shape[0]):
            np.greater(scores[c], best, out=greater)
            np.maximum(best, scores[c], out=best)
            np.putmask(index, greater, c)
        return index


class Segmenter:
    """An opened artifact: frame → class map, with the preprocessing and palette it was made with.

    An artifact built with its preprocessing in the graph takes the frame resized, uint8 NHWC BGR: the host
    resizes into reused buffers (page-locked for TensorRT). One that outputs a class map needs no host
    argmax; one that outputs scores gets `ArgMax`."""

    def __init__(self, path: str, backend: Backend, sidecar: Optional[Dict[str, Any]],
                 spec: PreprocessSpec, output_kind: str, palette: Palette) -> None:
        self.path = path
        self.backend = backend
        self.sidecar = sidecar
        self.spec = spec
        self.output_kind = output_kind
        self.palette = palette
        self.frame_input = bool(((sidecar or {}).get("pixel_graph") or {}).get("input"))
        self.preprocess: Any  # a FrameResizer or a Preprocessor; None once closed
        if self.frame_input:
            width, height = spec.size
            self.preprocess = FrameResizer(spec.size, [backend.input_buffer((1, height, width, 3))
                                                       for _ in range(IN_FLIGHT)])
        else:
            self.preprocess = Preprocessor(spec, backend.input_spec.dtype)
        self._argmax = ArgMax()

    @property
    def num_classes(self) -> int:
        return len(self.palette.names)

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        """Model output (scores NxCxHxW, or a class map NxHxW) → HxW uint8 class map at model resolution.
        It may be a reused buffer, valid until the next call; `predict` returns one of its own."""
        if self.output_kind != "classmap":
            return self._argmax(output[0])
        return output[0] if output.dtype == np.uint8 else output[0].astype(np.uint8)

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The frame's HxW uint8 class map at model resolution (an array of its own)."""
        return np.array(self.postprocess(self.backend.infer(self.preprocess(frame_bgr))))

    def describe(self) -> str:
        return self.backend.describe()

    def close(self) -> None:
        self.preprocess = None  # its buffers may be the runtime's (page-locked): release them first
        self.backend.close()

    def __enter__(self) -> "Segmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _from_sidecar(path: str, sidecar: Dict[str, Any], backend: Backend) -> Tuple[PreprocessSpec, str, Palette]:
    """Preprocessing, output kind and classes from the sidecar, checked against each other and the model."""
    try:
        names, colors = [str(n) for n in sidecar["classes"]], sidecar["palette"]
        palette = Palette(names, [(int(c[0]), int(c[1]), int(c[2])) for c in colors])
        spec, output_kind = PreprocessSpec.from_dict(sidecar["preprocess"]), str(sidecar["output_kind"])
        if not names or len(names) != len(colors) or output_kind not in OUTPUT_KINDS or \
                sidecar.get("num_classes", len(names)) != len(names):
            raise ValueError("classes, palette, num_classes and output_kind disagree")
    except (KeyError, TypeError, ValueError, IndexError, EdgesegError) as exc:
        raise ArtifactError("{}: sidecar {}.json is incomplete or inconsistent ({}); re-export the model".format(
            path, os.path.basename(path), str(exc).splitlines()[0][:120]))
    channels = backend.output_spec.shape[1] if output_kind != "classmap" else -1
    if channels > 0 and channels != len(names):
        raise ArtifactError("{}: the model outputs {} classes but its sidecar names {}; re-export the model".format(
            path, channels, len(names)))
    return spec, output_kind, palette


def _from_model(path: str, backend: Backend, overrides: PreprocessOverrides) -> Tuple[PreprocessSpec, str, Palette]:
    """Preprocessing, output kind and classes of a bare model: its shapes, then flags, then defaults."""
    shape = backend.input_spec.shape
    size: Tuple[int, int]
    if overrides.size:
        size = (int(overrides.size[0]), int(overrides.size[1]))
    elif len(shape) == 4 and shape[2] > 0 and shape[3] > 0:
        size = (shape[3], shape[2])
    else:
        raise ConfigError("{}: input size is dynamic {} and there is no sidecar; pass --input-size WxH".format(
            path, list(shape)))
    defaults = PreprocessSpec(size)
    spec = PreprocessSpec(size, overrides.mean or defaults.mean, overrides.std or defaults.std,
                          "bgr" if overrides.bgr else "rgb")
    out = backend.output_spec
    record = describe_bare_model(path, backend.input_spec.name, shape, out.name, out.shape,
                                 bool(np.issubdtype(out.dtype, np.integer)), spec, overrides.num_classes,
                                 overrides.classes)
    if "num_classes" not in record:
        raise ConfigError("{}: cannot tell the class count from a class-map output; pass --num-classes N".format(path))
    return spec, record["output_kind"], palette_for(record["num_classes"], overrides.classes)


def check_interface(path: str, backend: Backend, frame_input: bool) -> None:
    """Refuse, in one line naming the reason, a model the device side cannot run: edgeseg feeds one image and
    reads one class map or one set of per-class scores."""
    if backend.input_count != 1:
        raise ArtifactError("{}: the model has {} inputs; edgeseg runs models with one image input".format(
            path, backend.input_count))
    spec, out = backend.input_spec, backend.output_spec
    if frame_input:
        if len(spec.shape) != 4 or spec.shape[3] != 3 or spec.dtype != np.uint8:
            raise ArtifactError("{}: its sidecar says it takes the uint8 frame, but its input is {} {}; rebuild it "
                                "with `edgeseg build`".format(path, spec.dtype.name, list(spec.shape)))
    elif len(spec.shape) != 4:
        raise ArtifactError("{}: input {} has {} dimensions {}; edgeseg feeds N x 3 x H x W images".format(
            path, spec.name, len(spec.shape), list(spec.shape)))
    elif spec.shape[1] not in (3, -1):
        raise ArtifactError("{}: input {} has {} channels; edgeseg feeds 3-channel (colour) images".format(
            path, spec.name, spec.shape[1]))
    elif spec.dtype.kind != "f":
        raise ArtifactError("{}: input {} is {}; edgeseg feeds float images (or the uint8 frame to a model `edgeseg "
                            "build` made)".format(path, spec.name, spec.dtype.name))
    if len(out.shape) not in (3, 4):
        raise ArtifactError("{}: output {} has {} dimensions {}; edgeseg reads N x C x H x W scores or an N x H x W "
                            "class map".format(path, out.name, len(out.shape), list(out.shape)))
    if len(out.shape) == 3 and out.dtype.kind not in "iu":
        raise ArtifactError("{}: output {} is N x H x W {}, neither scores nor an integer class map".format(
            path, out.name, out.dtype.name))


def open_artifact(path: str, overrides: Optional[PreprocessOverrides] = None, threads: int = 0,
                  spinning: bool = True) -> Segmenter:
    """Open an artifact with the best runtime present; its sidecar (if any) gives preprocessing and classes."""
    overrides = overrides or PreprocessOverrides()
    require_file(path, "model", "check the path, or export one with `edgeseg export`")
    sidecar = read_sidecar(path)
    described = sidecar is not None and "preprocess" in sidecar
    if described and overrides.given():
        raise ConfigError("{}: its sidecar fixes the preprocessing; drop --mean/--std/--bgr/--input-size".format(path))
    backend = open_backend(path, sidecar, threads=threads, spinning=spinning)
    try:
        check_interface(path, backend, bool(((sidecar or {}).get("pixel_graph") or {}).get("input")))
        spec, output_kind, palette = _from_sidecar(path, sidecar, backend) if sidecar is not None and described \
            else _from_model(path, backend, overrides)
    except Exception:
        backend.close()
        raise
    return Segmenter(path, backend, sidecar, spec, output_kind, palette)
