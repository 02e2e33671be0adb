"""edgeseg: real-time semantic segmentation from PyTorch to NVIDIA Jetson, one stage at a time."""

__version__ = "0.1.0"
