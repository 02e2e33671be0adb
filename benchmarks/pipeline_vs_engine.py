"""End-to-end fps of `edgeseg run` against engine-only fps, side by side in one process:
DeepLabV3-MobileNetV3 at 1024x512 (ArgMax baked in) on ONNX Runtime over a real video, pipelined and
--sync, then a long pipelined run (the video looped) watching resident memory.
Targets on the 2-core dev machine: pipelined >= 0.9x engine-only and above sync; RSS growth < 5%
over 2,000 frames.

    .venv/bin/python benchmarks/pipeline_vs_engine.py [--video ../shared/data/video/vtest.avi]
        [--frames 300] [--long 2000]
"""
import argparse
import os
import tempfile

from edgeseg.bench import bench
from edgeseg.envinfo import resident_memory_mb
from edgeseg.runtime import open_artifact
from edgeseg.stream.loop import run
from edgeseg.workstation.export import export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = os.environ.get("EDGESEG_SHARED_DATA", "../shared/data")
    parser.add_argument("--video", default=os.path.join(data, "video", "vtest.avi"))
    parser.add_argument("--frames", type=int, default=300, help="frames for the fps comparison")
    parser.add_argument("--long", type=int, default=2000, help="frames for the memory run (0: skip)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="edgeseg-pipeline-")
    model = os.path.join(folder, "dlv3_1024x512.onnx")
    export("deeplabv3_mobilenetv3", 19, (1024, 512), model, output_kind="classmap", classes="cityscapes",
           log=lambda *_: None)
    quiet = lambda *_: None  # noqa: E731
    with open_artifact(model) as spinning:  # engine-only as trtexec-style tools measure it
        engine = bench(spinning, iterations=30, warmup=5)
    with open_artifact(model, spinning=False) as segmenter:  # as `edgeseg run` opens it
        results = {}
        for mode in ("pipelined", "sync"):
            results[mode] = run(segmenter, args.video, output=os.path.join(folder, mode + ".mp4"),
                                max_frames=args.frames, sync=mode == "sync", log=quiet)
        print("{} at 1024x512 on {}, {} frames of {}".format(
            "deeplabv3_mobilenetv3", segmenter.describe(), args.frames, os.path.basename(args.video)))
        print("| mode | fps | vs engine-only | infer p50 ms | end-to-end p50 ms |")
        print("|---|---|---|---|---|")
        print("| engine only | {:.2f} | 1.00x | {:.1f} | - |".format(engine["fps"], engine["latency_ms"]["p50"]))
        for mode, report in results.items():
            print("| {} | {:.2f} | {:.2f}x | {:.1f} | {:.1f} |".format(
                mode, report["fps"], report["fps"] / engine["fps"], report["stages_ms"]["infer"]["p50"],
                report["stages_ms"]["end_to_end"]["p50"]))
        print("pipelined / sync = {:.2f}x".format(results["pipelined"]["fps"] / results["sync"]["fps"]), flush=True)
        if args.long:
            samples = []

            def sample(done, total):
                if done in (200, args.long) or done % 250 == 0:
                    samples.append((done, resident_memory_mb()))

            long_run = run(segmenter, args.video, output=os.path.join(folder, "long.mp4"), max_frames=args.long,
                           loop=True, progress=sample, log=quiet)
            start = next(mb for done, mb in samples if done >= 200)
            end = samples[-1][1]
            print("memory over {} frames ({} fps): RSS {:.0f} MB at frame 200, {:.0f} MB at frame {}: {:+.1%}".format(
                long_run["frames"], round(long_run["fps"], 2), start, end, samples[-1][0], end / start - 1))
            print("RSS samples (frame, MB):", ", ".join("{}:{:.0f}".format(d, m) for d, m in samples))


if __name__ == "__main__":
    main()
