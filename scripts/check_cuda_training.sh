#!/usr/bin/env bash
# On a CUDA machine: a short mixed-precision training run, an exact --resume, export and eval.
# Usage: scripts/check_cuda_training.sh [OUT_DIR]   (python3 must have torch with CUDA)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/cuda_check}
py=${PYTHON:-python3}
$py -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))"
common=(bisenetv2 --data synthetic:128:384x192 --val-data synthetic:16:384x192 --input-size 256x128
        --epochs 3 --batch-size 16 --optimizer adamw --lr 0.003 --weight-decay 0.0001 --warmup-steps 5 --workers 4)
$py -m edgeseg train "${common[@]}" --out "$out/straight"
$py -m edgeseg train "${common[@]}" --out "$out/resumed" --stop-after 1
$py -m edgeseg train "${common[@]}" --out "$out/resumed" --resume
echo "== log.csv, uninterrupted"; cat "$out/straight/log.csv"
echo "== log.csv, stopped after epoch 1 and resumed"; cat "$out/resumed/log.csv"
$py -m edgeseg export bisenetv2 --weights "$out/straight/best.pt" --input-size 256x128 -o "$out/bisenetv2.onnx"
$py -m edgeseg info
