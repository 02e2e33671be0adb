"""The command line itself: output flags before or after the command, help that names every default,
--quiet/--verbose, `info --json`, and the documented exit codes."""
import argparse
import json
import os

import pytest
from conftest import REPO, run_cli

from edgeseg import __version__
from edgeseg.cli import EPILOG, build_parser, main
from edgeseg.cli import info as info_command
from edgeseg.cli.common import EXIT_CODES

OUTPUT_FLAGS = ("debug", "quiet", "verbose")


def subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("flag", OUTPUT_FLAGS)
def test_output_flags_work_before_and_after_the_command(flag):
    parser = build_parser()
    for command in subparsers(parser):
        extra = {"train": ["unet", "--data", "d"], "export": ["unet", "--input-size", "64x64", "-o", "x.onnx"],
                 "calibrate": ["m.onnx", "--data", "d"], "build": ["m.onnx"], "run": ["a", "--source", "0"],
                 "bench": ["a"], "eval": ["a", "--data", "d"], "export-deepstream": ["a", "-o", "o"],
                 "export-triton": ["a", "-o", "o"], "info": []}[command]
        assert getattr(parser.parse_args([command] + extra), flag) is False, command
        assert getattr(parser.parse_args(["--" + flag, command] + extra), flag) is True, command
        assert getattr(parser.parse_args([command] + extra + ["--" + flag]), flag) is True, command


def test_debug_before_the_command_shows_the_traceback(tmp_path):
    missing = str(tmp_path / "missing.onnx")
    plain = run_cli("info", missing, block_torch=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and "missing.onnx" in plain.stderr
    for args in (("--debug", "info", missing), ("info", missing, "--debug")):
        debug = run_cli(*args, block_torch=True)
        assert debug.returncode != 0 and "Traceback" in debug.stderr, args


def test_every_flag_has_help_that_names_its_default():
    parser = build_parser()
    missing = []
    for command, sub in [("edgeseg", parser)] + sorted(subparsers(parser).items()):
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = "{} {}".format(command, "/".join(action.option_strings) or action.dest)
            if not (action.help or "").strip():
                missing.append(name + ": no help")
            elif action.default not in (None, False, argparse.SUPPRESS) and "default" not in action.help:
                missing.append("{}: default {!r} not in its help".format(name, action.default))
    assert not missing, "\n".join(missing)


def test_quiet_keeps_results_and_drops_informational_lines(probe_onnx, probe_set, tmp_path, capsys):
    args = ["eval", probe_onnx, "--data", probe_set, "--limit", "2"]
    assert main(args + ["--json", str(tmp_path / "a.json")]) == 0
    normal = capsys.readouterr()
    assert "mIoU" in normal.out and "wrote " in normal.out
    assert main(["--quiet"] + args + ["--json", str(tmp_path / "b.json")]) == 0
    quiet = capsys.readouterr()
    assert "mIoU" in quiet.out and "wrote " not in quiet.out and quiet.err == ""
    before, after = (json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json"))
    assert after["miou"] == before["miou"]


def test_verbose_adds_detail_on_stderr(probe_onnx, capsys):
    assert main(["info", probe_onnx]) == 0
    normal = capsys.readouterr()
    assert main(["info", probe_onnx, "--verbose"]) == 0
    verbose = capsys.readouterr()
    assert verbose.out == normal.out and normal.err == ""
    assert "edgeseg info: " in verbose.err and "artifact=" in verbose.err and "done in" in verbose.err


def test_quiet_and_verbose_exclude_each_other():
    result = run_cli("-q", "info", "-v", block_torch=True)
    assert result.returncode == 2 and "exclude each other" in result.stderr


def test_info_json_is_machine_readable(probe_onnx, capsys):
    assert main(["info", "--json"]) == 0
    machine = json.loads(capsys.readouterr().out)
    assert machine["edgeseg"] == __version__ and "onnxruntime" in machine and "jetson_model" in machine
    assert main(["info", probe_onnx, "--json"]) == 0
    sidecar = json.loads(capsys.readouterr().out)
    assert sidecar["preprocess"]["size"] and sidecar["sha256"]


def test_exit_codes_are_documented_and_kept(tmp_path, monkeypatch, capsys):
    codes = dict(EXIT_CODES)
    assert sorted(codes) == [0, 1, 2, 130]
    with open(os.path.join(REPO, "docs", "cli.md")) as f:
        doc = f.read()
    for code in codes:
        assert "\n  {:<4} ".format(code) in EPILOG and "| {} |".format(code) in doc
    assert main(["info"]) == 0
    assert main(["info", str(tmp_path / "missing.onnx")]) == 2

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(info_command, "cmd_info", interrupted)
    assert main(["info"]) == 130
    assert "edgeseg: interrupted" in capsys.readouterr().err
