"""Deployment configs written from an artifact and its sidecar: DeepStream nvinfer and Triton."""
