"""`edgeseg export-deepstream` and `edgeseg export-triton`: an artifact packaged for another server."""
import argparse
import os

from ..artifacts import check_outputs
from ..runtime.base import PRECISIONS
from .arguments import COUNT, INDEX
from .common import console


def cmd_export_deepstream(args: argparse.Namespace) -> None:
    from ..deploy.deepstream import PROBE_SAMPLE, export_deepstream

    check_outputs(folders=[args.output], inputs=[args.artifact, args.calibration])
    result = export_deepstream(args.artifact, args.output, precision=args.precision, calibration=args.calibration,
                               dla_core=args.dla_core, source=args.source, save_video=args.save_video)
    for note in result["notes"]:
        print("note: " + note)
    console.say("wrote {} files to {} ({}); on the device: cd {} && deepstream-app -c {} (or python3 {}, which "
                "prints each frame's class shares)".format(len(result["files"]), result["folder"], result["precision"],
                                                           result["folder"], os.path.basename(result["app_config"]),
                                                           PROBE_SAMPLE))


def cmd_export_triton(args: argparse.Namespace) -> None:
    from ..deploy.triton import export_triton

    check_outputs(folders=[args.output], inputs=[args.artifact])
    result = export_triton(args.artifact, args.output, name=args.name, version=args.version,
                           max_batch_size=args.max_batch_size, instances=args.instances, cpu=args.cpu)
    console.say("wrote {} version {} ({}) to {}; serve it with tritonserver --model-repository {}".format(
        os.path.basename(result["model_dir"]), result["version"], result["platform"], result["model_dir"],
        args.output))


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("export-deepstream", parents=[common],
                       help="DeepStream nvinfer + deepstream-app configs, labels and model files")
    p.add_argument("artifact", help="engine, or ONNX model (with its sidecar)")
    p.add_argument("-o", "--output", required=True, help="folder to write (self-contained: copy it to the device)")
    p.add_argument("--precision", choices=PRECISIONS, help="ONNX models: nvinfer's build precision "
                                                                          "(default fp16); engines keep their own")
    p.add_argument("--calibration", help="ONNX + int8: manifest from `edgeseg calibrate` (its TensorRT cache)")
    p.add_argument("--dla-core", type=INDEX, help="ONNX models: run on this DLA core, GPU fallback on")
    p.add_argument("--source", default="csi://0", help="deepstream-app source: csi://N, /dev/videoN, a video file "
                                                       "or rtsp:// URL (default csi://0)")
    p.add_argument("--save-video", help="deepstream-app writes an MP4 here instead of showing a window")
    p.set_defaults(func=cmd_export_deepstream)

    p = sub.add_parser("export-triton", parents=[common], help="add an artifact to a Triton model repository")
    p.add_argument("artifact", help="engine (tensorrt_plan) or ONNX model (onnxruntime_onnx), with its sidecar")
    p.add_argument("-o", "--output", required=True, help="model repository folder")
    p.add_argument("--name", help="model name (default: the artifact's file name without extension)")
    p.add_argument("--version", type=COUNT, help="version folder (default: the next free one)")
    p.add_argument("--max-batch-size", type=COUNT, default=8, help="for models with a dynamic batch (default 8)")
    p.add_argument("--instances", type=COUNT, default=1, help="model instances (default 1)")
    p.add_argument("--cpu", action="store_true", help="ONNX models: run on Triton's CPU")
    p.set_defaults(func=cmd_export_triton)
