#!/usr/bin/env bash
# Fetch the REAL TensorRT Python bindings (small wheels from the package registry) and build stub
# libnvinfer/libnvonnxparser/libnvinfer_plugin libraries (stub.c: every entry point returns NULL), so the
# real pybind11 module imports on a machine without a GPU or TensorRT. Nothing that reaches libnvinfer runs.
# Usage: fetch.sh CACHE_DIR   -> CACHE_DIR/<version>/{pkg,stub} for each version in VERSIONS; idempotent.
# Then: LD_LIBRARY_PATH=CACHE_DIR/<v>/stub PYTHONPATH=CACHE_DIR/<v>/pkg python3 -c 'import tensorrt_bindings'
# The wheels are for CPython 3.11 (the version that all four publish), so use a 3.11 interpreter.
# PYTHON (default python3) is the interpreter whose pip downloads them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$(mkdir -p "$1" && cd "$1" && pwd)
# version:package: 8.6.1 stands in for JetPack 5.1's 8.5.2 (not on the registry; see tests/trt_double/README.md),
# 10.3.0 is JetPack 6.1/6.2's, 10.16.1.11 the newest 10.x, 11.4.0.106 TensorRT 11.
VERSIONS=${TRT_SURFACE_VERSIONS:-"8.6.1:tensorrt-bindings 10.3.0:tensorrt-cu12-bindings 10.16.1.11:tensorrt-cu12-bindings 11.4.0.106:tensorrt-cu13-bindings"}
for pair in $VERSIONS; do
  version=${pair%%:*}; package=${pair#*:}; dir=$cache/$version
  [ -f "$dir/ready" ] && continue
  rm -rf "$dir"; mkdir -p "$dir/wheel" "$dir/pkg" "$dir/stub"
  "${PYTHON:-python3}" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d "$dir/wheel" "$package==$version"
  python3 -m zipfile -e "$dir"/wheel/*.whl "$dir/pkg"
  major=${version%%.*}
  for lib in libnvinfer libnvonnxparser libnvinfer_plugin libnvparsers; do
    gcc -shared -fPIC -Wl,-soname,$lib.so.$major -o "$dir/stub/$lib.so.$major" "$here/stub.c"
  done
  touch "$dir/ready"
done
echo "$cache"
