"""Every user mistake gives one line naming the file and the fix, exit code 2, no traceback."""
import shutil

import pytest
from conftest import run_cli


def assert_clean_error(result, *needles):
    assert result.returncode == 2, (result.stdout, result.stderr)
    # native decoders (FFmpeg) may log a line of their own before ours
    ours = [line for line in result.stderr.strip().splitlines() if line.startswith("edgeseg: error: ")]
    assert len(ours) == 1 and result.stderr.strip().endswith(ours[0]), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert str(needle) in ours[0]


def test_missing_onnx(tmp_path, street_video):
    missing = tmp_path / "nope.onnx"
    assert_clean_error(run_cli("run", missing, "--source", street_video, "--no-display", block_torch=True),
                       missing, "edgeseg export")
    assert_clean_error(run_cli("build", missing, block_torch=True), missing)


def test_corrupt_onnx(tmp_path, street_video):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not a protobuf" * 10)
    assert_clean_error(run_cli("run", corrupt, "--source", street_video, "--no-display", block_torch=True),
                       corrupt, "re-export")
    assert_clean_error(run_cli("build", corrupt, block_torch=True), corrupt)


def test_missing_and_undecodable_video(tmp_path, logits_onnx):
    missing = tmp_path / "nope.mp4"
    assert_clean_error(run_cli("run", logits_onnx, "--source", missing, "--no-display", block_torch=True),
                       missing, "no such video")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01garbage" * 1000)
    assert_clean_error(run_cli("run", logits_onnx, "--source", garbage, "--no-display", block_torch=True), garbage)


def test_unwritable_output(tmp_path, logits_onnx, street_video):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "out.mp4"  # a folder that is a file
    assert_clean_error(run_cli("run", logits_onnx, "--source", street_video, "--output", target, "--no-display",
                               block_torch=True), target)


def test_unknown_model():
    assert_clean_error(run_cli("export", "resnet9000", "--num-classes", "3", "--input-size", "64x64", "-o", "x.onnx"),
                       "resnet9000", "deeplabv3_mobilenetv3")


def test_sidecar_hash_mismatch(tmp_path, logits_onnx, street_video):
    model = tmp_path / "model.onnx"
    shutil.copy(logits_onnx, str(model))
    shutil.copy(logits_onnx + ".json", str(model) + ".json")
    with open(str(model), "ab") as f:
        f.write(b"tampered")
    assert_clean_error(run_cli("run", model, "--source", street_video, "--no-display", block_torch=True),
                       model, "does not match its sidecar")


def test_engine_without_tensorrt(tmp_path, street_video):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"serialized engine")
    assert_clean_error(run_cli("bench", engine, block_torch=True), engine, "TensorRT")


def test_sidecar_flags_conflict(logits_onnx, street_video):
    assert_clean_error(run_cli("run", logits_onnx, "--source", street_video, "--mean", "0,0,0", "--no-display",
                               block_torch=True), logits_onnx, "sidecar")


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("build", tmp_path / "nope.onnx", "--debug", block_torch=True)
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize("size", ["1024", "axb"])
def test_bad_size_is_an_argparse_error(size):
    result = run_cli("export", "deeplabv3_mobilenetv3", "--num-classes", "3", "--input-size", size, "-o", "x.onnx")
    assert result.returncode == 2 and "WIDTHxHEIGHT" in result.stderr
