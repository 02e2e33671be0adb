"""A TEST DOUBLE of the TensorRT Python API: it shows the glue runs, not that TensorRT works.

Nothing here optimises anything. The "engine" is JSON (the ONNX model, its I/O, the build flags, DLA
placement, INT8 scales); executing it runs the ONNX model with onnxruntime on the bytes the pycuda
double holds at the bound addresses. The calls that tell API branches apart are appended to CALLS.

EDGESEG_TRT_DOUBLE picks the flavour: "8.5" (JetPack 5.1, Xavier NX) or "10" (default; JetPack 6,
Orin). 8.5 has what TensorRT 10 removed: binding-index calls, execute_async_v2, max_workspace_size,
builder.build_engine, NetworkDefinitionCreationFlag.EXPLICIT_BATCH. It deliberately OMITS what real
8.5 also has (named-tensor calls, execute_async_v3, set_memory_pool_limit, build_serialized_network)
so that its tests take the older branches. Both keep IInt8EntropyCalibrator2 and BuilderFlag.INT8, as
real 10.x does (deprecated in 10.1, removed in 11). EDGESEG_TRT_DOUBLE_DLA_CORES sets the DLA count (2).
Static shapes only: set_input_shape / set_binding_shape are not doubled.

Execution is asynchronous, as on a GPU: execute_async_v2/v3 enqueue the run on the pycuda double's
stream with that handle (see tests/trt_double/pycuda/driver.py); it reads its input buffer and writes its
output buffer when that stream is synchronized, after the copies enqueued before it. They return True
(False for a handle that is no stream); set_tensor_address returns True (False for an unknown name).

Fault injection (test-only, read at each run): EDGESEG_TRT_DOUBLE_FAULT=ignore-input computes on an
all-zero input instead of the bytes copied to the input buffer (an engine that never sees its input);
=swap-classes exchanges classes 0 and 1 in every output (channels 0 and 1 of a float NxCx... scores
output, ids 0 and 1 of an integer class map). Any other non-empty value is an error. They exist to prove
that checks such as scripts/jetson_selftest.py catch a broken engine.
"""
import base64
import enum
import json
import os

import numpy as np

V10 = not os.environ.get("EDGESEG_TRT_DOUBLE", "10").startswith("8")
__version__ = "10.3.0" if V10 else "8.5.2.2"
DEVICE = "Orin (test double)" if V10 else "Xavier (test double)"
MAGIC = "edgeseg-trt-double"
FAULTS = ("ignore-input", "swap-classes")
CALLS = []


def _enum(name, members):
    return enum.IntEnum(name, [(m, i) for i, m in enumerate(members)])


# the real values (tools/trt_surface): TensorRT 8.5 has no INT64; UINT8 is 5 in both
DataType = enum.IntEnum("DataType", [("FLOAT", 0), ("HALF", 1), ("INT8", 2), ("INT32", 3), ("BOOL", 4), ("UINT8", 5)]
                        + ([("INT64", 8)] if V10 else []))
_NUMPY = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8, DataType.INT32: np.int32,
          DataType.BOOL: np.bool_, DataType.UINT8: np.uint8}
_FROM_ONNX = {1: DataType.FLOAT, 10: DataType.HALF, 3: DataType.INT8, 6: DataType.INT32, 9: DataType.BOOL,
              2: DataType.UINT8}
if V10:
    _NUMPY[DataType.INT64] = np.int64
    _FROM_ONNX[7] = DataType.INT64
BuilderFlag = _enum("BuilderFlag", ["FP16", "INT8", "DEBUG", "GPU_FALLBACK", "REFIT", "TF32",
                                    "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS"]
                    + ([] if V10 else ["STRICT_TYPES"]))
DeviceType = _enum("DeviceType", ["GPU", "DLA"])
ProfilingVerbosity = _enum("ProfilingVerbosity", ["LAYER_NAMES_ONLY", "NONE", "DETAILED"])
LayerInformationFormat = _enum("LayerInformationFormat", ["ONELINE", "JSON"])
LayerType = _enum("LayerType", ["CONVOLUTION", "DECONVOLUTION", "ACTIVATION", "POOLING", "ELEMENTWISE", "SCALE",
                                "SOFTMAX", "RESIZE", "SHUFFLE", "QUANTIZE", "DEQUANTIZE"])
NetworkDefinitionCreationFlag = _enum("NetworkDefinitionCreationFlag", ["STRONGLY_TYPED" if V10 else "EXPLICIT_BATCH"])
if V10:
    TensorIOMode = _enum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
    MemoryPoolType = _enum("MemoryPoolType", ["WORKSPACE"])
_OPS = {"Conv": LayerType.CONVOLUTION, "ConvTranspose": LayerType.DECONVOLUTION, "Relu": LayerType.ACTIVATION,
        "MaxPool": LayerType.POOLING, "Add": LayerType.ELEMENTWISE, "BatchNormalization": LayerType.SCALE,
        "Softmax": LayerType.SOFTMAX, "Resize": LayerType.RESIZE, "QuantizeLinear": LayerType.QUANTIZE,
        "DequantizeLinear": LayerType.DEQUANTIZE}  # any other op: SHUFFLE
_ON_DLA = {LayerType.CONVOLUTION, LayerType.DECONVOLUTION, LayerType.ACTIVATION, LayerType.POOLING,
           LayerType.ELEMENTWISE, LayerType.SCALE}  # this double's choice, not NVIDIA's list
_FORMATS = {"fp32": "Row major linear FP32", "fp16": "Row major linear FP16 format",
            "int8": "Thirty-two wide channel vectorized row major Int8 format"}


def nptype(dtype):
    return _NUMPY[DataType(dtype)]


def init_libnvinfer_plugins(logger, namespace):
    return True


class ILogger:
    Severity = _enum("Severity", ["INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"])

    def __init__(self):
        pass


class IInt8EntropyCalibrator2:
    def __init__(self):
        pass


class _Named:  # a layer (name, type) or a tensor (name, shape, dtype)
    def __init__(self, name, kind=None, shape=(), dtype=DataType.FLOAT):
        self.name, self.type, self.shape, self.dtype = name, kind, shape, dtype


class INetworkDefinition:
    def __init__(self, flags):
        self.flags, self.inputs, self.outputs, self.layers, self.model = flags, [], [], [], b""
        self.get_input, self.get_output, self.get_layer = self.inputs.__getitem__, self.outputs.__getitem__, \
            self.layers.__getitem__

    num_inputs, num_outputs = property(lambda self: len(self.inputs)), property(lambda self: len(self.outputs))
    num_layers = property(lambda self: len(self.layers))


class OnnxParser:
    def __init__(self, network, logger):
        self.network, self.errors = network, []
        self.get_error = self.errors.__getitem__

    num_errors = property(lambda self: len(self.errors))

    def parse_from_file(self, path):
        CALLS.append("OnnxParser.parse_from_file")
        import onnx

        try:
            if not V10 and not self.network.flags & 1:
                raise ValueError("the network needs the EXPLICIT_BATCH flag")
            model = onnx.load(path)
        except Exception as exc:
            error = _Named(str(exc))
            error.node, error.desc = (lambda: -1), (lambda: error.name)
            self.errors.append(error)
            return False
        net, weights = self.network, {t.name for t in model.graph.initializer}

        def tensor(value):
            kind = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim)
            return _Named(value.name, None, dims, _FROM_ONNX.get(kind.elem_type, DataType.FLOAT))

        net.inputs.extend(tensor(v) for v in model.graph.input if v.name not in weights)
        net.outputs.extend(tensor(v) for v in model.graph.output)
        net.layers.extend(_Named(n.name or "{}_{}".format(n.op_type, i), _OPS.get(n.op_type, LayerType.SHUFFLE))
                          for i, n in enumerate(model.graph.node))
        net.model = model.SerializeToString()
        return True


class ITimingCache:
    def __init__(self, data):
        self.data = data

    def serialize(self):
        return json.dumps(self.data).encode()


class IOptimizationProfile:
    def set_shape(self, name, low, opt, high):
        pass


class IBuilderConfig:
    def __init__(self):
        self.flags, self.profiles, self.timing = set(), [], None
        self.default_device_type, self.DLA_core, self.int8_calibrator = DeviceType.GPU, -1, None
        self.profiling_verbosity = ProfilingVerbosity.LAYER_NAMES_ONLY
        self.clear_flag, self.add_optimization_profile = self.flags.discard, self.profiles.append

    def set_flag(self, flag):
        CALLS.append("set_flag({})".format(flag.name))
        self.flags.add(flag)

    if V10:
        def set_memory_pool_limit(self, pool, size):
            CALLS.append("set_memory_pool_limit")
    else:
        max_workspace_size = property(lambda self: 0, lambda self, size: CALLS.append("max_workspace_size"))

    def can_run_on_DLA(self, layer):
        return layer.type in _ON_DLA

    def create_timing_cache(self, data):
        CALLS.append("create_timing_cache({})".format("bytes" if data else "empty"))
        try:
            return ITimingCache(json.loads(bytes(data)) if data else {"tensorrt": __version__, "device": DEVICE,
                                                                      "entries": []})
        except ValueError:
            return None

    def set_timing_cache(self, cache, ignore_mismatch):
        if not ignore_mismatch and (cache.data.get("tensorrt"), cache.data.get("device")) != (__version__, DEVICE):
            return False
        self.timing = cache
        return True

    def get_timing_cache(self):
        return self.timing


class Builder:
    platform_has_fast_fp16 = platform_has_fast_int8 = True

    def __init__(self, logger):
        self.logger = logger
        self.num_DLA_cores = int(os.environ.get("EDGESEG_TRT_DOUBLE_DLA_CORES", "2"))

    def create_network(self, flags=0):
        CALLS.append("Builder.create_network({})".format(flags))
        return INetworkDefinition(flags)

    def create_builder_config(self):
        return IBuilderConfig()

    def create_optimization_profile(self):
        return IOptimizationProfile()

    def _build(self, net, config):
        flags, scales, error = config.flags, {}, None
        qdq = any(layer.type in (LayerType.QUANTIZE, LayerType.DEQUANTIZE) for layer in net.layers)
        dla = config.default_device_type == DeviceType.DLA
        if BuilderFlag.INT8 in flags and config.int8_calibrator is not None and not qdq:
            calibrator = config.int8_calibrator
            cache = calibrator.get_batch_size() and calibrator.read_calibration_cache()
            CALLS.append("read_calibration_cache")
            if not cache and calibrator.get_batch([t.name for t in net.inputs]) is None:
                error = "Calibration failure occurred with no scaling factors detected."
            scales = dict(line.split(": ") for line in bytes(cache or b"").decode().splitlines()[1:] if line)
        if dla and not flags & {BuilderFlag.FP16, BuilderFlag.INT8}:
            error = "DLA supports FP16 and INT8 only"
        elif dla and not 0 <= config.DLA_core < self.num_DLA_cores:
            error = "DLA core {} is out of range".format(config.DLA_core)
        elif dla and BuilderFlag.GPU_FALLBACK not in flags and not all(map(config.can_run_on_DLA, net.layers)):
            error = "a layer cannot run on DLA and GPU fallback is off"
        if error:
            return self.logger.log(ILogger.Severity.ERROR, error)
        if config.timing is not None:
            entries = config.timing.data["entries"]
            keys = ["{}:{}".format(layer.name, sorted(int(f) for f in flags)) for layer in net.layers]
            CALLS.append("timing_cache_hits={}".format(sum(key in entries for key in keys)))
            entries.extend(key for key in keys if key not in entries)
        io = [{"name": t.name, "shape": list(t.shape), "dtype": int(t.dtype), "input": t in net.inputs}
              for t in net.inputs + net.outputs]
        layers = [{"name": x.name, "type": x.type.name,
                   "device": "DLA" if dla and config.can_run_on_DLA(x) else "GPU"} for x in net.layers]
        precision = "int8" if BuilderFlag.INT8 in flags else "fp16" if BuilderFlag.FP16 in flags else "fp32"
        return json.dumps({"magic": MAGIC, "tensorrt_version": __version__, "io": io, "precision": precision,
                           "model": base64.b64encode(net.model).decode(), "int8_scales": scales, "layers": layers,
                           "verbosity": config.profiling_verbosity.name, "dla_core": config.DLA_core if dla else None,
                           "flags": sorted(f.name for f in flags)}).encode()

    if V10:
        def build_serialized_network(self, network, config):
            CALLS.append("Builder.build_serialized_network")
            return self._build(network, config)
    else:
        def build_engine(self, network, config):
            CALLS.append("Builder.build_engine")
            data = self._build(network, config)
            return None if data is None else ICudaEngine(json.loads(data.decode()))


class Runtime:
    def __init__(self, logger):
        self.logger = logger

    def deserialize_cuda_engine(self, data):
        try:
            plan = json.loads(bytes(data).decode())
        except ValueError:
            plan = None
        if not isinstance(plan, dict) or plan.get("magic") != MAGIC:
            self.logger.log(ILogger.Severity.ERROR, "Serialization: magic tag does not match (test double)")
        elif plan["tensorrt_version"] != __version__:
            self.logger.log(ILogger.Severity.ERROR, "The engine plan file is not compatible with this version of "
                            "TensorRT, expecting {} got {} (test double)".format(__version__, plan["tensorrt_version"]))
        else:
            return ICudaEngine(plan)
        return None


class EngineInspector:
    def __init__(self, engine):
        self.plan = engine.plan

    def get_engine_information(self, fmt):
        CALLS.append("EngineInspector.get_engine_information({})".format(LayerInformationFormat(fmt).name))
        layers = []  # consecutive DLA layers become one {ForeignNode[first...last]}
        for layer in self.plan["layers"]:
            fused = layer["device"] == "DLA" and layers and layers[-1]["LayerType"] == "ForeignNode"
            if fused:
                layers[-1]["Name"] = layers[-1]["Name"].split("...")[0] + "..." + layer["name"] + "]}"
            elif layer["device"] == "DLA":
                layers.append({"Name": "{{ForeignNode[{0}...{0}]}}".format(layer["name"]), "LayerType": "ForeignNode"})
            else:
                layers.append({"Name": layer["name"], "LayerType": layer["type"].title()})
            layers[-1]["Outputs"] = [{"Format/Datatype": _FORMATS[self.plan["precision"]]}]
        if self.plan["verbosity"] != "DETAILED":
            layers = [layer["Name"] for layer in layers]
        return json.dumps({"Layers": layers, "Bindings": [t["name"] for t in self.plan["io"]]})


class ICudaEngine:
    def __init__(self, plan):
        self.plan, self.io, self.session = plan, plan["io"], None

    def serialize(self):
        return json.dumps(self.plan).encode()

    def create_engine_inspector(self):
        return EngineInspector(self)

    def create_execution_context(self):
        return IExecutionContext(self)

    def _tensor(self, key):  # by name (named-tensor API) or by index (binding API)
        return self.io[key] if isinstance(key, int) else next(t for t in self.io if t["name"] == key)

    def _shape(self, key):
        return tuple(self._tensor(key)["shape"])

    def _dtype(self, key):
        return DataType(self._tensor(key)["dtype"])

    if V10:
        num_io_tensors = property(lambda self: len(self.io))
        get_tensor_shape, get_tensor_dtype = _shape, _dtype

        def get_tensor_name(self, i):
            return self.io[i]["name"]

        def get_tensor_mode(self, name):
            return TensorIOMode.INPUT if self._tensor(name)["input"] else TensorIOMode.OUTPUT
    else:
        num_bindings = property(lambda self: len(self.io))
        get_binding_shape, get_binding_dtype = _shape, _dtype

        def get_binding_name(self, i):
            return self.io[i]["name"]

        def binding_is_input(self, i):
            return self.io[i]["input"]


class IExecutionContext:
    def __init__(self, engine):
        self.engine, self.addresses = engine, {}
        setattr(self, "get_tensor_shape" if V10 else "get_binding_shape", engine._shape)  # static shapes

    def _execute(self, addresses):
        import onnxruntime
        from pycuda import driver

        fault = os.environ.get("EDGESEG_TRT_DOUBLE_FAULT", "")
        if fault and fault not in FAULTS:
            raise ValueError("EDGESEG_TRT_DOUBLE_FAULT={!r}: not one of {} (test double)".format(fault, FAULTS))
        engine, feeds = self.engine, {}
        if engine.session is None:
            engine.session = onnxruntime.InferenceSession(base64.b64decode(engine.plan["model"]),
                                                          providers=["CPUExecutionProvider"])
        for t in engine.io:
            dtype, shape = np.dtype(nptype(t["dtype"])), tuple(t["shape"])
            if t["input"]:
                raw = driver.MEMORY[addresses[t["name"]]][:int(np.prod(shape)) * dtype.itemsize]
                feeds[t["name"]] = raw.view(dtype).reshape(shape)
                if fault == "ignore-input":
                    feeds[t["name"]] = np.zeros(shape, dtype)
        outputs = [t["name"] for t in engine.io if not t["input"]]
        for name, value in zip(outputs, engine.session.run(outputs, feeds)):
            if fault == "swap-classes":
                value = _swap_classes(value)
            data = np.ascontiguousarray(value).view(np.uint8).ravel()
            driver.MEMORY[addresses[name]][:data.size] = data

    def _enqueue(self, addresses, stream_handle):
        from pycuda import driver

        addresses = dict(addresses)  # bound now, as TensorRT binds at enqueue time
        return driver.enqueue(stream_handle, lambda: self._execute(addresses))

    if V10:
        def set_tensor_address(self, name, address):
            CALLS.append("set_tensor_address")
            if not any(t["name"] == name for t in self.engine.io):
                return False
            self.addresses[name] = int(address)
            return True

        def execute_async_v3(self, stream_handle):
            CALLS.append("execute_async_v3")
            return self._enqueue(self.addresses, stream_handle)
    else:
        def execute_async_v2(self, bindings, stream_handle):
            CALLS.append("execute_async_v2")
            return self._enqueue({t["name"]: int(b) for t, b in zip(self.engine.io, bindings)}, stream_handle)


def _swap_classes(value):
    """The fault swap-classes: classes 0 and 1 exchanged in one output (see the module docstring)."""
    value = np.array(value)
    if np.issubdtype(value.dtype, np.integer):
        zero, one = value == 0, value == 1
        value[zero], value[one] = 1, 0
    elif value.ndim >= 2 and value.shape[1] >= 2:
        value[:, [0, 1]] = value[:, [1, 0]]
    return value
