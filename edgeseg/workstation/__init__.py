"""The workstation side: models (torch builders), training, export to ONNX. Its modules import torch and
torchvision; nothing outside this package does, so the device side runs without them."""
