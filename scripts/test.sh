#!/usr/bin/env bash
# Set up .venv (and the Python 3.8 device-side venvs, where python3.8 exists), lint and type-check (ruff and
# mypy, both for a Python 3.8 target: pyproject.toml), then run the tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh
./scripts/setup_gstreamer.sh
eval "$(./scripts/setup_py38.sh)"
echo "lint: ruff check; types: mypy edgeseg" >&2
.venv/bin/ruff check --quiet edgeseg tests scripts benchmarks
.venv/bin/mypy edgeseg
exec .venv/bin/python -m pytest "$@"
