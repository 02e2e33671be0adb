"""The calibrate stage (`edgeseg calibrate`): INT8 calibration once, for every INT8 consumer (see `stage`).

subset      which images calibrate (spread over groups and classes)
reader      those images, preprocessed, as ONNX Runtime's calibration data reader
onnx_model  the model loaded and its input checked; onnx and onnxruntime imported where needed
ranges      per-tensor ranges from one calibrator pass (collectors, abs_histogram), and the ranges file
qdq         the two INT8 models from the ranges (placement: Q/DQ where TensorRT fuses; ort_compat)
lint        the static fusion lint of the TensorRT model
trt_cache   TensorRT's calibration cache (implicit INT8, DLA)
method_choice, manifest, guard, stage
"""
from .manifest import check_cache_matches, read_manifest
from .onnx_model import OP_TYPES, check_model_input, quantizable_nodes
from .qdq import quantize_model
from .ranges import METHODS, compute_ranges, compute_ranges_by_method, load_ranges, save_ranges
from .reader import ImageCalibrationReader
from .stage import calibrate, quantize_from_ranges, requantize
from .subset import select_subset
from .trt_cache import Ranges

__all__ = [
    "METHODS", "OP_TYPES", "Ranges", "select_subset", "ImageCalibrationReader", "check_model_input",
    "compute_ranges", "compute_ranges_by_method", "save_ranges", "load_ranges", "quantizable_nodes",
    "quantize_model", "quantize_from_ranges", "check_cache_matches", "calibrate", "read_manifest", "requantize",
]
