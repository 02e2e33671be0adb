"""Device-side runtimes behind one interface; `open_artifact` picks the best one present."""
from .artifact import PreprocessOverrides, Segmenter, open_artifact, open_backend
from .base import Backend, TensorSpec

__all__ = ["Backend", "TensorSpec", "PreprocessOverrides", "Segmenter", "open_artifact", "open_backend"]
