"""Which calibration pays, on real data, for both shipped INT8 models: ENet with the PyTorch-ENet CamVid
checkpoint (480x360), calibrated on 100 CamVid train images with each method (mse, minmax, entropy, percentile),
weights per channel (edgeseg's default) and per tensor, both INT8 models scored on CamVid val (101 images,
11 classes, void ignored): the TensorRT s8/s8 Q/DQ model (on ONNX Runtime, which runs Q/DQ as written) and
the ONNX Runtime u8/s8 one: mIoU, and the share of pixels whose class differs from FP32's (fidelity, which
needs no labels and is far less noisy than an mIoU difference). One calibration per method; the per-tensor
models come from the same ranges.
`--model ONNX --train DATA --val DATA` runs the same table for another exported model (a trained one:
an untrained model agrees with anything).

    .venv/bin/python benchmarks/int8_methods.py [--data ../shared/data] [--num 100] [--methods minmax,entropy]
    .venv/bin/python benchmarks/int8_methods.py --model runs/demo/bisenetv2_synthetic_256x128.onnx \
        --train runs/demo/synthetic_calibration --val runs/demo/synthetic_val --ignore-index 255 --num 32
"""
import os

from int8_enet_camvid import enet_arguments, export_enet, scores  # beside this script

from edgeseg.quantize import calibrate, load_ranges, quantize_from_ranges

MODELS = (("tensorrt_qdq", "tensorrt", "TensorRT Q/DQ"), ("onnxruntime_int8", "onnxruntime", "ONNX Runtime u8/s8"))


def main() -> None:
    args = enet_arguments(__doc__, ("--model", {"help": "an exported ONNX model instead of ENet"}),
                          ("--train", {"help": "its calibration images"}), ("--val", {"help": "its labelled data"}),
                          ("--ignore-index", {"type": int, "default": 11, "help": "label to ignore (11: void)"}),
                          num=100, methods=("mse", "minmax", "entropy", "percentile"))
    model, train, val = (args.model, args.train, args.val) if args.model else export_enet(args.data)

    reference = scores(model, val, args.ignore_index)
    fp32 = reference["miou"]

    def cell(path: str) -> str:
        int8 = scores(path, val, args.ignore_index, reference)
        return "{:.2%} ({:.2f}), {:.2%}".format(int8["miou"], 100 * (fp32 - int8["miou"]), int8["disagreement"])

    print("{} on {}: FP32 mIoU {:.2%}; INT8 mIoU (drop in points), pixels whose class differs from FP32's".format(
        os.path.basename(model), val, fp32))
    print("| method | weights | TensorRT Q/DQ | ONNX Runtime u8/s8 |")
    print("|---|---|---|---|")
    for method in args.methods.split(","):
        manifest = calibrate(model, train, num=args.num, method=method,
                             out_dir=os.path.join(os.path.dirname(model), "calibration"), log=lambda *_: None)
        here = os.path.dirname(manifest["path"])
        cells = [cell(os.path.join(here, manifest["outputs"][key]["file"])) for key, _, _ in MODELS]
        print("| {} | per channel | {} |".format(method, " | ".join(cells)), flush=True)
        ranges, _ = load_ranges(os.path.join(here, "ranges.json"), model)
        paths = [os.path.join(here, "per_tensor_{}.onnx".format(target)) for _, target, _ in MODELS]
        quantize_from_ranges(model, ranges, paths[0], paths[1], method=method, log=lambda *_: None, per_channel=False)
        cells = [cell(path) for path in paths]
        print("| {} | per tensor | {} |".format(method, " | ".join(cells)), flush=True)


if __name__ == "__main__":
    main()
