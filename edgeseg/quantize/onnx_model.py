"""The model calibration reads: onnx and onnxruntime's quantization tools imported where needed (one clear
line when absent), the model loaded with a one-line error, and its single image input checked."""
from typing import Any, Callable, List, Sequence, Set, Tuple

from ..artifacts import require_file
from ..errors import ArtifactError, ConfigError

Log = Callable[..., None]
OP_TYPES = ("Conv", "Gemm", "MatMul")  # quantized for ONNX Runtime


def import_onnx():
    """The onnx package, or a ConfigError saying what to install."""
    try:
        import onnx
    except ImportError:
        raise ConfigError("calibration needs the onnx package; `pip install onnx`")
    return onnx


def import_quantization():
    """onnxruntime.quantization, or a ConfigError saying what to install."""
    try:
        from onnxruntime import quantization
    except ImportError as exc:
        raise ConfigError("calibration needs onnxruntime with its quantization tools and onnx "
                          "(`pip install onnxruntime onnx`): {}".format(exc))
    return quantization


def load_model(path: str):
    """The ONNX model at `path`; one-line errors for a missing or unreadable file."""
    onnx = import_onnx()
    require_file(path, "model", "check the path, or export one with `edgeseg export`")
    try:
        return onnx.load(path)
    except Exception as exc:  # protobuf raises its own DecodeError
        raise ArtifactError("{}: not a readable ONNX model ({})".format(path, str(exc).splitlines()[0][:200]))


def _graph_inputs(model) -> List[Any]:
    initializers = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in initializers]


def check_model_input(model_or_path: Any, name: str = "") -> Tuple[str, List[int]]:
    """The model's one input (name, shape with -1 for dynamic dims); ConfigError naming the file
    unless it is a 4-D NCHW float32 tensor with 3 channels."""
    onnx = import_onnx()
    model = load_model(model_or_path) if isinstance(model_or_path, str) else model_or_path
    name = name or (model_or_path if isinstance(model_or_path, str) else "model")
    inputs = _graph_inputs(model)
    if len(inputs) != 1:
        raise ConfigError("{}: calibration takes models with one image input; this one has {} ({})".format(
            name, len(inputs), ", ".join(i.name for i in inputs) or "none"))
    value = inputs[0]
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    elem = onnx.TensorProto.DataType.Name(tensor.elem_type) if tensor.elem_type else "unknown"
    if tensor.elem_type != onnx.TensorProto.FLOAT or len(dims) != 4 or dims[1] != 3 or dims[0] not in (1, -1):
        raise ConfigError("{}: input {!r} is {} {}; calibration needs an NCHW float32 image input "
                          "(1 x 3 x H x W, or a dynamic batch)".format(name, value.name, elem.lower(), dims))
    return value.name, dims


def tensor_names(model) -> Set[str]:
    """Every tensor name the graph uses: inputs, outputs and node inputs and outputs."""
    names = set(v.name for v in model.graph.input) | set(v.name for v in model.graph.output)
    for node in model.graph.node:
        names.update(n for n in node.input if n)
        names.update(n for n in node.output if n)
    return names


def quantizable_nodes(onnx_path: str, op_types: Sequence[str] = OP_TYPES) -> List[str]:
    """Names of the nodes the INT8 models quantize (Conv, Gemm, MatMul): candidates for exclusion."""
    model = load_model(onnx_path)
    return [node.name for node in model.graph.node if node.op_type in op_types]


def ort_version() -> str:
    """The installed onnxruntime's version, for records ("absent" without it)."""
    try:
        import onnxruntime
        return onnxruntime.__version__
    except ImportError:  # pragma: no cover
        return "absent"
