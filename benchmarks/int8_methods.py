"""Which calibration pays, on real data, for both shipped INT8 models: ENet with the PyTorch-ENet CamVid
checkpoint (480x360), calibrated on 100 CamVid train images with each method (minmax, entropy, percentile),
weights per channel (edgeseg's default) and per tensor, both INT8 models scored on CamVid val (101 images,
11 classes, void ignored): the TensorRT s8/s8 Q/DQ model (on ONNX Runtime, which runs Q/DQ as written) and
the ONNX Runtime u8/s8 one. One calibration per method; the per-tensor models come from the same ranges.

    .venv/bin/python benchmarks/int8_methods.py [--data ../shared/data] [--num 100] [--methods minmax,entropy]
"""
import argparse
import os
import tempfile

from edgeseg.calibrate import calibrate, load_ranges, quantize_from_ranges
from edgeseg.evaluate import evaluate
from edgeseg.export import export
from edgeseg.palettes import get_palette
from edgeseg.runtime import open_artifact

METHODS = ("minmax", "entropy", "percentile")
MODELS = (("tensorrt_qdq", "tensorrt", "TensorRT Q/DQ"), ("onnxruntime_int8", "onnxruntime", "ONNX Runtime u8/s8"))


def miou(path: str, val: str) -> float:
    with open_artifact(path) as segmenter:
        return evaluate(segmenter, val, ignore_index=11)["miou"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("EDGESEG_SHARED_DATA", "../shared/data"))
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    camvid = os.path.join(args.data, "camvid")
    folder = tempfile.mkdtemp(prefix="edgeseg-int8-methods-")
    names = os.path.join(folder, "classes.txt")
    with open(names, "w") as f:
        f.write("\n".join(get_palette("camvid").names + ["void"]) + "\n")
    model = os.path.join(folder, "enet_camvid_480x360.onnx")
    export("enet", 12, (480, 360), model, weights=os.path.join(args.data, "weights", "enet_camvid_davidtvs_921e40c.pt"),
           classes=names, log=lambda *_: None)
    val = os.path.join(camvid, "val.txt")
    fp32 = miou(model, val)
    print("ENet CamVid val (101 images, 480x360): FP32 mIoU {:.2%}; INT8 mIoU (drop in points)".format(fp32))
    print("| method | weights | TensorRT Q/DQ | ONNX Runtime u8/s8 |")
    print("|---|---|---|---|")
    for method in args.methods.split(","):
        manifest = calibrate(model, os.path.join(camvid, "train.txt"), num=args.num, method=method,
                             out_dir=os.path.join(folder, "calibration"), log=lambda *_: None)
        here = os.path.dirname(manifest["path"])
        cells = ["{:.2%} ({:.2f})".format(m, 100 * (fp32 - m)) for m in
                 (miou(os.path.join(here, manifest["outputs"][key]["file"]), val) for key, _, _ in MODELS)]
        print("| {} | per channel | {} |".format(method, " | ".join(cells)), flush=True)
        ranges, _ = load_ranges(os.path.join(here, "ranges.json"), model)
        paths = [os.path.join(here, "per_tensor_{}.onnx".format(target)) for _, target, _ in MODELS]
        quantize_from_ranges(model, ranges, paths[0], paths[1], method=method, log=lambda *_: None, per_channel=False)
        cells = ["{:.2%} ({:.2f})".format(m, 100 * (fp32 - m)) for m in (miou(path, val) for path in paths)]
        print("| {} | per tensor | {} |".format(method, " | ".join(cells)), flush=True)


if __name__ == "__main__":
    main()
