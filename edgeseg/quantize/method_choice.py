"""`calibrate --method auto`: of the ranges several methods gave in one pass, keep those whose TensorRT Q/DQ
model agrees best with FP32 on the calibration images (the share of pixels whose class differs; no labels
needed). No method wins everywhere (docs/int8_placement.md: mse on ENet CamVid, entropy on BiSeNetV2), and
the TensorRT model is the one a Jetson ships."""
import os
import tempfile
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from .trt_cache import Ranges

FIDELITY_IMAGES = 16  # calibration images each candidate runs on


def class_maps(model_path: str, batches: Sequence[Dict[str, np.ndarray]]) -> List[np.ndarray]:
    """The class map of each batch on ONNX Runtime's CPU: the first output's argmax over channels, or the
    output itself where the model already returns class ids."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    maps = []
    for batch in batches:
        output = np.asarray(session.run(None, batch)[0])
        maps.append(output if output.dtype.kind in "iu" else output.argmax(axis=1))
    return maps


def disagreement(maps: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Share of pixels whose class differs between two lists of class maps."""
    differ = sum(int(np.count_nonzero(a != b)) for a, b in zip(maps, reference))
    return differ / float(max(1, sum(b.size for b in reference)))


def choose(fp32_path: str, by_method: Dict[str, Ranges], batches: Sequence[Dict[str, np.ndarray]],
           quantize: Callable[[Ranges, str], None]) -> Tuple[str, Dict[str, float]]:
    """(the method whose TensorRT model, written by `quantize(ranges, path)`, disagrees least with FP32 on
    `batches`, each method's disagreement); ties go to the method named first."""
    reference = class_maps(fp32_path, batches)
    scores: Dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="edgeseg-auto-") as work:
        for method, ranges in by_method.items():
            path = os.path.join(work, method + ".onnx")
            quantize(ranges, path)
            scores[method] = disagreement(class_maps(path, batches), reference)
    best = min(by_method, key=lambda m: scores[m])  # min keeps the first of equal scores
    return best, scores
