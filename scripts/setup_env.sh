#!/usr/bin/env bash
# Create or reuse .venv at the repository root and install edgeseg with everything the demo and
# the tests need (torch pinned; pip takes it from local disk where it lies there).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.edgeseg-installed
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
  .venv/bin/python -m pip install --quiet -e ".[export,cpu,opencv,dev]"
  touch "$stamp"
fi
