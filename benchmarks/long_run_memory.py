"""Resident memory of an endless run: the probe model (128x64) over a looped synthetic street video for
100,000 frames through the pipelined loop, with the per-frame CSV streamed, RSS sampled as it goes.
Target: growth under 1% from frame 1,000 to frame 100,000.

    .venv/bin/python benchmarks/long_run_memory.py [--frames 100000]
"""
import argparse
import os
import shutil
import tempfile

from edgeseg.data.synthetic import write_video
from edgeseg.envinfo import resident_memory_mb
from edgeseg.probe_model import write_probe_model
from edgeseg.runtime import open_artifact
from edgeseg.stream.loop import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100000)
    parser.add_argument("--output", choices=("none", "mp4", "avi"), default="none",
                        help="also write the overlay video (an MP4 muxer keeps its frame index in memory "
                             "until the end: about 30 bytes a frame)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="edgeseg-memory-")
    try:
        model = os.path.join(folder, "probe.onnx")
        write_probe_model(model, (128, 64))
        video = write_video(os.path.join(folder, "street.mp4"), frames=500, width=320, height=180, seed=3)
        samples = []

        def sample(done, total):
            if done in (1000, args.frames) or done % 10000 == 0:
                samples.append((done, resident_memory_mb()))

        with open_artifact(model, spinning=False) as segmenter:
            output = None if args.output == "none" else os.path.join(folder, "out." + args.output)
            report = run(segmenter, video, output=output, loop=True, max_frames=args.frames,
                         progress=sample, report_path=os.path.join(folder, "frames.json"), log=lambda *_: None)
        start = next(mb for done, mb in samples if done >= 1000)
        print("{} frames at {:.0f} fps (pipelined, probe 128x64, 320x180 video looped, output {}, CSV streamed)".format(
            report["frames"], report["fps"], args.output))
        print("RSS {:.1f} MB at frame 1,000, {:.1f} MB at frame {:,}: {:+.2%}".format(
            start, samples[-1][1], samples[-1][0], samples[-1][1] / start - 1))
        print("RSS (frame: MB): " + ", ".join("{}: {:.1f}".format(d, m) for d, m in samples))
        print("end-to-end p50 {:.2f} ms ({})".format(report["stages_ms"]["end_to_end"]["p50"],
                                                     report["stages_ms"]["end_to_end"].get("approximate", "exact")))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
