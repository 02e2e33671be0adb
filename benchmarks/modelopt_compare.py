"""edgeseg's TensorRT Q/DQ placement against NVIDIA ModelOpt's ONNX INT8 placement, per op type.

ModelOpt pins its own onnx/onnxruntime, so it runs in a separate environment (never an edgeseg
dependency): make one with `python3 -m venv /tmp/mo && /tmp/mo/bin/pip install "nvidia-modelopt[onnx]"`
and pass its interpreter. Both quantize the same exported models (untrained: placement does not depend on
the weights) from the same preprocessed synthetic scenes; the table counts, per model and op type, the
inputs fed through a DequantizeLinear, and the fusion lint (edgeseg/quantize/lint.py) of each.

    .venv/bin/python benchmarks/modelopt_compare.py --modelopt-python /tmp/mo/bin/python [--size 512x256]
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from qdq_placement import placement_arguments, qdq_consumers  # beside this script

from edgeseg.imageio import read_image as read_image_bgr
from edgeseg.preprocess import Preprocessor, PreprocessSpec
from edgeseg.quantize import calibrate, read_manifest
from edgeseg.quantize.lint import lint
from edgeseg.workstation.export import export

MODELOPT = r'''
import sys
import numpy as np
from modelopt.onnx.quantization import quantize
quantize(sys.argv[1], quantize_mode="int8", calibration_data=np.load(sys.argv[2]), calibration_method="max",
         calibration_eps=["cpu"], output_path=sys.argv[3], high_precision_dtype="fp32")
'''


def main() -> None:
    args, size, folder, scenes = placement_arguments(__doc__, ("--modelopt-python", {
        "required": True, "help": "an interpreter with nvidia-modelopt[onnx]"}))
    print("| model | op | edgeseg | ModelOpt |\n|---|---|---|---|")
    lints = []
    for name in args.models.split(","):
        path = os.path.join(folder, "{}.onnx".format(name))
        sidecar = export(name, 19, size, path, log=lambda *_: None)
        manifest = read_manifest(calibrate(path, scenes, num=4, method="minmax",
                                           out_dir=os.path.join(folder, "calibration"), log=lambda *_: None)["path"])
        preprocess = Preprocessor(PreprocessSpec.from_dict(sidecar["preprocess"]))
        data = os.path.join(folder, "{}_calibration.npy".format(name))
        np.save(data, np.concatenate([preprocess(read_image_bgr(os.path.join(manifest["data_root"], r["path"])))
                                      for r in manifest["images"]]))
        theirs_path = os.path.join(folder, "{}_modelopt.onnx".format(name))
        done = subprocess.run([args.modelopt_python, "-c", MODELOPT, path, data, theirs_path],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if done.returncode != 0:
            print("| {} | ModelOpt failed: {} | | |".format(name, done.stdout.strip().splitlines()[-1][:150]))
            continue
        ours, theirs = onnx.load(manifest["outputs"]["tensorrt_qdq"]), onnx.load(theirs_path)
        mine, others = qdq_consumers(ours), qdq_consumers(theirs)
        for op in sorted(set(mine) | set(others)):
            print("| {} | {} | {} | {} |".format(name, op, mine.get(op, 0), others.get(op, 0)), flush=True)
        lints.append((name, lint(ours), lint(theirs)))
    print("\n| model | quantizer | INT8 weighted layers | Adds, branch quantized | float islands (nodes) |")
    print("|---|---|---|---|---|")
    for name, *reports in lints:
        for label, report in zip(("edgeseg", "ModelOpt"), reports):
            print("| {} | {} | {} of {} | {} of {} | {} ({}) |".format(
                name, label, report["int8_layers"], len(report["weighted_layers"]),
                report["adds_with_branch_quantized"],
                len(report["adds_after_weighted"]), report["float_islands"], report["float_island_nodes"]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
