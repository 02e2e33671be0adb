"""INT8 accuracy on real data: ENet with the PyTorch-ENet CamVid checkpoint, calibrated on CamVid train with
`edgeseg calibrate`'s defaults (method auto, up to 500 images: all 367), FP32 vs both shipped INT8 models on CamVid
val (11 classes, void ignored): the TensorRT s8/s8 Q/DQ model (run on ONNX Runtime, which executes Q/DQ as
written) and the ONNX Runtime u8/s8 one, with the IoU change of the small classes and a 95% interval of the drop
over the val images (2000 paired bootstrap draws: FP32 and INT8 scored on the same draw). Target: TensorRT Q/DQ
drop <= 0.5 point (issue 15).

    .venv/bin/python benchmarks/int8_enet_camvid.py [--data ../shared/data] [--num 500] [--methods auto,mse]
"""
import argparse
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edgeseg.evaluate import evaluate
from edgeseg.metrics import drop_interval
from edgeseg.palettes import get_palette
from edgeseg.quantize import calibrate
from edgeseg.runtime import open_artifact
from edgeseg.workstation.export import export

METHODS = ("auto",)  # calibrate's default; mse, entropy, percentile or minmax name one


SMALL = ("pedestrian", "bicyclist", "sign_symbol", "pole")  # the classes INT8 costs first


class _Recorder(object):
    """A segmenter that keeps its class maps (`kept`) or counts the pixels where they differ from `reference`'s."""

    def __init__(self, segmenter: Any, reference: Optional[List[np.ndarray]]) -> None:
        self.segmenter: Any = segmenter
        self.reference: Any = reference
        self.kept: List[np.ndarray] = []
        self.differ = self.pixels = self.seen = 0

    def predict(self, image: np.ndarray) -> np.ndarray:
        prediction = self.segmenter.predict(image)
        if self.reference is None:
            self.kept.append(prediction)
        else:
            self.differ += int(np.count_nonzero(prediction != self.reference[self.seen]))
            self.pixels += prediction.size
        self.seen += 1
        return prediction

    def __getattr__(self, name: str) -> Any:
        return getattr(self.segmenter, name)


def scores(path: str, val: str, ignore_index: int = 11, reference: Optional[dict] = None) -> dict:
    """`edgeseg eval`'s summary of `path` on `val`, with "counts" (each image's confusion counts); with
    `reference` (an FP32 summary from this function) also "disagreement": the share of pixels whose class
    differs from the reference's, labels aside, and "drop_interval": the 95% interval of the mIoU drop."""
    counts: List[np.ndarray] = []
    with open_artifact(path) as segmenter:
        recorder = _Recorder(segmenter, reference["class_maps"] if reference else None)
        summary = evaluate(recorder, val, ignore_index=ignore_index, per_image=counts)
    summary["counts"] = counts
    if reference is None:
        summary["class_maps"] = recorder.kept
    else:
        summary["disagreement"] = recorder.differ / max(1, recorder.pixels)
        summary["drop_interval"] = drop_interval(reference["counts"], counts, ignore_index, draws=2000)
    return summary


def export_enet(data: str) -> Tuple[str, str, str]:
    """ENet exported at 480x360 with the shared CamVid checkpoint, in a new temporary folder:
    (the ONNX model, CamVid's train list, its val list)."""
    camvid = os.path.join(data, "camvid")
    folder = tempfile.mkdtemp(prefix="edgeseg-enet-int8-")
    names = os.path.join(folder, "classes.txt")
    with open(names, "w") as f:
        f.write("\n".join(get_palette("camvid").names + ["void"]) + "\n")
    model = os.path.join(folder, "enet_camvid_480x360.onnx")
    export("enet", 12, (480, 360), model, weights=os.path.join(data, "weights", "enet_camvid_davidtvs_921e40c.pt"),
           classes=names, log=lambda *_: None)
    return model, os.path.join(camvid, "train.txt"), os.path.join(camvid, "val.txt")


def enet_arguments(doc: str, *extra: Tuple[str, Dict[str, Any]], num: int = 500,
                   methods: Sequence[str] = METHODS) -> argparse.Namespace:
    """--data (the shared data), --num (calibration images), --methods (and `extra` arguments), for the ENet
    CamVid benchmarks."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for flag, options in extra:
        parser.add_argument(flag, **options)
    parser.add_argument("--data", default=os.environ.get("EDGESEG_SHARED_DATA", "../shared/data"))
    parser.add_argument("--num", type=int, default=num, help="calibration images (default {})".format(num))
    parser.add_argument("--methods", default=",".join(methods))
    return parser.parse_args()


def main() -> None:
    args = enet_arguments(__doc__)
    model, train, val = export_enet(args.data)
    fp32 = scores(model, val)
    print("ENet CamVid val ({} images, 480x360, 11 classes, void ignored): FP32 mIoU {:.2%}".format(
        fp32["images"], fp32["miou"]))
    small = [name for name in SMALL if name in fp32["per_class_iou"]]
    print("| method | INT8 model | mIoU | drop (points) [95% interval] | pixels changed | " + " | ".join(small)
          + " (IoU change, points) |")
    print("|---|---|---|---|---|" + "---|" * len(small))
    for method in args.methods.split(","):
        manifest = calibrate(model, train, num=args.num, method=method,
                             out_dir=os.path.join(os.path.dirname(model), "calibration"), log=lambda *_: None)
        folder_of = os.path.dirname(manifest["path"])
        label = method if method != "auto" else "auto ({}), {} images".format(manifest["method"], manifest["count"])
        for key, name in (("tensorrt_qdq", "TensorRT Q/DQ"), ("onnxruntime_int8", "ONNX Runtime u8/s8")):
            path = os.path.join(folder_of, manifest["outputs"][key]["file"])
            int8 = scores(path, val, reference=fp32)
            low, high = int8["drop_interval"]
            changes = ["{:+.2f}".format(100 * (int8["per_class_iou"][n] - fp32["per_class_iou"][n])) for n in small]
            print("| {} | {} | {:.2%} | {:.2f} [{:.2f}, {:.2f}] | {:.2%} | {} |".format(
                label, name, int8["miou"], 100 * (fp32["miou"] - int8["miou"]), low, high, int8["disagreement"],
                " | ".join(changes)), flush=True)


if __name__ == "__main__":
    main()
