#!/usr/bin/env bash
# Set up .venv (and the Python 3.8 device-side venvs, where python3.8 exists) and run the tests.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh
eval "$(./scripts/setup_py38.sh)"
exec .venv/bin/python -m pytest "$@"
