"""The TensorRT test double and edgeseg's TensorRT glue, checked against the REAL TensorRT Python API.

tests/trt_double/surfaces/<version>.json are the real bindings' surfaces (scripts/update_trt_surfaces.sh
reads them from the wheels; 8.5.2.json lists what 8.6.1, standing in for it, has that 8.5.2 lacks). Two
checks, per supported version:
- the double's flavour offers nothing its real version lacks: no top-level name, class, member, enum
  member or value, method signature (parameter names, types, defaults, return type) or writable property
  that the real one does not have;
- edgeseg/runtime/tensorrt/ (runner.py, builder.py, compat.py) uses, unguarded, no TensorRT name that a supported
  version
  lacks. A guard is hasattr/getattr with the name as a literal in the same function, or a call of a
  trt_compat feature test whose GUARDS list names it (and that list is itself checked against the surfaces).
"""
import ast
import functools
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO

SURFACES = os.path.join(REPO, "tests", "trt_double", "surfaces")
DOUBLE = os.path.join(REPO, "tests", "trt_double")
VERSIONS = {"8.5": "8.5.2", "10.3": "10.3.0", "10.16": "10.16.1.11", "11": "11.4.0.106"}  # flavour -> surface
GLUE = [os.path.join(REPO, "edgeseg", "runtime", "tensorrt", name) for name in ("runner.py", "builder.py", "compat.py")]


@functools.lru_cache(maxsize=None)
def real_surface(version):
    """A version's real surface (do not modify it); 8.5.2 is 8.6.1's less what 8.5.2.json lists as absent."""
    path = os.path.join(SURFACES, version + ".json")
    with open(path) as f:
        surface = json.load(f)
    if "stands_in" in surface:
        absent = surface["absent"]
        with open(os.path.join(SURFACES, surface["stands_in"] + ".json")) as f:
            surface = json.load(f)
        for name, members in absent.items():
            table = surface["enums"].get(name) or surface["classes"][name]
            for member in members:
                del table[member]
        surface["version"] = version
    return surface


_SPELLINGS = [(re.compile(p), r) for p, r in [
    (r"\b(?:nvinfer1|nvonnxparser)::", ""), (r"\bILogger::Severity\b", "ILogger.Severity"),
    (r"\bSupportsInt\b", "int"), (r"\bBuffer\b", "buffer"), (r"\bCapsuleType\b", "capsule"),
    (r"\bcollections\.abc\.Sequence\b", "List"), (r"\blist\[", "List["), (r"\bIEngineInspector\b", "EngineInspector"),
    (r"\bIParserError\b", "ParserError")]]


def normalize(signature):
    """One spelling for what pybind11 versions write differently (SupportsInt vs int, Buffer vs buffer...)."""
    for pattern, replacement in _SPELLINGS:
        signature = pattern.sub(replacement, signature)
    return signature


def accepted(overloads):
    """Every call form the real overloads accept, trailing defaulted parameters dropped one by one."""
    forms = set()
    for overload in overloads:
        match = re.match(r"^\((.*)\)( -> .*)?$", normalize(overload))
        params = [p for p in re.split(r", (?![^\[]*\])", match.group(1)) if p] if match else []
        ret = match.group(2) or "" if match else ""
        forms.add("({}){}".format(", ".join(params), ret))
        while params and " = " in params[-1]:
            params = params[:-1]
            forms.add("({}){}".format(", ".join(params), ret))
    return forms


DUMP_DOUBLE = r'''
import enum, inspect, json, sys, types
sys.path.insert(0, sys.argv[1])
import tensorrt as trt
def render(function):
    sig = inspect.signature(function)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    text = ", ".join(p.name + ("" if p.annotation is p.empty else ": " + p.annotation) +
                     ("" if p.default is p.empty else " = {}".format(p.default)) for p in params)
    return "({})".format(text) + ("" if sig.return_annotation is sig.empty else " -> " + sig.return_annotation)
out = {"version": trt.__version__, "top": {}, "enums": {}, "classes": {}}
for name, obj in vars(trt).items():
    if name.startswith("_") or name in trt.TEST_ONLY or isinstance(obj, types.ModuleType):
        continue
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        out["enums"][name] = {k: int(m) for k, m in obj.__members__.items()}
    elif inspect.isclass(obj):
        members = {}
        for attr, value in vars(obj).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            if isinstance(value, property):
                members[attr] = "{} {}".format("rw" if value.fset else "ro", value.fget.__annotations__["return"])
            elif inspect.isfunction(value):
                members[attr] = render(value)
            elif inspect.isclass(value) and issubclass(value, enum.Enum):
                out["enums"][name + "." + attr] = {k: int(m) for k, m in value.__members__.items()}
                members[attr] = "class"
            else:
                members[attr] = type(value).__name__
        out["classes"][name] = members
    elif callable(obj):
        out["top"][name] = render(obj)
    else:
        out["top"][name] = type(obj).__name__
print(json.dumps(out))
'''


def double_surface(flavour):
    env = dict(os.environ, EDGESEG_TRT_DOUBLE=flavour)
    result = subprocess.run([sys.executable, "-c", DUMP_DOUBLE, DOUBLE], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    assert result.returncode == 0, result.stdout
    return json.loads(result.stdout)


def mismatches(double, real):
    """What the double offers that the real surface does not, one line each."""
    found = []
    for name, value in double["top"].items():
        if name not in real["top"]:
            found.append("top-level {} does not exist".format(name))
        elif isinstance(real["top"][name], list) and normalize(value) not in accepted(real["top"][name]):
            found.append("{}{}: the real one is {}".format(name, value, real["top"][name]))
    for name, members in double["enums"].items():
        real_members = real["enums"].get(name)
        if real_members is None:
            found.append("enum {} does not exist".format(name))
            continue
        found.extend("{}.{} = {}: the real one {}".format(name, member, value, "is {}".format(real_members[member])
                                                          if member in real_members else "does not exist")
                     for member, value in members.items() if real_members.get(member) != value)
    for name, members in double["classes"].items():
        real_members = real["classes"].get(name)
        if real_members is None:
            found.append("class {} does not exist".format(name))
            continue
        for member, kind in members.items():
            if member not in real_members:
                found.append("{}.{} does not exist".format(name, member))
                continue
            want = real_members[member]
            if member == "__init__" and not isinstance(want, list):
                continue  # not constructible from Python in the real API; the double builds its own
            if kind.startswith("(") and (not isinstance(want, list) or normalize(kind) not in accepted(want)):
                found.append("{}.{}{}: the real one is {}".format(name, member, kind, want))
            elif kind.startswith(("rw ", "ro ")) and (not isinstance(want, str) or
                                                     (kind.startswith("rw") and want.startswith("ro")) or
                                                     normalize(kind[3:]) != normalize(want[3:])):
                found.append("{}.{} is a property {}: the real one is {}".format(name, member, kind, want))
    return found


@pytest.mark.parametrize("flavour", sorted(VERSIONS))
def test_the_double_offers_nothing_its_real_version_lacks(flavour):
    double, real = double_surface(flavour), real_surface(VERSIONS[flavour])
    assert double["version"].startswith(real["version"].rsplit(".", 1)[0])
    assert mismatches(double, real) == []
    # and it is the real API where edgeseg's branches part: enums whole, the calls the glue makes present
    for enum_name in ("DataType", "BuilderFlag", "NetworkDefinitionCreationFlag", "TensorIOMode", "ILogger.Severity"):
        assert double["enums"][enum_name] == real["enums"][enum_name], enum_name
    assert {"set_input_shape", "set_tensor_address", "execute_async_v3", "get_tensor_shape"} <= \
        set(double["classes"]["IExecutionContext"])


def test_the_comparison_catches_what_real_tensorrt_lacks():
    """Plant the double's old mistakes; each must be reported."""
    real = real_surface("10.3.0")
    double = double_surface("10.3")
    planted = json.loads(json.dumps(double))
    planted["enums"]["NetworkDefinitionCreationFlag"] = {"STRONGLY_TYPED": 0}  # TensorRT 11's values in 10.x
    planted["classes"]["IExecutionContext"]["set_tensor_address"] = "(name: str, memory: int) -> None"
    planted["classes"]["IExecutionContext"]["execute_async_v2"] = "(bindings: List[int], stream_handle: int) -> bool"
    planted["classes"]["Builder"]["num_DLA_cores"] = "rw int"
    planted["classes"]["IBuilderConfig"]["set_timing_cache"] = "(cache: ITimingCache, ignore: bool) -> bool"
    found = mismatches(planted, real)
    assert len(found) == 5, found
    eight = real_surface("8.5.2")
    assert "FP8" not in eight["enums"]["DataType"] and "INT64" not in eight["enums"]["DataType"]
    assert mismatches(dict(double_surface("8.5"), enums={"DataType": {"INT64": 8}}), eight) == [
        "DataType.INT64 = 8: the real one does not exist"]


# --- the glue's use of the API ----------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _names(version):
    surface = real_surface(version)
    top = set(surface["top"])
    members = {}
    for cls, table in surface["classes"].items():
        for member in table if isinstance(table, dict) else ():  # the classes edgeseg touches (DETAILED)
            members.setdefault(member, set()).add(cls)
    for enum_name, table in surface["enums"].items():
        for member in table:
            members.setdefault(member, set()).add(enum_name)
    return top, members


PYTHON_METHODS = set().union(*(dir(kind) for kind in (dict, list, str, bytes, tuple, set)))  # dict.update...


def glue_uses():
    """(file, function, owner, attribute name, line, guarded names) for every attribute access in the glue's
    functions; a function's guards cover the functions and classes nested in it."""
    uses = []
    for path in GLUE:
        with open(path) as f:
            tree = ast.parse(f.read())
        outermost = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        outermost += [m for c in tree.body if isinstance(c, ast.ClassDef) for m in c.body
                      if isinstance(m, ast.FunctionDef)]
        for function in outermost:
            guarded = set()
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    if node.func.id in ("hasattr", "getattr") and len(node.args) >= 2 and \
                            isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                        guarded.add(node.args[1].value)
                    guarded.update(_feature_guards().get(node.func.id, ()))
            uses.extend((os.path.basename(path), function.name, _owner(node.value), node.attr, node.lineno, guarded)
                        for node in ast.walk(function) if isinstance(node, ast.Attribute))
    return uses


def _feature_guards():
    from edgeseg.runtime.tensorrt import compat as trt_compat

    return trt_compat.GUARDS


def unguarded_missing(versions):
    """Names the glue uses without a guard that some version lacks although another has them: on `trt`,
    on `trt.X` (that class or enum), or on any other object (any class the glue touches)."""
    missing = []
    for file, function, owner, attr, line, guarded in glue_uses():
        if attr in guarded or owner in guarded or (owner is None and attr in PYTHON_METHODS):
            continue
        has = {v: _has(v, owner, attr) for v in versions}
        if any(has.values()) and not all(has.values()):
            missing.append("{}:{} {}() uses {}.{} unguarded; TensorRT {} lacks it".format(
                file, line, function, owner or "", attr, ", ".join(v for v in versions if not has[v])))
    return missing


def test_the_glue_uses_no_unguarded_name_a_supported_version_lacks():
    assert unguarded_missing(sorted(set(VERSIONS.values()))) == []


def test_feature_guards_are_true_to_the_surfaces():
    """A feature test's GUARDS list names what every version passing the test has."""
    from edgeseg.runtime.tensorrt import compat as trt_compat

    assert set(trt_compat.GUARDS) == {"strongly_typed_only"}
    for version in set(VERSIONS.values()):
        surface = real_surface(version)
        strongly_typed = not {"FP16", "INT8"} <= set(surface["enums"]["BuilderFlag"])
        top, members = _names(version)
        if not strongly_typed:  # the glue takes the guarded branch: each name must exist
            assert [n for n in trt_compat.GUARDS["strongly_typed_only"] if n not in top and n not in members] == []


def test_the_scan_catches_an_unguarded_name(tmp_path, monkeypatch):
    """A guard removed from the glue is reported (TensorRT 11 has no IInt8EntropyCalibrator2)."""
    with open(GLUE[-1]) as f:  # compat.py
        source = f.read()
    planted = source.replace('    if not hasattr(trt, "IInt8EntropyCalibrator2"):\n', '    if False:\n')
    assert planted != source
    path = tmp_path / "trt_compat.py"
    path.write_text(planted)
    monkeypatch.setattr(sys.modules[__name__], "GLUE", GLUE[:-1] + [str(path)])
    assert any("trt.IInt8EntropyCalibrator2 unguarded; TensorRT 11.4.0.106 lacks it" in line
               for line in unguarded_missing(sorted(set(VERSIONS.values()))))


def _has(version, owner, name):
    """Whether TensorRT `version` has `name` on `owner`: "trt" (the module), a class or enum name, or None
    (any class the glue touches)."""
    surface = real_surface(version)
    if owner == "trt":
        return name in surface["top"]
    if owner is not None:
        return name in (surface["enums"].get(owner) or surface["classes"].get(owner) or ())
    top, members = _names(version)
    return name in members


def _owner(node):
    """"trt" for `trt`, "X" for `trt.X`, None for any other object."""
    if isinstance(node, ast.Name) and node.id == "trt":
        return "trt"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "trt":
        return node.attr
    return None


def test_the_glue_has_no_guard_for_what_every_version_has():
    """A hasattr/getattr on a name every supported version has is dead code (and hides a typo)."""
    versions = sorted(set(VERSIONS.values()))
    dead = []
    for path in GLUE:
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in ("hasattr", "getattr") and len(node.args) >= 2 and \
                    isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                name, owner = node.args[1].value, _owner(node.args[0])
                if all(_has(v, owner, name) for v in versions):
                    dead.append("{}:{} {}(..., {!r})".format(os.path.basename(path), node.lineno, node.func.id, name))
    assert dead == []
