#!/usr/bin/env bash
# Python 3.8 environments for the device-side checks (JetPack 5 ships Python 3.8 and numpy 1.17):
#   .venv38        python3.8 + onnxruntime 1.19.2 + onnx 1.17.0 + OpenCV + edgeseg[device] (no torch): the CLI
#                  chain runs here; exact versions in constraints-py38.txt (the last releases for Python 3.8)
#   .venv38-np117  python3.8 + numpy 1.17.5 + OpenCV + onnx 1.15.0 + pytest: the numpy/OpenCV modules' tests
#                  and build's graph edits run here (as in Dockerfile.jetson)
# Prints the interpreter paths as shell assignments; prints nothing when no python3.8 is found.
set -euo pipefail
cd "$(dirname "$0")/.."
py38=""
for candidate in ${PYTHON38:-} python3.8 "$HOME"/.pyenv/versions/3.8*/bin/python3.8 /usr/bin/python3.8; do
  if "$candidate" -c "import sys; assert sys.version_info[:2] == (3, 8)" >/dev/null 2>&1; then
    py38=$candidate
    break
  fi
done
if [ -z "$py38" ]; then
  echo "python3.8 not found: Python 3.8 runtime checks will be skipped" >&2
  exit 0
fi
make_venv() {  # folder, packages...
  local folder=$1; shift
  local stamp=$folder/.edgeseg-installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints-py38.txt -nt "$stamp" ]; then
    rm -rf "$folder"
    "$py38" -m venv "$folder" >&2
    "$folder/bin/python" -m pip install --quiet "$@" >&2
    touch "$stamp"
  fi
}
make_venv .venv38 -c constraints-py38.txt opencv-python-headless -e ".[device]"
make_venv .venv38-np117 "numpy==1.17.5" opencv-python-headless pytest "onnx==1.15.0" "protobuf==3.20.3"
echo "export EDGESEG_PY38=$PWD/.venv38/bin/python EDGESEG_PY38_NUMPY117=$PWD/.venv38-np117/bin/python"
