"""What a deployment config needs to know of an artifact: interface, precision, preprocessing, classes."""
import os
from typing import Any, Dict, List, NamedTuple, Optional

from ..artifacts import read_sidecar, require_file
from ..errors import ArtifactError, ConfigError
from ..preprocess import PreprocessSpec
from ..runtime.artifact import is_engine
from ..runtime.base import TensorSpec


class ArtifactFacts(NamedTuple):
    path: str
    engine: bool  # a serialized TensorRT engine (else an ONNX file)
    runtime: Optional[str]  # what the sidecar says it was made for: tensorrt, onnxruntime, or None (any)
    precision: str  # fp32, fp16 or int8
    int8_mode: Optional[str]  # engines: explicit-qdq or implicit-cache
    dla_core: Optional[int]
    inputs: List[TensorSpec]
    outputs: List[TensorSpec]
    spec: PreprocessSpec
    output_kind: str  # logits, probs or classmap
    classes: List[str]
    sidecar: Dict[str, Any]

    @property
    def ort_optimized(self) -> bool:
        """An `edgeseg build` artifact of ONNX Runtime: graph-optimised for the onnxruntime that wrote it."""
        return not self.engine and "graph_optimization" in self.sidecar

    def labels_file(self) -> bytes:
        """The class names, one per line: the labels file DeepStream and Triton read."""
        return ("\n".join(self.classes) + "\n").encode("utf-8")

    def sibling(self, name: Optional[str]) -> Optional[str]:
        """A file recorded in the sidecar (a parent, a cache) when it sits beside the artifact."""
        if not name:
            return None
        path = os.path.join(os.path.dirname(os.path.abspath(self.path)), os.path.basename(name))
        return path if os.path.isfile(path) else None


def _specs(records: List[Dict[str, Any]]) -> List[TensorSpec]:
    return [TensorSpec(r["name"], r["shape"], r["dtype"]) for r in records]


def _read_io(path: str, engine: bool, sidecar: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """The artifact's inputs and outputs: from the sidecar (engines built by edgeseg), else read from it."""
    if sidecar.get("io"):
        return sidecar["io"]
    if not engine:
        from ..runtime.onnxruntime import describe_io

        return describe_io(path)
    from ..runtime.tensorrt import TensorRTBackend, tensorrt_available

    if not tensorrt_available():
        raise ArtifactError("{}: its sidecar does not record the engine's inputs and outputs and TensorRT is not "
                            "here to read them; run this on the device, or rebuild the engine with `edgeseg "
                            "build`".format(path))
    with TensorRTBackend(path, sidecar=sidecar) as backend:
        return {"inputs": [backend.input_spec.to_dict()], "outputs": [backend.output_spec.to_dict()]}


def describe(path: str) -> ArtifactFacts:
    """Facts about `path` from its sidecar (required: it holds the preprocessing and classes)."""
    require_file(path, "model", "pass an engine or ONNX file that edgeseg exported, calibrated or built")
    sidecar = read_sidecar(path)
    if not sidecar or "preprocess" not in sidecar or "classes" not in sidecar:
        raise ConfigError("{}: no sidecar ({}.json) with its preprocessing and classes; deployment configs are "
                          "written from it: use a model that `edgeseg export`, `calibrate` or `build` "
                          "wrote".format(path, os.path.basename(path)))
    engine = is_engine(path)
    io = _read_io(path, engine, sidecar)
    inputs, outputs = _specs(io["inputs"]), _specs(io["outputs"])
    if len(inputs) != 1 or not outputs:
        raise ArtifactError("{}: {} inputs and {} outputs; edgeseg deploys one-input models".format(
            path, len(inputs), len(outputs)))
    output_kind = sidecar.get("output_kind", "logits")
    first = outputs[0]
    if output_kind != "classmap" and len(first.shape) == 4 and first.shape[1] < 0:  # shape inference lost it
        outputs[0] = TensorSpec(first.name, (first.shape[0], len(sidecar["classes"])) + first.shape[2:], first.dtype)
    return ArtifactFacts(
        path=path,
        engine=engine,
        runtime="tensorrt" if engine else sidecar.get("runtime"),
        precision=sidecar.get("precision", "fp32"),
        int8_mode=sidecar.get("int8_mode"),
        dla_core=sidecar.get("dla_core"),
        inputs=inputs,
        outputs=outputs,
        spec=PreprocessSpec.from_dict(sidecar["preprocess"]),
        output_kind=output_kind,
        classes=list(sidecar["classes"]),
        sidecar=sidecar,
    )
