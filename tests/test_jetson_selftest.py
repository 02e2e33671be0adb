"""scripts/jetson_selftest.py: on a machine without TensorRT it says so (exit 2); under the TensorRT test
double it builds the probe model in every variant (fp16/int8 x GPU/DLA0/DLA1) and checks each engine's
class map against the probe's exact oracle — the glue, not TensorRT. Engines the double breaks on
purpose (EDGESEG_TRT_DOUBLE_FAULT) must fail it."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import PROBE_SIZE, REPO

SCRIPT = os.path.join(REPO, "scripts", "jetson_selftest.py")
DOUBLE = os.path.join(REPO, "tests", "trt_double")
ENGINE_ROWS = ["| probe | {} | {} |".format(p, d) for p in ("fp16", "int8") for d in ("GPU", "DLA0", "DLA1")]


def selftest(tmp_path, env_extra, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGESEG_TRT_DOUBLE")}
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [env_extra.get("PYTHONPATH"), REPO] if p)
    command = [sys.executable, SCRIPT, "--size", "{}x{}".format(*PROBE_SIZE), "--frames", "3", "--iterations", "2",
               "--out", str(tmp_path)] + list(args)
    return subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)


def under_double(tmp_path, flavour, *args, **env):
    return selftest(tmp_path, dict(env, PYTHONPATH=DOUBLE, EDGESEG_TRT_DOUBLE=flavour), *args)


def rows(stdout):
    """{"| model | precision | device |": (result, detail)} of the table."""
    table = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[3] in ("PASS", "FAIL", "INFO"):
            table["| {} | {} | {} |".format(*cells[:3])] = (cells[3], cells[4])
    return table


def agreements(detail):
    return [float(x) / 100 for x in re.findall(r"(\d+\.\d+)%", detail)]


def test_without_tensorrt_it_says_where_it_runs(tmp_path):
    result = selftest(tmp_path, {})
    assert result.returncode == 2 and "runs on a Jetson" in result.stdout


@pytest.mark.parametrize("flavour", ["8.5", "10.3", "10.16"])
def test_every_variant_of_the_probe_passes_under_the_tensorrt_double(tmp_path, flavour):
    result = under_double(tmp_path, flavour)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "| model | precision | device | result | detail |" in result.stdout
    assert "8 of 8 passed" in result.stdout and "your models" not in result.stdout
    table = rows(result.stdout)
    assert table["| probe | fp32 | CPU (ONNX Runtime) |"][0] == "PASS"  # the oracle and ONNX Runtime agree
    assert agreements(table["| probe | fp32 | CPU (ONNX Runtime) |"][1]) == [1.0]
    for key in ENGINE_ROWS:
        result_, detail = table[key]
        assert result_ == "PASS" and "oracle" in detail and "ONNX Runtime" in detail and "p50" in detail
        shares = agreements(detail)
        assert len(shares) == 2 and shares[0] == shares[1]  # the oracle and ONNX Runtime FP32 are the same
        # the double runs the FP32 model for fp16 and implicit INT8 (DLA), the Q/DQ model for GPU int8
        assert shares[0] == 1.0 if "| int8 | GPU |" not in key else 0.95 < shares[0] < 1.0
        # the cache is written with 8.5.2's header: every other TensorRT's DLA build must re-tag it
        retagged = "| int8 | DLA" in key and flavour != "8.5"
        assert ("re-tagged as TRT-" in detail) == retagged, (key, detail)
    assert os.path.isfile(str(tmp_path / "probe" / "probe_int8_dla1.engine"))
    # the probe's blur reads the image, so the Q/DQ model keeps it float
    assert "lint: 1 of 2 weighted layers INT8, 0 float island(s); engine: " in table["| probe | int8 | GPU |"][1]
    threads = table["| probe | fp16 | GPU, threads |"]
    assert threads[0] == "PASS" and agreements(threads[1]) == [1.0, 1.0]


def test_a_strongly_typed_tensorrt_builds_fp32_and_qdq_and_refuses_fp16(tmp_path):
    """TensorRT 11: no FP16 flag, no implicit INT8 (so no DLA rows); fp16 must be refused, not built FP32."""
    result = under_double(tmp_path, "11")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "(strongly typed only)" in result.stdout and "5 of 5 passed" in result.stdout
    table = rows(result.stdout)
    assert table["| probe | fp32 | GPU |"][0] == table["| probe | int8 | GPU |"][0] == "PASS"
    assert not any("DLA" in key for key in table)
    refused = table["| probe | fp16 | GPU (refused) |"]
    assert refused[0] == "PASS" and "refused: " in refused[1] and "strongly typed" in refused[1]
    assert "probe_{}x{}.onnx: TensorRT 11".format(*PROBE_SIZE) in refused[1]  # the user's model, not a scratch copy


@pytest.mark.parametrize("fault", ["ignore-input", "swap-classes"])
def test_a_broken_engine_fails_the_self_test(tmp_path, fault):
    result = under_double(tmp_path, "10.3", EDGESEG_TRT_DOUBLE_FAULT=fault)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 of 8 passed" in result.stdout
    table = rows(result.stdout)
    assert table["| probe | fp32 | CPU (ONNX Runtime) |"][0] == "PASS"  # ONNX Runtime is not broken
    for key in ENGINE_ROWS:
        result_, detail = table[key]
        assert result_ == "FAIL" and max(agreements(detail)) < 0.75, (key, detail)


def test_a_run_that_fails_is_a_row_not_a_crash(tmp_path):
    result = under_double(tmp_path, "8.5", EDGESEG_TRT_DOUBLE_FAULT="no-such-fault")  # every engine run raises
    assert result.returncode == 1 and "Traceback" not in result.stdout, result.stdout[-3000:]
    table = rows(result.stdout)
    assert all(table[key][0] == "FAIL" and "no-such-fault" in table[key][1] for key in ENGINE_ROWS)


def quantized_model(path):
    """A model TensorRT builds only in int8 (Q/DQ nodes): its fp16 builds fail."""
    from onnx import TensorProto, checker, helper, numpy_helper, save

    width, height = PROBE_SIZE
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "scale"),
             numpy_helper.from_array(np.array(0, np.int8), "zero"),
             numpy_helper.from_array(np.random.RandomState(0).randn(8, 3, 1, 1).astype(np.float32), "weight")]
    nodes = [helper.make_node("QuantizeLinear", ["input", "scale", "zero"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"]),
             helper.make_node("Conv", ["dq", "weight"], ["logits"])]
    graph = helper.make_graph(nodes, "q",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, height, width])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 8, height, width])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    checker.check_model(model)
    save(model, path)


def test_your_models_are_informational_rows(tmp_path):
    """--onnx-dir models are built and compared with ONNX Runtime: INFO rows that never count as passes;
    a build that fails, or a file that does not load, is a FAIL row (exit 1), not a crash."""
    from edgeseg.probe_model import write_probe_model

    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    write_probe_model(str(onnx_dir / "mine.onnx"), PROBE_SIZE)
    quantized_model(str(onnx_dir / "quantized.onnx"))
    (onnx_dir / "broken.onnx").write_text("not a model")
    result = under_double(tmp_path / "out", "10.3", "--onnx-dir", str(onnx_dir))
    assert result.returncode == 1 and "Traceback" not in result.stdout, result.stdout[-3000:]
    assert "8 of 8 passed" in result.stdout
    assert "your models: 6 rows informational (agreement with ONNX Runtime only), 7 failed" in result.stdout
    table = rows(result.stdout)
    mine = [table[key.replace("probe", "mine")] for key in ENGINE_ROWS]
    assert all(r == "INFO" and "no oracle" in d and "oracle " not in d for r, d in mine)
    assert table["| broken | fp32 | CPU (ONNX Runtime) |"][0] == "FAIL"
    quantized = [table[key.replace("probe", "quantized")] for key in ENGINE_ROWS]  # builds refused, no calibration
    assert all(r == "FAIL" for r, _ in quantized) and "QuantizeLinear/DequantizeLinear" in quantized[0][1]
