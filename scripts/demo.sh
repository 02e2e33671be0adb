#!/usr/bin/env bash
# Set up .venv (if needed) and run the whole chain on embedded synthetic street scenes:
# data → export → build → bench → eval → run. Outputs land in runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh
exec .venv/bin/python scripts/demo.py "$@"
