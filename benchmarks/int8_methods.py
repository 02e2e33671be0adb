"""Which calibration pays, on real data, for both shipped INT8 models: ENet with the PyTorch-ENet CamVid
checkpoint (480x360), calibrated on 100 CamVid train images with each method (minmax, entropy, percentile),
weights per channel (edgeseg's default) and per tensor, both INT8 models scored on CamVid val (101 images,
11 classes, void ignored): the TensorRT s8/s8 Q/DQ model (on ONNX Runtime, which runs Q/DQ as written) and
the ONNX Runtime u8/s8 one. One calibration per method; the per-tensor models come from the same ranges.

    .venv/bin/python benchmarks/int8_methods.py [--data ../shared/data] [--num 100] [--methods minmax,entropy]
"""
import os

from int8_enet_camvid import enet_arguments, export_enet, scores  # beside this script

from edgeseg.calibrate import calibrate, load_ranges, quantize_from_ranges

MODELS = (("tensorrt_qdq", "tensorrt", "TensorRT Q/DQ"), ("onnxruntime_int8", "onnxruntime", "ONNX Runtime u8/s8"))


def miou(path: str, val: str) -> float:
    return scores(path, val)["miou"]


def main() -> None:
    args = enet_arguments(__doc__)
    model, train, val = export_enet(args.data)
    fp32 = miou(model, val)
    print("ENet CamVid val (101 images, 480x360): FP32 mIoU {:.2%}; INT8 mIoU (drop in points)".format(fp32))
    print("| method | weights | TensorRT Q/DQ | ONNX Runtime u8/s8 |")
    print("|---|---|---|---|")
    for method in args.methods.split(","):
        manifest = calibrate(model, train, num=args.num, method=method,
                             out_dir=os.path.join(os.path.dirname(model), "calibration"), log=lambda *_: None)
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
