#!/usr/bin/env bash
# Regenerate tests/trt_double/surfaces/<version>.json: the REAL TensorRT Python API of each version edgeseg
# supports, read from the bindings wheels imported against stub libraries (scripts/trt_surface). The test
# double (tests/trt_double) is built from these files, and tests/test_trt_surface.py checks it against them.
# Needs gcc, python3 (3.11 for the wheels; .venv's by default) and the package registry.
# Usage: scripts/update_trt_surfaces.sh [CACHE_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeseg/trt-bindings}
python=${PYTHON:-$root/.venv/bin/python}
PYTHON="$python" "$root/scripts/trt_surface/fetch.sh" "$cache" >/dev/null
out=$root/tests/trt_double/surfaces
mkdir -p "$out"
for dir in "$cache"/*/; do
  version=$(basename "$dir")
  LD_LIBRARY_PATH=$dir/stub PYTHONPATH=$dir/pkg "$python" "$root/scripts/trt_surface/dump.py" "$out/$version.json"
done
