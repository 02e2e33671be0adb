"""Write the surface of the TensorRT Python bindings importable here (see fetch.sh) as compact JSON.

Per version: every top-level name and its kind (a function: its signatures); every enum with its members'
values; every class's public member names; and for the classes edgeseg and its test double touch (DETAILED),
each member in full: a method as its pybind11 signature(s) "(params) -> return" without `self`, a property
as "ro TYPE" or "rw TYPE", anything else as its kind. Module prefixes are dropped (`tensorrt.Dims` -> `Dims`).
Usage: python3 dump.py OUT.json   (with PYTHONPATH/LD_LIBRARY_PATH as fetch.sh prints)
"""
import inspect
import json
import re
import sys

import tensorrt_bindings as trt

PREFIX = re.compile(r"\btensorrt(?:_bindings)?\.tensorrt\.|\btyping_extensions\.|\btyping\.")


DETAILED = ("Builder", "IBuilderConfig", "INetworkDefinition", "OnnxParser", "ParserError", "ITensor", "ILayer",
            "IOptimizationProfile", "ITimingCache", "IHostMemory", "Runtime", "ICudaEngine", "IExecutionContext",
            "EngineInspector", "ILogger", "IInt8EntropyCalibrator2", "IInt8Calibrator", "DataType", "Dims")


def _clean(text):
    return PREFIX.sub("", text.strip())


def _signatures(name, doc):
    """The "(params) -> return" of each overload in a pybind11 docstring, `self` dropped."""
    lines = [line.strip() for line in (doc or "").splitlines()]
    pattern = re.compile(r"^(?:\d+\. )?" + re.escape(name) + r"\((.*)\)( -> .*)?$")
    found = [pattern.match(line) for line in lines]
    found = [m for m in found if m and m.group(1) != "*args, **kwargs"]
    out = []
    for match in found:
        params = re.sub(r"^self(: [^,]+)?(, )?", "", _clean(match.group(1)))
        ret = _clean(match.group(2) or "")
        out.append("({}) {}".format(params, ret) if ret else "({})".format(params))
    return out


def _member(cls, attr):
    static = inspect.getattr_static(cls, attr)
    if isinstance(static, property):
        doc = (static.fget.__doc__ or "") if static.fget else ""
        kind = re.search(r"-> (.*)$", doc.strip().splitlines()[0]) if doc.strip() else None
        return "{} {}".format("rw" if static.fset else "ro", _clean(kind.group(1)) if kind else "?")
    if inspect.isclass(static):
        return "class"
    if type(static).__name__ in ("instancemethod", "function", "builtin_function_or_method", "staticmethod"):
        func = static.__func__ if isinstance(static, staticmethod) else getattr(cls, attr)
        sigs = _signatures(attr, getattr(func, "__doc__", ""))
        if not sigs:  # a Python function (e.g. added in tensorrt's __init__)
            try:
                sigs = [str(inspect.signature(func)).replace("(self, ", "(").replace("(self)", "()")]
            except (TypeError, ValueError):
                sigs = ["(...)"]
        return sigs
    return type(static).__name__


def dump():
    out = {"version": trt.__version__, "top": {}, "enums": {}, "classes": {}}
    for name in sorted(n for n in dir(trt) if not n.startswith("__")):
        obj = getattr(trt, name)
        members = getattr(obj, "__members__", None) if inspect.isclass(obj) else None
        if isinstance(members, dict):
            out["top"][name] = "enum"
            out["enums"][name] = {k: int(v) for k, v in members.items()}
        elif inspect.isclass(obj):
            out["top"][name] = "class"
        elif callable(obj):
            out["top"][name] = _signatures(name, obj.__doc__) or [str(inspect.signature(obj))]
            continue
        else:
            out["top"][name] = type(obj).__name__
            continue
        enum_members = set(members or {})
        public = {}
        for attr in sorted(dir(obj)):
            if (attr.startswith("__") and attr != "__init__") or attr in enum_members:
                continue
            try:
                public[attr] = _member(obj, attr)
            except AttributeError:
                continue
            sub = getattr(obj, attr, None)
            if inspect.isclass(sub) and isinstance(getattr(sub, "__members__", None), dict):
                out["enums"][name + "." + attr] = {k: int(v) for k, v in sub.__members__.items()}
        out["classes"][name] = public if name in DETAILED else sorted(public)
    return out


if __name__ == "__main__":
    surface = dump()
    with open(sys.argv[1], "w") as f:
        json.dump(surface, f, indent=0, sort_keys=True)
        f.write("\n")
    print(surface["version"], len(surface["classes"]), "classes", len(surface["enums"]), "enums")
