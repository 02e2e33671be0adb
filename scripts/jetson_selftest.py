"""Verify a Jetson's TensorRT in one command, with a model whose answer is known exactly.

The probe model (edgeseg.probe_model: ONNX operators only, a plain-numpy oracle for its class map) is
written here, without torch, and built in every variant: fp16 and int8, on the GPU and on each DLA
core (int8 calibrated on probe-labelled synthetic scenes). Each engine segments synthetic street frames
that were not calibration images; its class map is compared pixel by pixel with the oracle and with ONNX
Runtime FP32 of the same probe (a first row checks that those two agree exactly), and the worst frame's
agreement must reach the precision's threshold. Each engine is benchmarked (p50 ms). Then a PASS/FAIL
table: exit 0 when every row passes, 1 otherwise, 2 without TensorRT.

Thresholds (worst frame, against the oracle and against ONNX Runtime FP32):
  fp32 = 100% (the reference row): the probe is exact in float32 (dyadic weights and preprocessing).
  fp16 >= 99%: the probe's logits have near ties, so FP16 flips a few pixels: FP16 convolutions on a GPU
        (cuDNN) keep 99.88% on the worst of 16 frames, as a numpy emulation of FP16 rounding does.
  int8 >= 90%: the explicit Q/DQ probe (GPU) keeps 98.4% on the worst frame (ONNX Runtime), an emulation
        of implicit INT8 with every tensor quantized (the DLA path, most pessimistic) 92.3%.
  A broken engine stays far below both: one that ignores its input scores <= 62%, one with classes 0
  and 1 swapped <= 70%, the previous frame's answer <= 50%, a constant class map <= 44%.
  Under the TensorRT test double the fp16 and DLA engines run the FP32 model: 100%.

What differs between TensorRT versions (edgeseg/runtime/tensorrt/compat.py) is exercised on this device's:
  - the calibration cache is written with TensorRT 8.5.2's header, as `edgeseg calibrate` writes it by
    default, so on any other TensorRT each DLA int8 row proves that `build` re-tags it (TensorRT skips a
    cache from another version and the build then fails for want of scales); the row says when it did;
  - every engine runs through the named-tensor API with each tensor address checked;
  - a "GPU, threads" row runs the first GPU engine on a worker thread, closes it from another thread
    (as a stream loop and a signal handler do), then opens and runs it again;
  - on a strongly typed TensorRT (11: no FP16 builder flag) the probe is built fp32 and int8 (Q/DQ) on
    the GPU, and a row checks that fp16 is refused in one line rather than built as FP32;
  - each GPU int8 row sets the fusion lint of the Q/DQ model (edgeseg/quantize/lint.py, which stands in for
    the layer report where TensorRT cannot run) beside the engine inspector's real per-layer precisions.

Your own exported models can be built and benchmarked beside the probe (--onnx-dir DIR with <model>.onnx
files, or --models NAMES exported here where torch is installed). They have no oracle and may be
untrained (an untrained model agrees with anything that is also constant), so their rows are INFO, never
PASS: they report agreement with ONNX Runtime FP32, and are FAIL only when the build or run fails or the
agreement is under the threshold. Only the probe rows can pass the self-test.
"""
import argparse
import glob
import json
import os
import sys
import threading
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgeseg.bench import bench
from edgeseg.data.synthetic import render_scene, write_dataset
from edgeseg.errors import ConfigError
from edgeseg.preprocess import parse_size
from edgeseg.probe_model import expected_class_map, write_probe_dataset, write_probe_model
from edgeseg.quantize import calibrate
from edgeseg.runtime import open_artifact
from edgeseg.runtime.builder import build
from edgeseg.runtime.tensorrt import dla_core_count, environment, tensorrt_available
from edgeseg.runtime.tensorrt.compat import import_tensorrt, strongly_typed_only

THRESHOLDS = {"fp32": 1.0, "fp16": 0.99, "int8": 0.90}  # worst frame's pixel agreement (see above)
FRAME_SEED = 500  # test frames: scenes 500, 501, ...
CALIBRATION_SEED = 1000  # calibration images: scenes 1000, 1001, ... (never test frames)
CALIBRATION_IMAGES = 16
Size = Tuple[int, int]


def quiet(*_: Any) -> None:
    pass


def class_maps(path: str, frames: Sequence[np.ndarray], iterations: int = 0) -> Tuple[List[np.ndarray], float]:
    """Each frame's class map through the artifact at `path`, and (iterations > 0) its p50 latency in ms."""
    with open_artifact(path) as segmenter:
        maps = [segmenter.predict(frame) for frame in frames]
        p50 = bench(segmenter, iterations, min(10, iterations))["latency_ms"]["p50"] if iterations else float("nan")
    return maps, p50


def worst_agreement(maps: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> float:
    """The lowest share of equal pixels over the frames."""
    return min(float(np.mean(a == b)) for a, b in zip(maps, references))


def error_text(exc: BaseException) -> str:
    if os.environ.get("EDGESEG_DEBUG"):
        traceback.print_exc()
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def engine_row(model: str, onnx_path: str, precision: str, core: Optional[int], folder: str,
               calibration: Tuple[Optional[str], Optional[str]], frames: Sequence[np.ndarray],
               references: Dict[str, Sequence[np.ndarray]], iterations: int) -> Dict[str, Any]:
    """Build one variant, segment the frames, compare with each reference, benchmark; a failure is a row."""
    where = "GPU" if core is None else "DLA{}".format(core)
    row: Dict[str, Any] = {"model": model, "precision": precision, "device": where}
    engine = os.path.join(folder, "{}_{}_{}.engine".format(model, precision, where.lower()))
    try:
        manifest, calibration_error = calibration if precision == "int8" else (None, None)
        if calibration_error:
            raise RuntimeError("calibration failed: {}".format(calibration_error))
        _, sidecar, _ = build(onnx_path, engine, precision, calibration=manifest, dla_core=core)
        maps, row["p50_ms"] = class_maps(engine, frames, iterations)
        row["agreement"] = [(name, worst_agreement(maps, refs)) for name, refs in references.items()]
        if sidecar.get("calibration_cache_retagged_from"):
            row["note"] = "cache {} re-tagged as {}".format(sidecar["calibration_cache_retagged_from"],
                                                         sidecar["calibration_cache_header"])
        if sidecar.get("int8_mode") == "explicit-qdq" and sidecar.get("layer_report"):
            row["note"] = lint_against_engine(manifest, sidecar["layer_report"])
    except Exception as exc:  # a failed build (or run) is a row, not a crash
        row["error"] = error_text(exc)
    return row


def lint_against_engine(manifest: str, layer_report: str) -> str:
    """The fusion lint of the Q/DQ model beside what the engine inspector says TensorRT made of it."""
    with open(manifest) as f:
        calibration = json.load(f)
    lint = calibration.get("fusion_lint") or {}
    with open(layer_report) as f:
        layers = json.load(f).get("layers", [])
    int8 = sum(1 for layer in layers if layer.get("precision") == "int8")
    return "lint: {} of {} weighted layers INT8, {} float island(s); engine: {} of {} layers INT8".format(
        lint.get("int8_layers"), lint.get("weighted_layers"), lint.get("float_islands"), int8, len(layers))


def judge(row: Dict[str, Any], informational: bool) -> Dict[str, Any]:
    threshold = THRESHOLDS[row["precision"]]
    good = "error" not in row and all(value >= threshold for _, value in row["agreement"])
    row["result"] = "FAIL" if not good else "INFO" if informational else "PASS"
    if "error" in row:
        row["detail"] = row["error"]
    elif not row["agreement"]:  # a check without frames (fp16 refused)
        row["detail"] = row["note"]
    else:
        shares = ", ".join("{} {:.2%}".format(name, value) for name, value in row["agreement"])
        note = "; no oracle: informational" if informational else ""
        timing = "" if np.isnan(row.get("p50_ms", float("nan"))) else ", p50 {:.2f} ms".format(row["p50_ms"])
        extra = "; {}".format(row["note"]) if row.get("note") else ""
        row["detail"] = "{} (worst frame, needs >= {:.0%}{}){}{}".format(shares, threshold, note, timing, extra)
    return row


def print_row(row: Dict[str, Any]) -> None:
    print("| {} | {} | {} | {} | {} |".format(row["model"], row["precision"], row["device"], row["result"],
                                             row["detail"]), flush=True)


def variants(cores: int, strongly_typed: bool) -> List[Tuple[str, Optional[int]]]:
    """(precision, DLA core or None) to build: fp16 and int8 on the GPU and each DLA core; a strongly typed
    TensorRT has no fp16 (nor implicit INT8, the DLA's): fp32 and Q/DQ int8 on the GPU."""
    if strongly_typed:
        return [("fp32", None), ("int8", None)]
    return [(precision, core) for precision in ("fp16", "int8") for core in [None] + list(range(cores))]


def calibrated(onnx_path: str, data: str, folder: str) -> Tuple[Optional[str], Optional[str]]:
    """(manifest path, None), or (None, the error) when calibration fails. The cache keeps calibrate's
    default header (TensorRT 8.5.2's): `build` must re-tag it for this TensorRT."""
    try:
        return calibrate(onnx_path, data, num=CALIBRATION_IMAGES, method="entropy",
                         out_dir=os.path.join(folder, "calibration"), log=quiet)["path"], None
    except Exception as exc:
        return None, error_text(exc)


def threads_row(engine: str, precision: str, frames: Sequence[np.ndarray],
                oracle: Sequence[np.ndarray]) -> Dict[str, Any]:
    """The engine run on one worker thread and closed from another, then opened and run again here."""
    row: Dict[str, Any] = {"model": "probe", "precision": precision, "device": "GPU, threads"}
    results: List[Any] = []

    def in_thread(work: Any) -> None:
        def run() -> None:
            try:
                results.append(work())
            except Exception as exc:  # reported in the row
                results.append(exc)
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if isinstance(results[-1], Exception):
            raise results[-1]

    try:
        segmenter = open_artifact(engine)
        in_thread(lambda: [segmenter.predict(frame) for frame in frames])
        in_thread(segmenter.close)
        row["agreement"] = [("oracle (worker thread)", worst_agreement(results[0], oracle)),
                            ("oracle (reopened)", worst_agreement(class_maps(engine, frames)[0], oracle))]
    except Exception as exc:
        row["error"] = error_text(exc)
    return row


def fp16_refused_row(onnx_path: str, folder: str) -> Dict[str, Any]:
    """On a strongly typed TensorRT, fp16 must be refused (one line), never built as FP32."""
    row: Dict[str, Any] = {"model": "probe", "precision": "fp16", "device": "GPU (refused)"}
    try:
        build(onnx_path, os.path.join(folder, "probe_fp16_refused.engine"), "fp16")
        row["error"] = "fp16 was built on a strongly typed TensorRT: it can only be FP32"
    except ConfigError as exc:
        text = error_text(exc).replace(os.path.dirname(onnx_path) + os.sep, "")
        row["agreement"], row["note"] = [], "refused: {}".format(text[:160])
    except Exception as exc:
        row["error"] = error_text(exc)
    return row


def probe_rows(size: Size, folder: str, output_kind: str, frames: Sequence[np.ndarray], cores: int,
               iterations: int, strongly_typed: bool) -> List[Dict[str, Any]]:
    """The reference row (ONNX Runtime FP32 against the oracle), then every engine variant of the probe."""
    os.makedirs(folder, exist_ok=True)
    onnx_path = os.path.join(folder, "probe_{}x{}.onnx".format(*size))
    write_probe_model(onnx_path, size, output_kind)
    oracle = [expected_class_map(frame, size) for frame in frames]
    reference: Dict[str, Any] = {"model": "probe", "precision": "fp32", "device": "CPU (ONNX Runtime)"}
    onnxruntime_maps: List[np.ndarray] = []
    try:
        onnxruntime_maps = class_maps(onnx_path, frames)[0]
        reference["agreement"] = [("oracle", worst_agreement(onnxruntime_maps, oracle))]
    except Exception as exc:
        reference["error"] = error_text(exc)
    rows = [judge(reference, False)]
    print_row(rows[0])
    references: Dict[str, Sequence[np.ndarray]] = {"oracle": oracle}
    if onnxruntime_maps:
        references["ONNX Runtime"] = onnxruntime_maps
    data = write_probe_dataset(os.path.join(folder, "calibration_images"), CALIBRATION_IMAGES, size,
                               seed=CALIBRATION_SEED)
    calibration = calibrated(onnx_path, data, folder)
    for precision, core in variants(cores, strongly_typed):
        rows.append(judge(engine_row("probe", onnx_path, precision, core, folder, calibration, frames, references,
                                     iterations), False))
        print_row(rows[-1])
    first = variants(cores, strongly_typed)[0][0]
    extra = [threads_row(os.path.join(folder, "probe_{}_gpu.engine".format(first)), first, frames, oracle)]
    if strongly_typed:
        extra.append(fp16_refused_row(onnx_path, folder))
    for row in extra:
        rows.append(judge(row, False))
        print_row(rows[-1])
    return rows


def user_models(names: Optional[str], onnx_dir: Optional[str], size: Size,
                folder: str) -> List[Tuple[str, str, Optional[str]]]:
    """(name, ONNX path, error) of the user's models: --onnx-dir's <model>.onnx (those in --models, else
    all), or the registry models in --models exported here (needs torch)."""
    wanted = [n for n in (names or "").split(",") if n]
    if onnx_dir:
        paths = ([os.path.join(onnx_dir, "{}.onnx".format(n)) for n in wanted] if wanted
                 else sorted(glob.glob(os.path.join(onnx_dir, "*.onnx"))))
        return [(os.path.splitext(os.path.basename(p))[0], p, None) for p in paths]
    models: List[Tuple[str, str, Optional[str]]] = []
    for name in wanted:
        path = os.path.join(folder, name, "{}_{}x{}.onnx".format(name, *size))
        try:
            from edgeseg.workstation.export import export  # needs torch

            os.makedirs(os.path.dirname(path), exist_ok=True)
            export(name, 19, size, path, log=quiet)
            models.append((name, path, None))
        except Exception as exc:
            models.append((name, path, "export failed: {}".format(error_text(exc))))
    return models


def user_rows(models: Sequence[Tuple[str, str, Optional[str]]], size: Size, folder: str,
              frames: Sequence[np.ndarray], cores: int, iterations: int,
              strongly_typed: bool) -> List[Dict[str, Any]]:
    """INFO rows (FAIL when a step fails or agreement with ONNX Runtime FP32 is under the threshold)."""
    rows: List[Dict[str, Any]] = []
    for name, onnx_path, error in models:
        where = os.path.join(folder, name)
        try:
            if error:
                raise RuntimeError(error)
            os.makedirs(where, exist_ok=True)
            references: Dict[str, Sequence[np.ndarray]] = {"ONNX Runtime": class_maps(onnx_path, frames)[0]}
            scenes = write_dataset(os.path.join(where, "scenes"), CALIBRATION_IMAGES, size[0], size[1],
                                   seed=CALIBRATION_SEED)
            calibration = calibrated(onnx_path, scenes, where)
        except Exception as exc:
            rows.append(judge({"model": name, "precision": "fp32", "device": "CPU (ONNX Runtime)",
                               "error": error_text(exc)}, True))
            print_row(rows[-1])
            continue
        for precision, core in variants(cores, strongly_typed):
            rows.append(judge(engine_row(name, onnx_path, precision, core, where, calibration, frames, references,
                                         iterations), True))
            print_row(rows[-1])
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512x256", help="probe input WIDTHxHEIGHT (default 512x256)")
    parser.add_argument("--frames", type=int, default=4, help="synthetic test frames per engine (default 4)")
    parser.add_argument("--iterations", type=int, default=50, help="benchmark iterations per engine (default 50)")
    parser.add_argument("--output-kind", default="logits", choices=("logits", "classmap"),
                        help="probe output: logits (argmax on the host) or classmap (ArgMax in the engine)")
    parser.add_argument("--out", default="runs/selftest")
    parser.add_argument("--onnx-dir", help="also build your exported <model>.onnx files from DIR (INFO rows)")
    parser.add_argument("--models", help="with --onnx-dir: which of its models; without: registry models to "
                                         "export here (needs torch) and build (INFO rows)")
    args = parser.parse_args(argv)
    try:
        available = tensorrt_available()
    except ConfigError as exc:  # a TensorRT edgeseg does not support
        print("edgeseg: {}".format(exc))
        return 2
    if not available:
        print("TensorRT and pycuda not found: this self-test runs on a Jetson (or a CUDA machine with TensorRT)")
        return 2
    size = parse_size(args.size)
    cores = dla_core_count()
    typed = strongly_typed_only(import_tensorrt())
    frames = [render_scene(FRAME_SEED + i, size[0], size[1])[0] for i in range(max(1, args.frames))]
    print("edgeseg Jetson self-test: TensorRT {}{}, the probe model at {}x{} ({}), {} frames, GPU + {} DLA core(s)"
          .format(environment()["tensorrt_version"], " (strongly typed only)" if typed else "", size[0], size[1],
                  args.output_kind, len(frames), cores))
    print("| model | precision | device | result | detail |\n|---|---|---|---|---|", flush=True)
    rows = probe_rows(size, os.path.join(args.out, "probe"), args.output_kind, frames, cores, args.iterations, typed)
    models = user_models(args.models, args.onnx_dir, size, args.out) if (args.onnx_dir or args.models) else []
    extra = user_rows(models, size, args.out, frames, cores, args.iterations, typed)
    passed = sum(row["result"] == "PASS" for row in rows)
    print("{} of {} passed".format(passed, len(rows)))
    failed_extra = sum(row["result"] == "FAIL" for row in extra)
    if models:
        print("your models: {} rows informational (agreement with ONNX Runtime only), {} failed".format(
            len(extra) - failed_extra, failed_extra))
    return 1 if passed < len(rows) or failed_extra else 0


if __name__ == "__main__":
    sys.exit(main())
