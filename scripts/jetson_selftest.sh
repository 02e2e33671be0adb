#!/usr/bin/env bash
# Verify a Jetson in one command (see scripts/jetson_selftest.py): the probe model (its answer is known
# exactly) built in fp16 and int8, on the GPU and each DLA core, checked pixel by pixel against its oracle
# and ONNX Runtime, and benchmarked; optionally your own models too (INFO rows: no oracle).
#   scripts/jetson_selftest.sh [--size 512x256] [--frames 4] [--output-kind logits|classmap]
#                              [--onnx-dir DIR [--models a,b]] [--out runs/selftest]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$( [ -x "$root/.venv/bin/python" ] && echo "$root/.venv/bin/python" || echo python3 )}
exec "$py" "$root/scripts/jetson_selftest.py" "$@"
