"""A TEST DOUBLE of the TensorRT Python API, shaped by the REAL API of each supported version.

It shows the glue runs, not that TensorRT works. Nothing here optimises anything: the "engine" is JSON
(the ONNX model, its I/O, optimization profile, build flags, DLA placement, INT8 scales), and executing
it runs the ONNX model with onnxruntime on the bytes the pycuda double holds at the bound addresses.

EDGESEG_TRT_DOUBLE picks the flavour, one per supported TensorRT (see FLAVOURS): "8.5" (JetPack 5.1;
8.6.1's real surface less what 8.6 added, surfaces/8.5.2.json), "10.3" (JetPack 6, the default),
"10.16" (newest 10.x) and "11" (strongly typed only: no FP16/INT8 builder flags, no calibrators). The
surfaces/<version>.json files are the real bindings' surfaces (scripts/update_trt_surfaces.sh); at import
every class member, enum and enum value this double has is taken from, or cut down to, its flavour's
surface, and tests/test_trt_surface.py checks the rest (signatures, property access, return types).
Like pybind11 objects, instances refuse attributes their class does not have, and a method's result
is checked against its annotated return type at each call.

Behaviour modelled, as TensorRT does it: ONNX parsing needs EXPLICIT_BATCH on 8.x; a dynamic input needs
an optimization profile, and set_input_shape refuses shapes outside it; an implicit-INT8 build SKIPS a
calibration cache whose header names another TensorRT version or calibrator (NVIDIA/TensorRT#1378) and
then fails for want of scales, as the cache calibrator feeds no images; set_tensor_address returns
False for an unknown name; execute_async_v3 enqueues the run on the pycuda double's stream (it runs at
Stream.synchronize). DataType values are the real ones; nptype raises TypeError for BF16/FP8/INT4...
The calls that tell API branches apart are appended to CALLS. EDGESEG_TRT_DOUBLE_DLA_CORES sets the
DLA count (2).

Fault injection (test-only, read at each run): EDGESEG_TRT_DOUBLE_FAULT=ignore-input computes on an
all-zero input instead of the bytes copied to the input buffer (an engine that never sees its input);
=swap-classes exchanges classes 0 and 1 in every output (channels 0 and 1 of a float NxCx... scores
output, ids 0 and 1 of an integer class map). Any other non-empty value is an error. They exist to prove
that checks such as scripts/jetson_selftest.py catch a broken engine.
"""
import base64
import enum
import functools
import inspect
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SURFACES = os.path.join(os.path.dirname(HERE), "surfaces")
# flavour -> (__version__, its real surface, the surface that stands in for it)
FLAVOURS = {"8.5": ("8.5.2.2", "8.5.2", "8.6.1"), "10.3": ("10.3.0", "10.3.0", "10.3.0"),
            "10.16": ("10.16.1.11", "10.16.1.11", "10.16.1.11"), "11": ("11.4.0.106", "11.4.0.106", "11.4.0.106")}
FLAVOUR = os.environ.get("EDGESEG_TRT_DOUBLE", "10.3")
if FLAVOUR not in FLAVOURS:
    raise ImportError("EDGESEG_TRT_DOUBLE={!r}: not one of {} (test double)".format(FLAVOUR, sorted(FLAVOURS)))
__version__, _SURFACE_NAME, _STAND_IN = FLAVOURS[FLAVOUR]
DEVICE = {"8.5": "Xavier (test double)", "10.3": "Orin (test double)", "10.16": "Orin (test double)",
          "11": "Thor (test double)"}[FLAVOUR]
MAGIC = "edgeseg-trt-double"
FAULTS = ("ignore-input", "swap-classes")
CALLS = []
TEST_ONLY = ("HERE", "SURFACES", "FLAVOURS", "FLAVOUR", "DEVICE", "MAGIC", "FAULTS", "CALLS", "SURFACE", "TEST_ONLY")


def _load_surface():
    with open(os.path.join(SURFACES, _STAND_IN + ".json")) as f:
        surface = json.load(f)
    if _SURFACE_NAME != _STAND_IN:  # 8.5.2: 8.6.1 less what 8.6 added
        with open(os.path.join(SURFACES, _SURFACE_NAME + ".json")) as f:
            absent = json.load(f)["absent"]
        for name, members in absent.items():
            table = surface["enums"].get(name) or surface["classes"][name]
            for member in members:
                table.pop(member)
    return surface


SURFACE = _load_surface()


def _enum(name):
    """The real enum `name` of this flavour, members and values as its surface lists them."""
    members = sorted(SURFACE["enums"][name].items(), key=lambda item: item[1])
    return enum.IntEnum(name.split(".")[-1], members)


DataType = _enum("DataType")
BuilderFlag = _enum("BuilderFlag")
DeviceType = _enum("DeviceType")
ProfilingVerbosity = _enum("ProfilingVerbosity")
LayerInformationFormat = _enum("LayerInformationFormat")
LayerType = _enum("LayerType")
NetworkDefinitionCreationFlag = _enum("NetworkDefinitionCreationFlag")
TensorIOMode = _enum("TensorIOMode")
MemoryPoolType = _enum("MemoryPoolType")
if "CalibrationAlgoType" in SURFACE["enums"]:
    CalibrationAlgoType = _enum("CalibrationAlgoType")

# tensorrt.nptype as the real bindings define it (INT64 from 10.0); anything else raises TypeError
_NUMPY = {name: dtype for name, dtype in (("FLOAT", np.float32), ("HALF", np.float16), ("INT8", np.int8),
                                          ("INT32", np.int32), ("INT64", np.int64), ("BOOL", np.bool_),
                                          ("UINT8", np.uint8)) if name in DataType.__members__}
_FROM_ONNX = {1: "FLOAT", 10: "HALF", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8", 16: "BF16",
              17: "FP8"}  # onnx.TensorProto data types
_OPS = {"Conv": "CONVOLUTION", "ConvTranspose": "DECONVOLUTION", "Relu": "ACTIVATION", "MaxPool": "POOLING",
        "Add": "ELEMENTWISE", "BatchNormalization": "SCALE", "Softmax": "SOFTMAX", "Resize": "RESIZE",
        "QuantizeLinear": "QUANTIZE", "DequantizeLinear": "DEQUANTIZE", "Cast": "CAST"}  # any other op: SHUFFLE
_ON_DLA = {"CONVOLUTION", "DECONVOLUTION", "ACTIVATION", "POOLING", "ELEMENTWISE", "SCALE"}  # the double's choice
_FORMATS = {"fp32": "Row major linear FP32", "fp16": "Row major linear FP16 format",
            "int8": "Thirty-two wide channel vectorized row major Int8 format"}


def nptype(trt_type):
    try:
        return _NUMPY[DataType(trt_type).name]
    except KeyError:
        raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")


def init_libnvinfer_plugins(logger: "capsule", namespace: "str") -> "bool":
    return True


class _Pybind:
    """pybind11 objects have no __dict__: setting an attribute the class lacks raises AttributeError.
    Python subclasses (a user's ILogger or calibrator) get a __dict__, as in pybind11."""

    def __setattr__(self, name, value):
        if type(self).__module__ == __name__ and not name.startswith("_"):
            static = inspect.getattr_static(type(self), name, None)
            if not (isinstance(static, property) and static.fset is not None):
                raise AttributeError("'tensorrt.{}' object has no attribute '{}' (or it is read-only)".format(
                    type(self).__name__, name))
        object.__setattr__(self, name, value)


def _field(name, kind, writable=True):
    """A property over self._<name>, annotated `kind` (the real property's type)."""

    def get(self) -> kind:
        return getattr(self, "_" + name)

    def put(self, value) -> None:
        object.__setattr__(self, "_" + name, value)

    get.__annotations__["return"] = kind
    return property(get, put if writable else None)


def _computed(kind, compute):
    """A read-only property computed by `compute(self)`, annotated `kind`."""

    def get(self) -> kind:
        return compute(self)

    get.__annotations__["return"] = kind
    return property(get)


class Dims(tuple):
    MAX_DIMS = 8


class IHostMemory(_Pybind):
    def __init__(self, data):
        self._data = bytes(data)

    nbytes = _computed("int", lambda self: len(self._data))

    def __bytes__(self):
        return self._data


class ILogger(_Pybind):
    Severity = _enum("ILogger.Severity")

    def __init__(self) -> "None":
        pass

    def log(self, severity: "ILogger.Severity", msg: "str") -> "None":
        pass


class IInt8Calibrator(_Pybind):
    def __init__(self) -> "None":
        pass


class IInt8EntropyCalibrator2(IInt8Calibrator):
    def __init__(self) -> "None":
        pass

    def get_algorithm(self) -> "CalibrationAlgoType":
        return CalibrationAlgoType.ENTROPY_CALIBRATION_2


class ITensor(_Pybind):
    name = _field("name", "str")
    shape = _field("shape", "Dims")
    dtype = _field("dtype", "DataType")

    def __init__(self, name, shape, dtype):
        self._name, self._shape, self._dtype = name, Dims(shape), dtype


class ILayer(_Pybind):
    name = _field("name", "str")
    type = _field("type", "LayerType", writable=False)

    def __init__(self, name, kind):
        self._name, self._type = name, kind


class INetworkDefinition(_Pybind):
    def __init__(self, flags):
        self._flags, self._inputs, self._outputs, self._layers, self._model = flags, [], [], [], b""

    num_inputs = _computed("int", lambda self: len(self._inputs))
    num_outputs = _computed("int", lambda self: len(self._outputs))
    num_layers = _computed("int", lambda self: len(self._layers))

    def get_input(self, index: "int") -> "ITensor":
        return self._inputs[index]

    def get_output(self, index: "int") -> "ITensor":
        return self._outputs[index]

    def get_layer(self, index: "int") -> "ILayer":
        return self._layers[index]


class ParserError(_Pybind):
    def __init__(self, text):
        self._text = text

    def node(self) -> "int":
        return -1

    def desc(self) -> "str":
        return self._text


class OnnxParser(_Pybind):
    def __init__(self, network: "INetworkDefinition", logger: "ILogger") -> "None":
        self._network, self._errors = network, []

    num_errors = _computed("int", lambda self: len(self._errors))

    def get_error(self, index: "int") -> "ParserError":
        return self._errors[index]

    def parse_from_file(self, model: "str") -> "bool":
        CALLS.append("OnnxParser.parse_from_file")
        import onnx

        explicit = getattr(NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
        try:
            if FLAVOUR == "8.5" and not self._network._flags & (1 << explicit):
                raise ValueError("the network needs the EXPLICIT_BATCH flag")
            onnx_model = onnx.load(model)
        except Exception as exc:
            self._errors.append(ParserError(str(exc)))
            return False
        net, weights = self._network, {t.name for t in onnx_model.graph.initializer}

        def tensor(value):
            kind = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim)
            return ITensor(value.name, dims, DataType[_FROM_ONNX.get(kind.elem_type, "FLOAT")])

        net._inputs.extend(tensor(v) for v in onnx_model.graph.input if v.name not in weights)
        net._outputs.extend(tensor(v) for v in onnx_model.graph.output)
        net._layers.extend(ILayer(n.name or "{}_{}".format(n.op_type, i), LayerType[_OPS.get(n.op_type, "SHUFFLE")])
                           for i, n in enumerate(onnx_model.graph.node))
        net._model = onnx_model.SerializeToString()
        return True


class ITimingCache(_Pybind):
    def __init__(self, data):
        self._data = data

    def serialize(self) -> "IHostMemory":
        return IHostMemory(json.dumps(self._data).encode())


class IOptimizationProfile(_Pybind):
    def __init__(self):
        self._shapes = {}

    def set_shape(self, input: "str", min: "Dims", opt: "Dims", max: "Dims") -> "None":  # noqa: A002 (real names)
        self._shapes[input] = [list(min), list(opt), list(max)]


class IBuilderConfig(_Pybind):
    def __init__(self):
        self._flags, self._profiles, self._timing, self._calibration_profile = set(), [], None, None
        self._default_device_type, self._DLA_core, self._int8_calibrator = DeviceType.GPU, -1, None
        self._profiling_verbosity = ProfilingVerbosity.LAYER_NAMES_ONLY

    DLA_core = _field("DLA_core", "int")
    default_device_type = _field("default_device_type", "DeviceType")
    profiling_verbosity = _field("profiling_verbosity", "ProfilingVerbosity")
    int8_calibrator = _field("int8_calibrator", "IInt8Calibrator")

    def set_flag(self, flag: "BuilderFlag") -> "None":
        CALLS.append("set_flag({})".format(BuilderFlag(flag).name))
        self._flags.add(BuilderFlag(flag))

    def clear_flag(self, flag: "BuilderFlag") -> "None":
        self._flags.discard(BuilderFlag(flag))

    def set_memory_pool_limit(self, pool: "MemoryPoolType", pool_size: "int") -> "None":
        CALLS.append("set_memory_pool_limit({})".format(MemoryPoolType(pool).name))

    def add_optimization_profile(self, profile: "IOptimizationProfile") -> "int":
        self._profiles.append(profile)
        return len(self._profiles) - 1

    def set_calibration_profile(self, profile: "IOptimizationProfile") -> "bool":
        self._calibration_profile = profile
        return True

    def can_run_on_DLA(self, layer: "ILayer") -> "bool":
        return layer.type.name in _ON_DLA

    def create_timing_cache(self, serialized_timing_cache: "buffer") -> "ITimingCache":
        data = bytes(serialized_timing_cache)
        CALLS.append("create_timing_cache({})".format("bytes" if data else "empty"))
        try:
            return ITimingCache(json.loads(data) if data else {"tensorrt": __version__, "device": DEVICE,
                                                               "entries": []})
        except ValueError:
            return None

    def set_timing_cache(self, cache: "ITimingCache", ignore_mismatch: "bool") -> "bool":
        if not ignore_mismatch and (cache._data.get("tensorrt"), cache._data.get("device")) != (__version__, DEVICE):
            return False
        self._timing = cache
        return True

    def get_timing_cache(self) -> "ITimingCache":
        return self._timing


def _read_cache(calibrator, logger):
    """The scales an implicit-INT8 build takes from `calibrator`'s cache: TensorRT skips a cache whose header
    names another TensorRT version or calibrator, then would calibrate on get_batch's images."""
    cache = bytes(calibrator.read_calibration_cache() or b"")
    CALLS.append("read_calibration_cache")
    lines = cache.decode("utf-8", "replace").splitlines()
    own = "TRT-{}-EntropyCalibration2".format(_version_code(__version__))
    if lines and lines[0] != own:
        logger.log(ILogger.Severity.WARNING, "Calibration cache header {} does not match this TensorRT ({}); "
                   "ignoring the cache (test double)".format(lines[0], own))
        return {}
    return dict(line.split(": ") for line in lines[1:] if line)


def _version_code(version):
    major, minor, patch = (int(p) for p in version.split(".")[:3])
    return major * (10000 if major >= 10 else 1000) + minor * 100 + patch


class Builder(_Pybind):
    def __init__(self, logger: "ILogger") -> "None":
        self._logger = logger
        self._num_DLA_cores = int(os.environ.get("EDGESEG_TRT_DOUBLE_DLA_CORES", "2"))
        self._platform_has_fast_fp16 = self._platform_has_fast_int8 = True

    platform_has_fast_fp16 = _field("platform_has_fast_fp16", "bool", writable=False)
    platform_has_fast_int8 = _field("platform_has_fast_int8", "bool", writable=False)
    num_DLA_cores = _field("num_DLA_cores", "int", writable=False)

    def create_network(self, flags: "int" = 0) -> "INetworkDefinition":
        CALLS.append("Builder.create_network({})".format(flags))
        return INetworkDefinition(flags)

    def create_builder_config(self) -> "IBuilderConfig":
        return IBuilderConfig()

    def create_optimization_profile(self) -> "IOptimizationProfile":
        return IOptimizationProfile()

    def build_serialized_network(self, network: "INetworkDefinition", config: "IBuilderConfig") -> "IHostMemory":
        CALLS.append("Builder.build_serialized_network")
        data = self._build(network, config)
        return None if data is None else IHostMemory(data)

    def _build(self, net, config):
        flags, scales, error = config._flags, {}, None
        qdq = any(layer.type.name in ("QUANTIZE", "DEQUANTIZE") for layer in net._layers)
        dla = config.default_device_type == DeviceType.DLA
        int8 = "INT8" in BuilderFlag.__members__ and BuilderFlag.INT8 in flags
        fp16 = "FP16" in BuilderFlag.__members__ and BuilderFlag.FP16 in flags
        profile = config._profiles[0]._shapes if config._profiles else {}
        dynamic = [t.name for t in net._inputs if any(d < 0 for d in t.shape)]
        if dynamic and any(name not in profile for name in dynamic):
            error = "Network has dynamic or shape inputs, but no optimization profile has been defined."
        elif int8 and config._int8_calibrator is not None and not qdq:
            scales = _read_cache(config._int8_calibrator, self._logger)
            if not scales and config._int8_calibrator.get_batch([t.name for t in net._inputs]) is None:
                error = "Calibration failure occurred with no scaling factors detected."
        if error is None and dla and not (fp16 or int8):
            error = "DLA supports FP16 and INT8 only"
        elif error is None and dla and not 0 <= config.DLA_core < self._num_DLA_cores:
            error = "DLA core {} is out of range".format(config.DLA_core)
        elif error is None and dla and BuilderFlag.GPU_FALLBACK not in flags \
                and not all(map(config.can_run_on_DLA, net._layers)):
            error = "a layer cannot run on DLA and GPU fallback is off"
        if error:
            return self._logger.log(ILogger.Severity.ERROR, error)
        if config._timing is not None:
            entries = config._timing._data["entries"]
            keys = ["{}:{}".format(layer.name, sorted(int(f) for f in flags)) for layer in net._layers]
            CALLS.append("timing_cache_hits={}".format(sum(key in entries for key in keys)))
            entries.extend(key for key in keys if key not in entries)
        io = [{"name": t.name, "shape": list(t.shape), "dtype": int(t.dtype), "input": t in net._inputs,
               "profile": profile.get(t.name)} for t in net._inputs + net._outputs]
        layers = [{"name": x.name, "type": x.type.name,
                   "device": "DLA" if dla and config.can_run_on_DLA(x) else "GPU"} for x in net._layers]
        precision = "int8" if int8 or qdq else "fp16" if fp16 else "fp32"
        return json.dumps({"magic": MAGIC, "tensorrt_version": __version__, "io": io, "precision": precision,
                           "model": base64.b64encode(net._model).decode(), "int8_scales": scales, "layers": layers,
                           "verbosity": config.profiling_verbosity.name, "dla_core": config.DLA_core if dla else None,
                           "flags": sorted(BuilderFlag(f).name for f in flags)}).encode()


class Runtime(_Pybind):
    def __init__(self, logger: "ILogger") -> "None":
        self._logger = logger

    def deserialize_cuda_engine(self, serialized_engine: "buffer") -> "ICudaEngine":
        try:
            plan = json.loads(bytes(serialized_engine).decode())
        except ValueError:
            plan = None
        if not isinstance(plan, dict) or plan.get("magic") != MAGIC:
            self._logger.log(ILogger.Severity.ERROR, "Serialization: magic tag does not match (test double)")
        elif plan["tensorrt_version"] != __version__:
            self._logger.log(ILogger.Severity.ERROR, "The engine plan file is not compatible with this version of "
                             "TensorRT, expecting {} got {} (test double)".format(__version__,
                                                                                  plan["tensorrt_version"]))
        else:
            return ICudaEngine(plan)
        return None


class EngineInspector(_Pybind):
    def __init__(self, engine):
        self._plan = engine._plan

    def get_engine_information(self, format: "LayerInformationFormat") -> "str":  # noqa: A002 (the real name)
        CALLS.append("EngineInspector.get_engine_information({})".format(LayerInformationFormat(format).name))
        layers = []  # consecutive DLA layers become one {ForeignNode[first...last]}
        for layer in self._plan["layers"]:
            fused = layer["device"] == "DLA" and layers and layers[-1]["LayerType"] == "ForeignNode"
            if fused:
                layers[-1]["Name"] = layers[-1]["Name"].split("...")[0] + "..." + layer["name"] + "]}"
            elif layer["device"] == "DLA":
                layers.append({"Name": "{{ForeignNode[{0}...{0}]}}".format(layer["name"]), "LayerType": "ForeignNode"})
            else:
                layers.append({"Name": layer["name"], "LayerType": layer["type"].title()})
            layers[-1]["Outputs"] = [{"Format/Datatype": _FORMATS[self._plan["precision"]]}]
        if self._plan["verbosity"] != "DETAILED":
            layers = [layer["Name"] for layer in layers]
        return json.dumps({"Layers": layers, "Bindings": [t["name"] for t in self._plan["io"]]})


class ICudaEngine(_Pybind):
    def __init__(self, plan):
        self._plan, self._io, self._session = plan, plan["io"], None

    num_io_tensors = _computed("int", lambda self: len(self._io))

    def _tensor(self, name):
        return next(t for t in self._io if t["name"] == name)

    def get_tensor_name(self, index: "int") -> "str":
        return self._io[index]["name"]

    def get_tensor_mode(self, name: "str") -> "TensorIOMode":
        return TensorIOMode.INPUT if self._tensor(name)["input"] else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name: "str") -> "Dims":
        return Dims(self._tensor(name)["shape"])

    def get_tensor_dtype(self, name: "str") -> "DataType":
        return DataType(self._tensor(name)["dtype"])

    def serialize(self) -> "IHostMemory":
        return IHostMemory(json.dumps(self._plan).encode())

    def create_engine_inspector(self) -> "EngineInspector":
        return EngineInspector(self)

    def create_execution_context(self) -> "IExecutionContext":
        return IExecutionContext(self)

    def _run(self, feeds, outputs):
        import onnxruntime

        if self._session is None:
            self._session = onnxruntime.InferenceSession(base64.b64decode(self._plan["model"]),
                                                         providers=["CPUExecutionProvider"])
        return self._session.run(outputs, feeds)


class IExecutionContext(_Pybind):
    def __init__(self, engine):
        self._engine, self._addresses = engine, {}
        self._shapes = {t["name"]: tuple(t["shape"]) for t in engine._io}  # inputs as set, outputs as resolved

    def set_input_shape(self, name: "str", shape: "Dims") -> "bool":
        CALLS.append("set_input_shape")
        tensor = self._engine._tensor(name)
        low, _, high = tensor["profile"] or [tensor["shape"]] * 3
        shape = tuple(int(d) for d in shape)
        if not tensor["input"] or len(shape) != len(low) or \
                not all(a <= d <= b for a, d, b in zip(low, shape, high)):
            return False
        self._shapes[name] = shape
        if all(d >= 0 for t in self._engine._io if t["input"] for d in self._shapes[t["name"]]):
            feeds = {t["name"]: np.zeros(self._shapes[t["name"]], nptype(t["dtype"]))
                     for t in self._engine._io if t["input"]}
            outputs = [t["name"] for t in self._engine._io if not t["input"]]
            for output, value in zip(outputs, self._engine._run(feeds, outputs)):
                self._shapes[output] = value.shape  # TensorRT's shape inference, the double's way
        return True

    def get_tensor_shape(self, name: "str") -> "Dims":
        return Dims(self._shapes[name])

    def set_tensor_address(self, name: "str", memory: "int") -> "bool":
        CALLS.append("set_tensor_address")
        if not any(t["name"] == name for t in self._engine._io):
            return False
        self._addresses[name] = int(memory)
        return True

    def execute_async_v3(self, stream_handle: "int") -> "bool":
        from pycuda import driver

        CALLS.append("execute_async_v3")
        if any(d < 0 for shape in self._shapes.values() for d in shape) or \
                any(t["name"] not in self._addresses for t in self._engine._io):
            return False  # an input shape or a tensor address was never set
        addresses, shapes = dict(self._addresses), dict(self._shapes)  # bound now, as TensorRT binds at enqueue
        return driver.enqueue(stream_handle, lambda: self._execute(addresses, shapes), "execute")

    def _execute(self, addresses, shapes):
        from pycuda import driver

        fault = os.environ.get("EDGESEG_TRT_DOUBLE_FAULT", "")
        if fault and fault not in FAULTS:
            raise ValueError("EDGESEG_TRT_DOUBLE_FAULT={!r}: not one of {} (test double)".format(fault, FAULTS))
        feeds = {}
        for t in self._engine._io:
            dtype, shape = np.dtype(nptype(t["dtype"])), shapes[t["name"]]
            if t["input"]:
                raw = driver.MEMORY[addresses[t["name"]]][:int(np.prod(shape)) * dtype.itemsize]
                feeds[t["name"]] = raw.view(dtype).reshape(shape)
                if fault == "ignore-input":
                    feeds[t["name"]] = np.zeros(shape, dtype)
        outputs = [t["name"] for t in self._engine._io if not t["input"]]
        for name, value in zip(outputs, self._engine._run(feeds, outputs)):
            if fault == "swap-classes":
                value = _swap_classes(value)
            data = np.ascontiguousarray(value).view(np.uint8).ravel()
            driver.MEMORY[addresses[name]][:data.size] = data


def _swap_classes(value):
    """The fault swap-classes: classes 0 and 1 exchanged in one output (see the module docstring)."""
    value = np.array(value)
    if np.issubdtype(value.dtype, np.integer):
        zero, one = value == 0, value == 1
        value[zero], value[one] = 1, 0
    elif value.ndim >= 2 and value.shape[1] >= 2:
        value[:, [0, 1]] = value[:, [1, 0]]
    return value


# --- fit this module to its flavour's real surface ---------------------------------------------------

_SIMPLE = {"bool": bool, "int": int, "str": str}


def _checked(name, method):
    """`method`, its result checked against its annotated return type (None allowed for an object type,
    as pybind11 returns None for a null pointer)."""
    kind = method.__annotations__.get("return")

    @functools.wraps(method)
    def call(*args, **kwargs):
        result = method(*args, **kwargs)
        expected = _SIMPLE.get(kind) if kind else None
        if kind == "None" and result is not None or expected is not None and type(result) is not expected or \
                kind in globals() and inspect.isclass(globals()[kind]) and result is not None \
                and not isinstance(result, globals()[kind]):
            raise TypeError("{} returned {!r}, but the real API returns {} (test double)".format(name, result, kind))
        return result

    return call


def _fit_to_surface():
    """Drop every public member the real version lacks; check every method's result type at each call."""
    for name, cls in list(globals().items()):
        if not inspect.isclass(cls) or cls.__module__ != __name__ or issubclass(cls, enum.Enum) or cls is _Pybind:
            continue
        real = SURFACE["classes"].get(name)
        if real is None:
            del globals()[name]
            continue
        for attr in [a for a in vars(cls) if not a.startswith("_") or a == "__init__"]:
            value = vars(cls)[attr]
            if attr != "__init__" and attr not in real:
                delattr(cls, attr)
            elif isinstance(value, property) and value.fset and str(real[attr]).startswith("ro "):
                setattr(cls, attr, property(value.fget))  # read-only in this version (ITensor.dtype in 11)
            elif inspect.isfunction(value) and "return" in value.__annotations__:
                setattr(cls, attr, _checked("{}.{}".format(name, attr), value))


_fit_to_surface()
