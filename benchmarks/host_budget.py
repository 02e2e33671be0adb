"""The host's budget per frame, before and after the pixel work went into the artifact, side by side in one run.

For each model at 1024x512 (default: deeplabv3_mobilenetv3, bisenetv2, fcn_resnet18; random weights, 19
classes: timing does not depend on them), the default chain (`export`, then `build` with no flags, then
`run`) of this checkout ("after") and of an earlier revision ("before", checked out with `git worktree`,
measured in a subprocess with the same code below) on a real video resized to 960x540:
- host milliseconds per frame outside inference in `--sync` mode (p50): capture, preprocess, postprocess
  (class map and output image) and its render part, write (mp4v);
- fps of the pipelined loop against the engine alone (`edgeseg bench`), medians of interleaved rounds, and
  their ratio.

    .venv/bin/python benchmarks/host_budget.py [--before REV] [--video ../shared/data/video/vtest.avi]
        [--frames 40] [--rounds 5] [--models deeplabv3_mobilenetv3,bisenetv2,fcn_resnet18]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = (1024, 512)
FRAME = (960, 540)
HOST_STAGES = ("capture", "preprocess", "postprocess", "render", "write")


def resized_video(source: str, path: str, frames: int) -> str:
    """The first `frames` frames of `source` at 960x540 (mp4v), so every tree reads the same file."""
    import cv2

    capture = cv2.VideoCapture(source)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), capture.get(cv2.CAP_PROP_FPS) or 10.0, FRAME)
    for _ in range(frames):
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, FRAME, interpolation=cv2.INTER_AREA))
    writer.release()
    return path


def measure(model: str, video: str, folder: str, frames: int, rounds: int) -> Dict[str, Any]:
    """The default chain of whichever edgeseg is importable: export, build; then `rounds` times, interleaved,
    the engine alone (`bench`, as trtexec-style tools measure it) and the pipelined loop (as `run` opens
    the artifact), medians kept (this CPU's speed drifts by 10-15% from minute to minute); and one
    `--sync` run for the host's milliseconds per stage."""
    import numpy as np

    import edgeseg
    from edgeseg.bench import bench
    from edgeseg.runtime import open_artifact
    from edgeseg.runtime.builder import build
    from edgeseg.stream.loop import run
    from edgeseg.workstation.export import export

    quiet = lambda *_: None  # noqa: E731
    onnx_path = os.path.join(folder, "{}.onnx".format(model))
    export(model, 19, SIZE, onnx_path, classes="cityscapes", log=quiet)
    artifact = build(onnx_path, os.path.join(folder, "{}.engine".format(model)), "fp32")[0]
    engine, pipelined = [], []
    for _ in range(rounds):
        with open_artifact(artifact) as segmenter:
            engine.append(bench(segmenter, iterations=12, warmup=2)["fps"])
        with open_artifact(artifact, spinning=False) as segmenter:
            pipelined.append(run(segmenter, video, output=os.path.join(folder, "pipelined.mp4"), max_frames=frames,
                                 hud=False, log=quiet)["fps"])
    with open_artifact(artifact, spinning=False) as segmenter:
        report = run(segmenter, video, output=os.path.join(folder, "sync.mp4"), max_frames=frames, sync=True,
                     hud=False, log=quiet)
        output = "{} {}".format(segmenter.output_kind, segmenter.backend.output_spec.dtype.name)
    return {"model": model, "edgeseg": os.path.dirname(edgeseg.__file__), "artifact_output": output,
            "engine_fps": float(np.median(engine)), "pipelined_fps": float(np.median(pipelined)),
            "ratios": [p / e for p, e in zip(pipelined, engine)], "sync_fps": report["fps"],
            "host_ms": {stage: report["stages_ms"][stage]["p50"] for stage in HOST_STAGES
                        if stage in report["stages_ms"]}}


def measure_tree(tree: str, models: List[str], video: str, frames: int, rounds: int) -> List[Dict[str, Any]]:
    """Run this script's `measure` with the edgeseg of `tree`, in a subprocess: one JSON line per model."""
    env = dict(os.environ, PYTHONPATH=tree, OMP_WAIT_POLICY="PASSIVE")
    results = []
    for model in models:
        folder = tempfile.mkdtemp(prefix="edgeseg-budget-")
        try:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure", model, "--video", video,
                                  "--frames", str(frames), "--rounds", str(rounds), "--folder", folder],
                                 cwd=tree, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
            if out.returncode != 0:
                raise SystemExit("{} in {} failed:\n{}".format(model, tree, out.stderr[-3000:]))
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if not result["edgeseg"].startswith(os.path.realpath(tree)):
                raise SystemExit("measured {}, not the tree {}".format(result["edgeseg"], tree))
            results.append(result)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return results


def table(rows: List[Dict[str, Any]]) -> str:
    head = ["model", "chain", "artifact out", "capture", "pre", "post", "(render)", "write", "pre+post",
            "pipelined fps", "engine fps", "ratio (rounds)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        ms = row["host_ms"]
        cells = [row["model"], row["chain"], row["artifact_output"]]
        cells += ["{:.1f}".format(ms[s]) if s in ms else "-" for s in HOST_STAGES]
        ratios = sorted(row["ratios"])
        cells += ["{:.1f}".format(ms["preprocess"] + ms["postprocess"]), "{:.2f}".format(row["pipelined_fps"]),
                  "{:.2f}".format(row["engine_fps"]),
                  "{:.2f}x ({:.2f}-{:.2f})".format(ratios[len(ratios) // 2], ratios[0], ratios[-1])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = os.environ.get("EDGESEG_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))
    parser.add_argument("--video", default=os.path.join(data, "video", "vtest.avi"))
    parser.add_argument("--frames", type=int, default=40, help="frames per run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved engine-only / pipelined rounds")
    parser.add_argument("--models", default="deeplabv3_mobilenetv3,bisenetv2,fcn_resnet18")
    parser.add_argument("--before", default="f4dcec8", help="the revision to compare with (default: before "
                        "issue 12: scores out of every artifact, preprocessing and argmax on the host)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one model, in the tree on PYTHONPATH
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.video, args.folder, args.frames, args.rounds)))
        return
    models = args.models.split(",")
    work = tempfile.mkdtemp(prefix="edgeseg-budget-")
    before = os.path.join(work, "before")
    subprocess.run(["git", "worktree", "add", "--detach", before, args.before], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        video = resized_video(args.video, os.path.join(work, "video_960x540.mp4"), args.frames)
        rows = []
        for chain, tree in (("before", before), ("after", REPO)):
            for row in measure_tree(tree, models, video, args.frames, args.rounds):
                rows.append(dict(row, chain=chain))
        rows.sort(key=lambda r: (models.index(r["model"]), r["chain"] != "before"))
        print("default chain at 1024x512 on a {}x{} copy of {}; host ms: p50 over {} frames in --sync; fps: "
              "medians of {} interleaved rounds; before = {}".format(FRAME[0], FRAME[1], os.path.basename(args.video),
                                                                     args.frames, args.rounds, args.before))
        print(table(rows))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", before], cwd=REPO, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
