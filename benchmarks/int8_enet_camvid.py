"""INT8 accuracy on real data: ENet with the PyTorch-ENet CamVid checkpoint, calibrated on 100 CamVid
train images with each method, FP32 vs INT8 (ONNX Runtime u8/s8 Q/DQ) mIoU on CamVid val (11 classes,
void ignored). Target: drop <= 1.0 point.

    .venv/bin/python benchmarks/int8_enet_camvid.py [--data ../shared/data] [--num 100]
"""
import argparse
import os
import tempfile

from edgeseg.calibrate import calibrate
from edgeseg.evaluate import evaluate
from edgeseg.export import export
from edgeseg.palettes import get_palette
from edgeseg.runtime import open_artifact

METHODS = ("minmax", "entropy", "percentile")


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
    weights = os.path.join(args.data, "weights", "enet_camvid_davidtvs_921e40c.pt")
    folder = tempfile.mkdtemp(prefix="edgeseg-enet-int8-")
    names = os.path.join(folder, "classes.txt")
    with open(names, "w") as f:
        f.write("\n".join(get_palette("camvid").names + ["void"]) + "\n")
    model = os.path.join(folder, "enet_camvid_480x360.onnx")
    export("enet", 12, (480, 360), model, weights=weights, classes=names, log=lambda *_: None)
    val = os.path.join(camvid, "val.txt")
    fp32 = miou(model, val)
    print("ENet CamVid val (101 images, 480x360, 11 classes, void ignored): FP32 mIoU {:.2%}".format(fp32))
    print("| method | FP32 mIoU | INT8 mIoU | drop (points) |")
    print("|---|---|---|---|")
    for method in args.methods.split(","):
        manifest = calibrate(model, os.path.join(camvid, "train.txt"), num=args.num, method=method,
                             out_dir=os.path.join(folder, "calibration"), models_dir=os.path.join(folder, method),
                             log=lambda *_: None)
        int8_path = os.path.join(os.path.dirname(manifest["path"]), manifest["outputs"]["onnxruntime_int8"])
        int8 = miou(int8_path, val)
        print("| {} | {:.2%} | {:.2%} | {:.2f} |".format(method, fp32, int8, 100 * (fp32 - int8)), flush=True)


if __name__ == "__main__":
    main()
