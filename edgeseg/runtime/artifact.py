"""Open any artifact (ONNX model, ORT artifact, TensorRT engine) as a ready-to-use segmenter."""
import os
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..artifacts import read_sidecar, require_file
from ..errors import ArtifactError, ConfigError
from ..palettes import Palette, palette_for
from ..preprocess import PreprocessSpec, Preprocessor
from .base import Backend
from .onnxruntime import OnnxRuntimeBackend
from .tensorrt import TensorRTBackend, tensorrt_available

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


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


class Segmenter:
    """An opened artifact: frame → class map, with the preprocessing and palette it was made with."""

    def __init__(self, path: str, backend: Backend, sidecar: Optional[Dict[str, Any]],
                 spec: PreprocessSpec, output_kind: str, palette: Palette) -> None:
        self.path = path
        self.backend = backend
        self.sidecar = sidecar
        self.spec = spec
        self.output_kind = output_kind
        self.palette = palette
        self.preprocess = Preprocessor(spec, backend.input_spec.dtype)

    @property
    def num_classes(self) -> int:
        return len(self.palette.names)

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        """Model output (logits or probabilities NxCxHxW, or a class map NxHxW) → HxW uint8 class map at
        model resolution."""
        class_map = output[0] if self.output_kind == "classmap" else output[0].argmax(axis=0)
        return class_map.astype(np.uint8, copy=False)

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        return self.postprocess(self.backend.infer(self.preprocess(frame_bgr)))

    def describe(self) -> str:
        return self.backend.describe()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Segmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _from_sidecar(path: str, sidecar: Dict[str, Any]) -> Tuple[PreprocessSpec, str, Palette]:
    try:
        palette = Palette(sidecar["classes"], [tuple(c) for c in sidecar["palette"]])
        return PreprocessSpec.from_dict(sidecar["preprocess"]), sidecar["output_kind"], palette
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError("{}: sidecar {}.json is incomplete ({}); re-export the model".format(
            path, os.path.basename(path), exc))


def _from_model(path: str, backend: Backend, overrides: PreprocessOverrides) -> Tuple[PreprocessSpec, str, Palette]:
    """Preprocessing, output kind and classes of a bare model: its shapes, then flags, then defaults."""
    shape = backend.input_spec.shape
    if overrides.size:
        size = tuple(overrides.size)
    elif len(shape) == 4 and shape[2] > 0 and shape[3] > 0:
        size = (shape[3], shape[2])
    else:
        raise ConfigError("{}: input size is dynamic {} and there is no sidecar; pass --input-size WxH".format(
            path, list(shape)))
    defaults = PreprocessSpec(size)
    spec = PreprocessSpec(size, overrides.mean or defaults.mean, overrides.std or defaults.std,
                          "bgr" if overrides.bgr else "rgb")
    output_kind = "classmap" if np.issubdtype(backend.output_spec.dtype, np.integer) else "logits"
    channels = backend.output_spec.shape[1] if output_kind == "logits" else -1
    num_classes = overrides.num_classes
    if num_classes is not None and channels > 0 and num_classes != channels:
        raise ConfigError("{}: --num-classes {} but the model outputs {} classes".format(path, num_classes, channels))
    num_classes = channels if channels > 0 else num_classes
    if num_classes is None:
        raise ConfigError("{}: cannot tell the class count from a class-map output; pass --num-classes N".format(path))
    return spec, output_kind, palette_for(num_classes, overrides.classes)


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
        spec, output_kind, palette = _from_sidecar(path, sidecar) if described else _from_model(
            path, backend, overrides)
    except Exception:
        backend.close()
        raise
    return Segmenter(path, backend, sidecar, spec, output_kind, palette)
