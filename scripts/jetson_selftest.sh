#!/usr/bin/env bash
# Verify a Jetson in one command (see scripts/jetson_selftest.py): every TensorRT-safe model at a
# small size in fp16 and int8, on the GPU and each DLA core, compared with ONNX Runtime and benchmarked.
#   scripts/jetson_selftest.sh [--models bisenetv2,icnet_mobilenetv3] [--size 512x256] [--onnx-dir DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$( [ -x "$root/.venv/bin/python" ] && echo "$root/.venv/bin/python" || echo python3 )}
exec "$py" "$root/scripts/jetson_selftest.py" "$@"
