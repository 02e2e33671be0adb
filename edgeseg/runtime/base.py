"""The one interface every runtime implements (after Polygraphy's runners)."""
from typing import Dict, Tuple

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")  # what `edgeseg build` makes and a profile may ask for
Shape = Tuple[int, ...]
# One inference's phases, "h2d", "compute" and "d2h", each (start, end) in ms since phase timing began.
PhaseTimes = Dict[str, Tuple[float, float]]

# Buffers per ring where host buffers are reused frame after frame: `edgeseg run` holds at most three
# frames' data of one kind at once (one in a stage, one queued, one in the next stage).
IN_FLIGHT = 4


class TensorSpec:
    """Name, shape and dtype of one model input or output. Unknown dimensions are -1."""

    def __init__(self, name: str, shape: Tuple[int, ...], dtype: np.dtype) -> None:
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)

    @property
    def is_dynamic(self) -> bool:
        return any(d < 0 for d in self.shape)

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.name}

    def __repr__(self) -> str:
        return "TensorSpec({!r}, {}, {})".format(self.name, self.shape, self.dtype.name)


class Backend:
    """A loaded model: `open()`, `input_spec`, `infer(array) -> array`, `close()`.

    Use as a context manager. `infer` takes one preprocessed array (NCHW float, or the NHWC uint8 frame
    of an artifact with its preprocessing in the graph) and returns the first output (scores NxCxHxW or a
    class map NxHxW). The returned array may be one of a ring of IN_FLIGHT reused buffers: it stays valid
    until IN_FLIGHT - 1 more calls; copy it to keep it longer.
    """

    name = "backend"
    input_spec: TensorSpec  # both set by open()
    output_spec: TensorSpec

    def __init__(self, path: str) -> None:
        self.path = path
        self.input_count = 1  # how many inputs the model has (edgeseg runs one-input models)

    def open(self) -> "Backend":
        raise NotImplementedError

    def infer(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def input_buffer(self, shape: Tuple[int, ...]) -> np.ndarray:
        """A new host array of `shape` and the input's dtype for a preprocessor to fill; `infer` takes it
        without copying where the runtime can (TensorRT: page-locked memory)."""
        return np.empty(shape, self.input_spec.dtype)

    def time_phases(self, on: bool = True) -> bool:
        """Turn phase timing on (or off): then each `infer` records when its host-to-device copy, compute and
        device-to-host copy ran, read by `phase_times()`. Off by default, so the frame path pays nothing.
        False when the runtime has no separate copies (ONNX Runtime: one `run` call does it all, and the
        caller times `infer` as compute)."""
        return False

    def phase_times(self) -> PhaseTimes:
        """The last `infer`'s phases, while `time_phases()` is on and returned True."""
        return {}

    def close(self) -> None:
        """Release the runtime's resources; safe to call twice."""

    def describe(self) -> str:
        """One line: runtime, version and device, for reports."""
        return self.name

    def __enter__(self) -> "Backend":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
