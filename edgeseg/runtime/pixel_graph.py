"""The host's pixel work moved into the artifact: two ONNX graph edits `edgeseg build` makes.

- In front (`fold_preprocessing`): the artifact takes the frame already resized to its input size, as
  uint8 NHWC in OpenCV's BGR order; Cast → Transpose → a 1x1 Conv (channel order, scale, mean/std in one
  op) feed the model's own input. The host then does one `cv2.resize` and copies 1.5 MB instead of 6 MB
  (1024x512).
- Behind (`append_argmax`): the artifact returns a class map, not scores: ArgMax over the class axis at
  the model's output resolution (so predictions equal the host's argmax of the scores, and the host
  resizes the small class map with nearest neighbour, as before), then the narrowest integer type the
  runtime accepts: uint8. ONNX Runtime casts ArgMax's int64 straight to uint8. TensorRT's ONNX parser
  turns Cast into an IIdentityLayer, which converts to uint8 only from float32/float16 (TensorRT's
  DataType.UINT8 documentation; onnx-tensorrt's Cast importer in 8.5 and later asserts exactly that), so
  there the chain is ArgMax (int32 in TensorRT) → Cast float32 → Cast uint8: values below 256 are exact.

uint8 network inputs: TensorRT's parser maps an ONNX uint8 input to DataType.UINT8 and its Cast importer
converts uint8 to float32/float16 (onnx-tensorrt 8.5-GA `Cast`; "UINT8 is only supported as network input
or output tensor types" in 9.2 to 10.x), so TensorRT 8.5 (JetPack 5) and 10.x (JetPack 6) both take it.

Device side: needs the `onnx` package (imported when an edit is made). Python 3.8.
"""
from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import ArtifactError, ConfigError
from ..preprocess import PreprocessSpec

FRAME_INPUT = "frame"
CLASSMAP_OUTPUT = "classmap"
RUNTIMES = ("onnxruntime", "tensorrt")


def import_onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError("moving pre/post-processing into the artifact needs the onnx package: `pip install onnx`, "
                          "or build with --keep-scores --preprocess host")
    return onnx


def _only(values: List[Any], what: str, path: str) -> Any:
    if len(values) != 1:
        raise ArtifactError("{}: the model has {} {}s; edgeseg builds one-input, one-output models (build it "
                            "with --keep-scores --preprocess host to run it as it is)".format(path, len(values), what))
    return values[0]


def _dims(value: Any) -> List[Any]:
    """A graph input's or output's dimensions: ints, or names (str) where dynamic."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in value.type.tensor_type.shape.dim]


def fold_preprocessing(model: Any, spec: PreprocessSpec, path: str = "model") -> Dict[str, Any]:
    """Replace the model's NCHW float input by a uint8 NHWC BGR frame input (`FRAME_INPUT`), normalised
    inside the graph exactly as `PreprocessSpec` says. Edits `model` in place; returns what it did."""
    onnx = import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    weights = {w.name for w in graph.initializer}
    original = _only([i for i in graph.input if i.name not in weights], "input", path)
    dims = _dims(original)
    if len(dims) != 4 or dims[1] != 3 or original.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ArtifactError("{}: input {} is {} {}; folding the preprocessing needs an N x 3 x H x W float input "
                            "(build with --preprocess host)".format(path, original.name, dims,
                                                                   TensorProto.DataType.Name(
                                                                       original.type.tensor_type.elem_type)))
    # model channel c takes frame channel `source[c]` (the frame is BGR) times factor[c], plus offset[c]
    source = [2, 1, 0] if spec.color_order == "rgb" else [0, 1, 2]
    factor = [spec.scale / s for s in spec.std]
    offset = [-m / s for m, s in zip(spec.mean, spec.std)]
    weight = np.zeros((3, 3, 1, 1), np.float32)
    for channel in range(3):
        weight[channel, source[channel], 0, 0] = factor[channel]
    prefix = "edgeseg_preprocess"
    nodes = [
        helper.make_node("Cast", [FRAME_INPUT], [prefix + "_float"], name=prefix + "_cast", to=TensorProto.FLOAT),
        helper.make_node("Transpose", [prefix + "_float"], [prefix + "_nchw"], name=prefix + "_nchw",
                         perm=[0, 3, 1, 2]),
        helper.make_node("Conv", [prefix + "_nchw", prefix + "_weight", prefix + "_bias"], [original.name],
                         name=prefix + "_normalize", kernel_shape=[1, 1]),
    ]
    graph.initializer.extend([numpy_helper.from_array(weight, prefix + "_weight"),
                              numpy_helper.from_array(np.array(offset, np.float32), prefix + "_bias")])
    frame = helper.make_tensor_value_info(FRAME_INPUT, TensorProto.UINT8, [dims[0], dims[2], dims[3], 3])
    position = list(graph.input).index(original)
    graph.input.remove(original)
    graph.input.insert(position, frame)
    for node in reversed(nodes):
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    return {"name": FRAME_INPUT, "layout": "NHWC", "dtype": "uint8", "color_order": "bgr",
            "replaces": original.name, "ops": [n.op_type for n in nodes]}


def append_argmax(model: Any, runtime: str, path: str = "model") -> Dict[str, Any]:
    """Put ArgMax over the class axis behind the model's N x C x H x W scores output, then cast to uint8
    (see the module docstring for the TensorRT route); the new output is `CLASSMAP_OUTPUT`, N x H x W.
    Edits `model` in place; returns what it did."""
    onnx = import_onnx()
    from onnx import TensorProto, helper

    if runtime not in RUNTIMES:
        raise ConfigError("runtime must be one of {}, not {!r}".format(", ".join(RUNTIMES), runtime))
    graph = model.graph
    scores = _only(list(graph.output), "output", path)
    dims = _dims(scores)
    if len(dims) != 4 or scores.type.tensor_type.elem_type not in (TensorProto.FLOAT, TensorProto.FLOAT16):
        raise ArtifactError("{}: output {} is {}, not N x C x H x W scores; build it with --keep-scores".format(
            path, scores.name, dims))
    if isinstance(dims[1], int) and dims[1] > 256:
        raise ArtifactError("{}: {} classes do not fit a uint8 class map; build it with --keep-scores".format(
            path, dims[1]))
    prefix = "edgeseg_argmax"
    nodes = [helper.make_node("ArgMax", [scores.name], [prefix + "_index"], name=prefix, axis=1, keepdims=0)]
    if runtime == "tensorrt":  # TensorRT converts to uint8 from float only
        nodes.append(helper.make_node("Cast", [prefix + "_index"], [prefix + "_float"], name=prefix + "_to_float",
                                      to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Cast", [nodes[-1].output[0]], [CLASSMAP_OUTPUT], name=prefix + "_to_uint8",
                                  to=TensorProto.UINT8))
    graph.node.extend(nodes)
    graph.output.remove(scores)
    graph.output.append(helper.make_tensor_value_info(CLASSMAP_OUTPUT, TensorProto.UINT8,
                                                      [dims[0], dims[2], dims[3]]))
    onnx.checker.check_model(model)
    return {"name": CLASSMAP_OUTPUT, "dtype": "uint8", "replaces": scores.name, "ops": [n.op_type for n in nodes]}


def edit_for_build(onnx_path: str, output: str, spec: Optional[PreprocessSpec], runtime: str, fold: bool,
                   argmax: bool) -> Dict[str, Any]:
    """Write `onnx_path` with the chosen edits to `output`; returns {"input": ..., "output": ...} (None for an
    edit not made)."""
    onnx = import_onnx()
    try:
        model = onnx.load(onnx_path)
    except Exception as exc:
        raise ArtifactError("{}: not a readable ONNX model ({})".format(onnx_path, str(exc).splitlines()[0][:200]))
    record: Dict[str, Any] = {"input": fold_preprocessing(model, spec, onnx_path) if fold and spec else None,
              "output": append_argmax(model, runtime, onnx_path) if argmax else None}
    onnx.save(model, output)
    return record

