"""On a CUDA machine with PyTorch: what moving the pixel work into the engine costs on the GPU and saves on the
host and the bus, at 1024x512 from a 960x540 frame, 19 classes. PyTorch's CUDA kernels stand in for
TensorRT's (no TensorRT here): they show the order of magnitude, not TensorRT's exact figures.

Host side (this machine's CPU): the float blob (`Preprocessor`) against one `cv2.resize` (`FrameResizer`); the
host argmax (`ArgMax`) of 19 x 512 x 1024 scores. Bus: host-to-device copies of the float blob (6 MB) and of
the uint8 frame (1.5 MB), device-to-host copies of the scores (40 MB) and of the uint8 class map (0.5 MB),
from page-locked memory. GPU: the folded preprocessing (Cast, Transpose, 1x1 Conv) and ArgMax + cast to
uint8. Medians of 50 runs (CUDA events on the GPU).

    python benchmarks/gpu_pixel_work.py
"""
import time

import cv2
import numpy as np
import torch

from edgeseg.data.synthetic import render_scene
from edgeseg.preprocess import FrameResizer, Preprocessor, PreprocessSpec
from edgeseg.runtime.artifact import ArgMax

SIZE = (1024, 512)
CLASSES = 19
RUNS = 50


def host_ms(work) -> float:
    work()
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000.0)
    return float(np.median(samples))


def gpu_ms(work) -> float:
    work()
    torch.cuda.synchronize()
    samples = []
    for _ in range(RUNS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        work()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
    return float(np.median(samples))


def main() -> None:
    width, height = SIZE
    frame = cv2.resize(render_scene(0, 480, 270)[0], (960, 540))
    spec = PreprocessSpec(SIZE)
    blob_host = Preprocessor(spec)
    resize_host = FrameResizer(SIZE, [np.empty((1, height, width, 3), np.uint8)])
    scores_host = np.random.RandomState(0).randn(CLASSES, height, width).astype(np.float32)
    argmax_host = ArgMax()
    rows = [("host: float blob (blobFromImageWithParams)", host_ms(lambda: blob_host(frame)), "ms CPU"),
            ("host: cv2.resize to uint8 (the folded path)", host_ms(lambda: resize_host(frame)), "ms CPU"),
            ("host: argmax of 19x512x1024 scores (ArgMax)", host_ms(lambda: argmax_host(scores_host)), "ms CPU")]

    cuda = torch.device("cuda")
    blob = torch.from_numpy(blob_host(frame)).pin_memory()
    frame_u8 = torch.from_numpy(resize_host(frame)).pin_memory()
    scores = torch.randn(1, CLASSES, height, width, device=cuda)
    scores_pinned = torch.empty(1, CLASSES, height, width).pin_memory()
    classmap_pinned = torch.empty(1, height, width, dtype=torch.uint8).pin_memory()
    weight = torch.randn(3, 3, 1, 1, device=cuda)
    bias = torch.randn(3, device=cuda)
    frame_gpu = frame_u8.to(cuda)
    rows += [
        ("bus: float blob to the device (6 MB)", gpu_ms(lambda: blob.to(cuda, non_blocking=True)), "ms"),
        ("bus: uint8 frame to the device (1.5 MB)", gpu_ms(lambda: frame_u8.to(cuda, non_blocking=True)), "ms"),
        ("bus: scores to the host (40 MB)", gpu_ms(lambda: scores_pinned.copy_(scores, non_blocking=True)), "ms"),
        ("bus: uint8 class map to the host (0.5 MB)",
         gpu_ms(lambda: classmap_pinned.copy_(scores.argmax(1).to(torch.uint8), non_blocking=True)),
         "ms (incl. argmax)"),
        ("GPU: folded preprocessing (Cast, Transpose, 1x1 Conv)",
         gpu_ms(lambda: torch.nn.functional.conv2d(frame_gpu.float().permute(0, 3, 1, 2), weight, bias)), "ms"),
        ("GPU: ArgMax + cast to uint8", gpu_ms(lambda: scores.argmax(1).to(torch.uint8)), "ms"),
    ]
    print("{} at {}x{} from a 960x540 frame, {} classes; medians of {} runs".format(
        torch.cuda.get_device_name(0), width, height, CLASSES, RUNS))
    print("| step | time | |\n|---|---|---|")
    for name, ms, unit in rows:
        print("| {} | {:.3f} | {} |".format(name, ms, unit))


if __name__ == "__main__":
    main()
