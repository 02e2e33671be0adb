#!/usr/bin/env bash
# Create or reuse .venv at the repository root and install edgeseg with everything the demo and
# the tests need, at the exact versions of constraints.txt (torch and torchvision from local disk).
# A second run installs nothing unless pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.edgeseg-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt torch torchvision
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[export,device,opencv,dev]"
  touch "$stamp"
fi
