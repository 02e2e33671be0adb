"""`edgeseg bench`: engine latency and fps of several artifacts, end to end and mIoU when asked; a failing
artifact keeps its row and makes the exit code 1."""
import argparse
import os
from typing import Any, Dict, List, Optional

from ..artifacts import check_outputs, write_json_atomic
from ..errors import CheckFailed, ConfigError, EdgesegError
from .arguments import COUNT, INDEX, POSITIVE
from .common import console, open_segmenter


def cmd_bench(args: argparse.Namespace) -> None:
    from ..bench import markdown, write_csv

    times = times_paths(args.export_times, args.artifacts)
    check_outputs(files=[args.json, args.csv] + list(times.values()),
                  inputs=list(args.artifacts) + [args.source, args.data])
    results: List[Dict[str, Any]] = []
    for path in args.artifacts:
        console.detail("bench: {}".format(path))
        try:
            results.append(_bench_one(args, path, times.get(path)))
        except EdgesegError as exc:
            if len(args.artifacts) == 1:
                raise
            results.append({"artifact": path, "error": str(exc)})
    print(markdown(results))
    for written in (r["times"] for r in results if "times" in r):
        console.say("wrote {}".format(written))
    if args.json:
        write_json_atomic(args.json, {"iterations": args.iterations, "warmup": args.warmup, "results": results})
        console.say("wrote {}".format(args.json))
    if args.csv:
        write_csv(args.csv, results)
        console.say("wrote {}".format(args.csv))
    failed = [r["artifact"] for r in results if "error" in r]
    if failed:
        raise CheckFailed("{} of {} artifact(s) failed ({}); their rows say why".format(
            len(failed), len(results), ", ".join(failed)))


def times_paths(given: Optional[str], artifacts: List[str]) -> Dict[str, str]:
    """Where --export-times FILE puts each artifact's trace: FILE itself for one artifact; for several,
    FILE's stem, a dot, the artifact's file name with its dots as underscores, then FILE's extension
    (times.json, a/fp16.engine: times.fp16_engine.json; not *.engine.json, which reads as a sidecar)."""
    if not given:
        return {}
    if len(artifacts) == 1:
        return {artifacts[0]: given}
    stem, ext = os.path.splitext(given)
    paths: Dict[str, str] = {}
    for artifact in artifacts:
        path = "{}.{}{}".format(stem, os.path.basename(artifact).replace(".", "_"), ext or ".json")
        if path in paths.values():
            raise ConfigError("--export-times: two artifacts are named {}; bench them in separate runs so their "
                              "traces do not share {}".format(os.path.basename(artifact), path))
        paths[artifact] = path
    return paths


def _bench_one(args: argparse.Namespace, path: str, times: Optional[str]) -> Dict[str, Any]:
    """Engine-only numbers, plus end to end on --source and mIoU on --data when given."""
    from ..bench import bench

    with open_segmenter(args, path) as segmenter:
        result = bench(segmenter, args.iterations, args.warmup, seconds=args.seconds, batch=args.batch,
                       times_path=times)
        if args.source:
            from ..stream.loop import run

            report = run(segmenter, args.source, max_frames=args.frames, log=lambda *_: None)
            result["end_to_end"] = {"fps": report["fps"], "frames": report["frames"],
                                    "latency_ms": report["stages_ms"]["end_to_end"]}
        if args.data:
            from ..evaluate import evaluate

            result["miou"] = evaluate(segmenter, args.data, ignore_index=args.ignore_index)["miou"]
    return result


def register(sub, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    p = sub.add_parser("bench", parents=[common, model], help="latency, fps and mIoU of several artifacts")
    p.add_argument("artifacts", nargs="+", help="engines or ONNX models to compare")
    p.add_argument("--iterations", type=COUNT, default=100, help="timed inferences per artifact (default 100)")
    p.add_argument("--seconds", type=POSITIVE, help="time for this long instead of --iterations")
    p.add_argument("--warmup", type=INDEX, default=10, help="untimed inferences first (default 10)")
    p.add_argument("--batch", type=COUNT, default=1, help="batch size (models exported with --dynamic; default 1)")
    p.add_argument("--source", help="also run end to end over this video")
    p.add_argument("--frames", type=COUNT, default=200, help="frames of --source (default 200)")
    p.add_argument("--data", help="also evaluate mIoU on this labelled data")
    p.add_argument("--ignore-index", type=int, default=255, help="label value to ignore in --data (default 255)")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--csv", help="write the table as CSV here")
    p.add_argument("--export-times", metavar="FILE",
                   help="write each timed iteration here as JSON, in trtexec's --exportTimes layout (several "
                        "artifacts: FILE's stem.ARTIFACT_NAME.json each, dots in the name as underscores)")
    p.set_defaults(func=cmd_bench)
