"""Plant known bugs, one at a time, in a scratch copy of the checkout; each must be caught by the tests named
for it. Proves the suite checks what it claims to: a test that passes whatever the code does catches nothing.

    .venv/bin/python scripts/mutation_check.py            # every mutant (about 2-3 min on two cores)
    .venv/bin/python scripts/mutation_check.py --list     # what would be planted, and where
    .venv/bin/python scripts/mutation_check.py --only guard-drop-sign,trt-no-synchronize

First the named tests must pass on the unmutated copy. Then, per mutant: copy the checkout, replace one exact
piece of source (it must occur exactly once, so a stale mutant is an error, not a silent pass), run the named
tests; the mutant is caught when at least one of them fails (not when they cannot even be collected). Prints
a table (mutant, file, catching tests) and exits 1 when any mutant survives, 2 on a stale or broken mutant.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from typing import List, NamedTuple, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Mutant(NamedTuple):
    name: str
    path: str  # relative to the checkout
    before: str  # exact source text, present exactly once
    after: str
    tests: Tuple[str, ...]  # pytest node ids expected to catch it


MUTANTS = (
    # --- export
    Mutant("parity-onnxruntime-vs-itself", "edgeseg/workstation/export.py",
           "            expected = model(torch.from_numpy(batch)).numpy()",
           "            expected = session.run(None, {input_name: batch})[0]",
           ("tests/test_export.py::test_check_parity_compares_with_pytorch",)),
    Mutant("classmap-head-argmin", "edgeseg/workstation/export.py",
           "return logits.argmax(dim=1).to(torch.int32)", "return logits.argmin(dim=1).to(torch.int32)",
           ("tests/test_export.py::test_classmap_export_is_the_argmax_of_pytorch",)),
    # --- calibration
    Mutant("calibrate-half-the-images", "edgeseg/quantize/stage.py",
           "reader = ImageCalibrationReader(images, chosen, input_name)",
           "reader = ImageCalibrationReader(images[: len(images) // 2], chosen, input_name)",
           ("tests/test_calibrate.py::test_ranges_are_the_manifests_images_recomputed_here",)),
    Mutant("trt-cache-scale-over-255", "edgeseg/quantize/trt_cache.py",
           "scale = np.float32(amax / np.float32(127.0))", "scale = np.float32(amax / np.float32(255.0))",
           ("tests/test_calibrate.py::test_ranges_are_the_manifests_images_recomputed_here",)),
    # --- the accuracy guard
    Mutant("guard-drop-sign", "edgeseg/quantize/guard.py",
           '"drop_points": 100 * (fp32["miou"] - int8["miou"])', '"drop_points": 100 * (int8["miou"] - fp32["miou"])',
           ("tests/test_int8_guard.py",)),
    Mutant("guard-scores-only-the-onnxruntime-model", "edgeseg/quantize/guard.py",
           'shipped = {key: manifest["outputs"][key] for key in SHIPPED}',
           'shipped = {"onnxruntime_int8": manifest["outputs"]["onnxruntime_int8"]}',
           ("tests/test_int8_guard.py::test_a_calibration_records_both_models_figures",)),
    Mutant("mse-threshold-for-a-coarser-quantizer", "edgeseg/quantize/abs_histogram.py",
           "LEVELS = 127 ", "LEVELS = 31 ",
           ("tests/test_abs_histogram.py",)),
    Mutant("histogram-growth-drops-counts", "edgeseg/quantize/abs_histogram.py",
           "hist.reshape(-1, 2).sum(axis=1)", "hist[::2]",
           ("tests/test_abs_histogram.py",)),
    Mutant("auto-keeps-the-worse-method", "edgeseg/quantize/method_choice.py",
           "    best = min(by_method, key=lambda m: scores[m])", "    best = max(by_method, key=lambda m: scores[m])",
           ("tests/test_calibrate.py::test_auto_keeps_the_method_whose_tensorrt_model_agrees_best",)),
    Mutant("float-fed-pooling-and-adds-left-float", "edgeseg/quantize/placement.py",
           "        inputs = TRT_INPUT_QUANTIZED.get(node.op_type, ())", "        inputs = ()",
           ("tests/test_fusion_lint.py::test_tensorrt_placement_quantizes_float_fed_pooling_and_two_branch_adds",)),
    Mutant("logits-quantized", "edgeseg/quantize/qdq.py",
           "give_float_inputs(quantized, placement.position_nodes(quantized.graph) | tail)",
           "give_float_inputs(quantized, placement.position_nodes(quantized.graph))",
           ("tests/test_calibrate.py::test_logits_stay_float_so_argmax_keeps_its_class",)),
    Mutant("pooling-indices-from-the-quantized-tensor", "edgeseg/quantize/placement.py",
           "                node.input[index] = quantize.input[0]\n", "",
           ("tests/test_calibrate.py::test_pooling_indices_are_taken_from_the_float_tensor",)),
    Mutant("lint-fuses-an-unquantized-residual-branch", "edgeseg/quantize/lint.py",
           'if entry["branch_quantized"] and source.name in int8:', "if source.name in int8:",
           ("tests/test_fusion_lint.py",)),
    Mutant("trt-residual-branch-left-float", "edgeseg/quantize/qdq.py",
           "        branches = placement.quantize_residual_branches(quantized, ranges, weighted, excluded)\n",
           "",
           ("tests/test_fusion_lint.py::test_tensorrt_placement_quantizes_residual_branches_and_deconvolutions",)),
    Mutant("trt-deconvolution-left-float", "edgeseg/quantize/qdq.py",
           'TRT_OP_TYPES = TRT_WEIGHTED + TRT_QUANTIZABLE', 'TRT_OP_TYPES = ("Conv", "Gemm", "MatMul")',
           ("tests/test_fusion_lint.py::test_tensorrt_placement_quantizes_residual_branches_and_deconvolutions",)),
    Mutant("drop-interval-unpaired", "edgeseg/metrics.py",
           "                            - _mean_iou(second[pick].sum(axis=0), ignore_index)))",
           "                            - _mean_iou(second[rng.randint(0, len(second), len(second))].sum(axis=0),"
           " ignore_index)))",
           ("tests/test_metrics.py::test_the_interval_is_paired_so_a_drop_shared_by_every_image_is_tight",)),
    Mutant("trt-image-layers-quantized", "edgeseg/quantize/qdq.py",
           "image_layers = [n for n in placement.image_layers(model.graph, weighted) if n not in excluded]",
           "image_layers = []",
           ("tests/test_fusion_lint.py::test_layers_reading_the_image_stay_float_in_the_tensorrt_model",)),
    Mutant("guard-ranks-only-the-first-failing-model", "edgeseg/quantize/guard.py",
           "        if worst not in rankings:\n", "        if not rankings:\n",
           ("tests/test_int8_guard.py::test_an_unreachable_limit_stops_with_everything_in_float",)),
    Mutant("trt-pooling-and-gates-left-float", "edgeseg/quantize/qdq.py",
           'TRT_QUANTIZABLE = ("GlobalAveragePool", "AveragePool", "Mul", "Resize")', "TRT_QUANTIZABLE = ()",
           ("tests/test_fusion_lint.py::test_tensorrt_placement_quantizes_a_squeeze_excitation_block",)),
    Mutant("guard-keeps-the-least-sensitive", "edgeseg/quantize/guard.py",
           'candidates = [r["node"] for r in rankings[worst] if',
           'candidates = [r["node"] for r in rankings[worst][::-1] if',
           ("tests/test_int8_guard.py",)),
    # --- runtime backends
    Mutant("trt-no-synchronize", "edgeseg/runtime/tensorrt/runner.py",
           "                self._stream.synchronize()\n", "",
           ("tests/test_tensorrt_glue.py",)),
    Mutant("trt-input-never-copied", "edgeseg/runtime/tensorrt/runner.py",
           "                cuda.memcpy_htod_async(self._device[self._input], source, self._stream)\n", "",
           ("tests/test_tensorrt_glue.py",)),
    Mutant("trt-one-output-buffer-for-every-frame", "edgeseg/runtime/tensorrt/runner.py",
           "for _ in range(IN_FLIGHT)]", "for _ in range(1)]",
           ("tests/test_tensorrt_glue.py",)),
    Mutant("trt-compute-phase-starts-before-the-copy", "edgeseg/runtime/tensorrt/runner.py",
           '"compute": (marks[1], marks[2])', '"compute": (marks[0], marks[2])',
           ("tests/test_bench_times.py::test_tensorrt_phases_are_timed_by_cuda_events_in_trtexecs_layout",)),
    Mutant("bench-leaves-phase-timing-on", "edgeseg/bench.py",
           "        backend.time_phases(False)\n", "        pass\n",
           ("tests/test_bench_times.py::test_tensorrt_phases_are_timed_by_cuda_events_in_trtexecs_layout",)),
    Mutant("bench-host-compute-times-from-each-start", "edgeseg/bench.py",
           '"compute": ((started - origin) * 1000.0', '"compute": ((started - started) * 1000.0',
           ("tests/test_bench_times.py::test_onnxruntime_export_times_reports_compute_only",)),
    Mutant("bench-traces-of-several-artifacts-share-one-file", "edgeseg/cli/bench.py",
           "    if len(artifacts) == 1:\n", "    if len(artifacts) >= 1:\n",
           ("tests/test_bench_times.py::test_several_artifacts_get_one_trace_each",)),
    Mutant("ds-probe-unlabelled-pixels-dropped", "edgeseg/deploy/seg_probe.py",
           "float(ids.size - known.size) / total", "0.0",
           ("tests/test_deepstream_probe.py::test_class_shares_of_the_probes_class_map",)),
    Mutant("ds-probe-smallest-share-first", "edgeseg/deploy/seg_probe.py",
           "for share, name in reversed(present)]", "for share, name in present]",
           ("tests/test_deepstream_probe.py::test_class_shares_of_the_probes_class_map",)),
    Mutant("ds-sample-class-count-off-by-one", "edgeseg/deploy/deepstream.py",
           '("NUM_CLASSES", num_classes)', '("NUM_CLASSES", num_classes - 1)',
           ("tests/test_deepstream_probe.py::test_the_written_sample_is_python38_and_names_the_exports_files",)),
    # --- TensorRT versions (issue 14: each of these was a real bug before its test)
    Mutant("trt-cache-handed-over-with-its-old-header", "edgeseg/runtime/tensorrt/builder.py",
           "cache_calibrator(trt, trt_cache.tagged_for(cache, trt.__version__))", "cache_calibrator(trt, cache.data)",
           ("tests/test_tensorrt_glue.py::test_int8_implicit_from_a_calibration_cache",)),
    Mutant("trt-fp16-silently-fp32-when-strongly-typed", "edgeseg/runtime/tensorrt/builder.py",
           '    if precision == "fp16" and strongly_typed_only(trt):\n',
           '    if precision == "fp16" and strongly_typed_only(trt) and False:\n',
           ("tests/test_tensorrt_glue.py::test_tensorrt_11_builds_fp32_and_qdq_int8_and_refuses_the_rest",)),
    Mutant("trt-bare-nptype", "edgeseg/runtime/tensorrt/runner.py",
           "numpy_dtype(trt, engine.get_tensor_dtype(n), n, self.path)) for n in names]",
           "np.dtype(trt.nptype(engine.get_tensor_dtype(n)))) for n in names]",
           ("tests/test_tensorrt_glue.py::test_tensors_numpy_cannot_hold_are_named",)),
    Mutant("trt-tensor-address-unchecked", "edgeseg/runtime/tensorrt/runner.py",
           "            if not self._context.set_tensor_address(name, int(self._device[-1])):",
           "            if self._context.set_tensor_address(name, int(self._device[-1])) is None:",
           ("tests/test_tensorrt_glue.py::test_a_refused_tensor_address_is_an_error",)),
    Mutant("trt-context-detached-after-pop", "edgeseg/runtime/tensorrt/runner.py",
           "            finally:\n                self._cuda_context.detach()",
           "            finally:\n                self._cuda.Context.pop()\n"
           "                self._cuda_context.detach()",
           ("tests/test_tensorrt_glue.py::test_a_backend_closed_from_another_thread_releases_its_context",)),
    Mutant("pinned-rings-outlive-the-cuda-context", "edgeseg/runtime/artifact.py",
           "        self.preprocess = None  # its buffers may be", "        pass  # its buffers may be",
           ("tests/test_tensorrt_glue.py::test_default_engine_takes_the_frame_and_returns_a_class_map_without_copies",)),
    Mutant("ort-input-channels-reversed", "edgeseg/runtime/onnxruntime.py",
           "return self._session.run(self._output_names, {self._input_name: batch})[0]",
           "return self._session.run(self._output_names, {self._input_name: batch[:, ::-1].copy()})[0]",
           ("tests/test_chain.py::test_eval_scores_exactly_what_the_oracle_says",)),
    # --- preprocessing and postprocessing
    Mutant("eval-reads-deep-images-its-own-way", "edgeseg/data/datasets.py",
           "        image = read_image(image_path)\n", "        image = cv2.imread(image_path, cv2.IMREAD_COLOR)\n",
           ("tests/test_imageio.py::test_calibrate_eval_and_run_read_deep_and_float_images_to_the_same_pixels",)),
    Mutant("preprocess-colour-order", "edgeseg/preprocess.py",
           'swap = spec.color_order == "rgb"', 'swap = spec.color_order == "bgr"',
           ("tests/test_pipeline.py",)),
    Mutant("argmax-over-the-wrong-axis", "edgeseg/runtime/artifact.py",
           "return self._argmax(output[0])", "return self._argmax(output[0].transpose(1, 0, 2))",
           ("tests/test_pipeline.py", "tests/test_chain.py::test_eval_scores_exactly_what_the_oracle_says")),
    Mutant("host-argmax-forgets-the-running-maximum", "edgeseg/runtime/artifact.py",
           "            np.maximum(best, scores[c], out=best)\n", "",
           ("tests/test_pipeline.py", "tests/test_pixel_graph.py")),
    Mutant("folded-preprocessing-keeps-bgr", "edgeseg/runtime/pixel_graph.py",
           'source = [2, 1, 0] if spec.color_order == "rgb" else [0, 1, 2]',
           'source = [0, 1, 2] if spec.color_order == "rgb" else [2, 1, 0]',
           ("tests/test_pixel_graph.py",)),
    Mutant("frame-resized-nearest", "edgeseg/preprocess.py",
           "cv2.resize(frame_bgr, self.size, dst=buffer[0], interpolation=cv2.INTER_LINEAR)",
           "cv2.resize(frame_bgr, self.size, dst=buffer[0], interpolation=cv2.INTER_NEAREST)",
           ("tests/test_pixel_graph.py",)),
    Mutant("class-map-resized-bilinear", "edgeseg/stream/render.py",
           "interpolation=cv2.INTER_NEAREST)", "interpolation=cv2.INTER_LINEAR)",
           ("tests/test_pipeline.py",)),
    Mutant("eval-prediction-resized-bilinear", "edgeseg/evaluate.py",
           "interpolation=cv2.INTER_NEAREST", "interpolation=cv2.INTER_LINEAR",
           ("tests/test_chain.py::test_eval_scores_exactly_what_the_oracle_says",)),
    # --- metrics
    Mutant("iou-union-counts-true-positives-twice", "edgeseg/metrics.py",
           "union = self.counts.sum(axis=1) + square.sum(axis=0) - true_pos",
           "union = self.counts.sum(axis=1) + square.sum(axis=0)",
           ("tests/test_metrics.py", "tests/test_chain.py::test_eval_scores_exactly_what_the_oracle_says")),
    Mutant("ignore-index-not-ignored", "edgeseg/metrics.py",
           "keep &= label != self.ignore_index", "keep &= label != -1",
           ("tests/test_metrics.py",)),
    # --- frame statistics
    Mutant("percentiles-shifted", "edgeseg/profiling.py",
           "np.percentile(values, PERCENTILES)", "np.percentile(values, [min(p + 5, 100) for p in PERCENTILES])",
           ("tests/test_frame_report.py",)),
    Mutant("queue-wait-sign", "edgeseg/report/frames.py",
           "return total - sum(v for v in stages.values() if v is not None)",
           "return sum(v for v in stages.values() if v is not None) - total",
           ("tests/test_frame_report.py",)),
    # --- nothing lost, nothing leaked
    Mutant("sidecar-committed-before-its-model", "edgeseg/artifacts.py",
           "        os.replace(self.tmp, self.path)  # (2) the commit point\n"
           "        try:\n            os.replace(pending, sidecar_path(self.path))  # (3)",
           "        os.replace(pending, sidecar_path(self.path))  # (3)\n"
           "        try:\n            os.replace(self.tmp, self.path)  # (2) the commit point",
           ("tests/test_artifacts.py",)),
    Mutant("outputs-may-overwrite-inputs", "edgeseg/artifacts.py",
           "        if real in taken:\n", "        if real in taken and False:\n",
           ("tests/test_faults.py",)),
    Mutant("error-messages-keep-passwords", "edgeseg/errors.py",
           "        super().__init__(redact(message))", "        super().__init__(message)",
           ("tests/test_faults.py::test_no_error_message_carries_a_password",)),
    Mutant("video-frame-count-not-verified", "edgeseg/stream/sinks.py",
           "            if readable != self.frames:", "            if readable < 0:",
           ("tests/test_faults.py::test_a_video_the_disk_could_not_hold_is_caught_when_it_is_closed",)),
    Mutant("stats-keep-every-value", "edgeseg/report/stats.py",
           "            if len(self._values) > EXACT_VALUES:", "            if len(self._values) > 10 ** 12:",
           ("tests/test_frame_log.py",)),
    # --- GStreamer pipelines
    Mutant("gst-x264-bitrate-in-bits", "edgeseg/stream/gst.py",
           "bps=bps, kbps=max(1, bps // 1000))", "bps=bps, kbps=bps)",
           ("tests/test_gst.py::test_gst_sink_writes_a_video_opencv_reads_back",)),
    Mutant("gst-sink-killed-not-ended", "edgeseg/stream/gst.py",
           "                process.stdin.close()  # end of stream: the muxer finishes the file",
           "                process.kill()",
           ("tests/test_gst.py::test_gst_sink_writes_a_video_opencv_reads_back",)),
    Mutant("gst-rtp-sent-in-bursts", "edgeseg/stream/gst.py",
           'udpsink host={} port={} auto-multicast=true', 'udpsink host={} port={} sync=false auto-multicast=true',
           ("tests/test_gst.py::test_rtp_output_is_paced_by_the_frames_timestamps",
            "tests/test_gst.py::test_edgeseg_run_streams_rtp_that_is_received_and_decoded",
            "tests/test_gst.py::test_gst_sink_rtp_stream_is_received_on_loopback")),
    Mutant("gst-jetson-converter-always", "edgeseg/stream/gst.py",
           'pick("to BGR", hardware)', 'pick("to BGR", True)',
           ("tests/test_gst.py::test_jetson_decode_pipeline_differs_only_in_swapped_elements",)),
    Mutant("gst-failed-pipeline-ignored", "edgeseg/stream/gst.py",
           "        if code != 0:\n", "        if code not in (0, 1):\n",
           ("tests/test_gst.py::test_failing_pipeline_is_one_line",)),
    Mutant("gst-rtp-output-not-routed", "edgeseg/stream/gst.py",
           'if output.lower().startswith(("rtp://", "rtsp://")) or options.output_codec:',
           'if options.output_codec:',
           ("tests/test_gst.py::test_edgeseg_run_streams_rtp_that_is_received_and_decoded",
            "tests/test_gst.py::test_cli_failing_pipelines_exit_2_in_one_line")),
    # --- segnet's URIs and options (edgeseg run INPUT OUTPUT)
    Mutant("mask-output-writes-the-rendered-image", "edgeseg/stream/pipeline.py",
           "            sink.write(frame.class_map)", "            sink.write(frame.data[..., 0])",
           ("tests/test_segnet_io.py::test_positional_uris_write_a_sequence_class_id_masks_and_stats",)),
    Mutant("glob-in-plain-order", "edgeseg/stream/uri.py",
           "sorted(files, key=natural_key)", "sorted(files)",
           ("tests/test_segnet_io.py::test_input_uris",)),
    Mutant("image-sequence-numbered-from-one", "edgeseg/stream/sinks.py",
           "sequence_path(self.pattern, self.frames)", "sequence_path(self.pattern, self.frames + 1)",
           ("tests/test_segnet_io.py::test_an_image_sequence_is_numbered_from_zero_printf_style",)),
    Mutant("linear-filter-upsamples-nearest", "edgeseg/stream/render.py",
           "cv2.resize(small, (width, height), dst=mask, interpolation=cv2.INTER_LINEAR)",
           "cv2.resize(small, (width, height), dst=mask, interpolation=cv2.INTER_NEAREST)",
           ("tests/test_segnet_io.py::test_filter_modes_upsample_the_mask_nearest_or_bilinear",)),
    Mutant("ignored-class-still-blended", "edgeseg/stream/render.py",
           "        lut[ignore] = 0\n", "        lut[ignore] = lut[ignore]\n",
           ("tests/test_segnet_io.py::test_ignored_class_is_transparent_and_colour_file_alpha_is_per_class",)),
    Mutant("alpha-0-255-taken-as-fraction", "edgeseg/cli/arguments.py",
           "return value / 255.0 if value > 1 else value", "return value",
           ("tests/test_segnet_io.py::test_alpha_takes_fractions_and_segnets_0_to_255",)),
    Mutant("input-loop-one-play-short", "edgeseg/stream/input_options.py",
           'getattr(self.inner, "loops", 0) > self.options.loops',
           'getattr(self.inner, "loops", 0) >= self.options.loops',
           ("tests/test_segnet_io.py::test_input_size_rate_and_loops",)),
    Mutant("input-rate-not-paced", "edgeseg/stream/input_options.py",
           "self._stop.wait(due - now)", "self._stop.wait(0)",
           ("tests/test_segnet_io.py::test_input_size_rate_and_loops",)),
    Mutant("stats-keep-only-the-last-frame", "edgeseg/report/class_shares.py",
           "self.counts += np.bincount", "self.counts = np.bincount",
           ("tests/test_segnet_io.py::test_positional_uris_write_a_sequence_class_id_masks_and_stats",)),
    Mutant("input-given-twice-accepted", "edgeseg/cli/run.py",
           "if getattr(args, positional) is not None and getattr(args, option) is not None:", "if False:",
           ("tests/test_segnet_io.py::test_an_input_given_twice_or_an_unsupported_output_is_one_line_exit_2",)),
    Mutant("uris-after-options-ignored", "edgeseg/cli/arguments.py",
           "setattr(namespace, dest, extras.pop(position))", "pass",
           ("tests/test_segnet_io.py::test_positional_uris_write_a_sequence_class_id_masks_and_stats",)),
    Mutant("colors-file-alpha-ignored", "edgeseg/palettes.py",
           "values[3] / 255.0 if len(values) == 4 and values[3] != 255 else None", "None",
           ("tests/test_segnet_io.py::test_labels_and_colors_files_in_jetson_inference_formats",)),
    # --- the command line
    Mutant("command-flags-overwrite-the-top-level-ones", "edgeseg/cli/common.py",
           "default = False if top_level else argparse.SUPPRESS", "default = False",
           ("tests/test_cli.py::test_output_flags_work_before_and_after_the_command",)),
    Mutant("failed-check-is-bad-input", "edgeseg/errors.py",
           "    exit_code = 1\n", "    exit_code = 2\n",
           ("tests/test_chain.py::test_bench_compares_artifacts_and_keeps_failed_rows",)),
    Mutant("tegrastats-children-outlive-stop", "edgeseg/jetson/tegrastats.py",
           "                os.killpg(process.pid, sig)", "                process.send_signal(sig)",
           ("tests/test_frame_report.py::test_tegrastats_collects_stops_cleanly_and_summarises",)),
    # --- the on-device self-test
    Mutant("selftest-engine-compared-with-itself", "scripts/jetson_selftest.py",
           "worst_agreement(maps, refs)) for name, refs in references.items()]",
           "worst_agreement(maps, maps)) for name, refs in references.items()]",
           ("tests/test_jetson_selftest.py",)),
)


def checkout_files() -> List[str]:
    """Tracked and untracked-but-not-ignored files: the tree CI would test."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            stdout=subprocess.PIPE, check=True).stdout.decode()
    return [path for path in listed.split("\0") if path and os.path.isfile(os.path.join(REPO, path))]


def copy_checkout(files: Sequence[str], target: str) -> None:
    for path in files:
        destination = os.path.join(target, path)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy2(os.path.join(REPO, path), destination)


def plant(root: str, mutant: Mutant) -> None:
    path = os.path.join(root, mutant.path)
    with open(path) as f:
        text = f.read()
    found = text.count(mutant.before)
    if found != 1:
        raise SystemExit("mutant {}: the text to replace occurs {} times in {} (must be once); update it".format(
            mutant.name, found, mutant.path))
    with open(path, "w") as f:
        f.write(text.replace(mutant.before, mutant.after))


def run_tests(root: str, tests: Sequence[str]) -> Tuple[int, List[str], float, int, int]:
    """pytest exit code, the failed test ids, seconds, tests run, tests skipped."""
    report = os.path.join(root, ".mutation-junit.xml")
    env = dict(os.environ, PYTHONPATH=root, PYTHONDONTWRITEBYTECODE="1")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--junitxml",
                             report] + list(tests), cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    failed, ran, skipped = [], 0, 0
    if os.path.exists(report):
        for case in ET.parse(report).getroot().iter("testcase"):
            ran += 1
            skipped += case.find("skipped") is not None
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append("{}::{}".format(case.get("classname", "").replace(".", "/") + ".py", case.get("name")))
    if result.returncode not in (0, 1):
        sys.stdout.write(result.stdout[-3000:])
    return result.returncode, failed, time.perf_counter() - started, ran, skipped


def check_imports_from(root: str) -> None:
    """The scratch copy's edgeseg is what the tests import (not the installed checkout)."""
    code = "import edgeseg, os; print(os.path.dirname(os.path.dirname(os.path.abspath(edgeseg.__file__))))"
    found = subprocess.run([sys.executable, "-c", code], cwd=root, env=dict(os.environ, PYTHONPATH=root),
                           stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    if os.path.realpath(found) != os.path.realpath(root):
        raise SystemExit("the scratch copy imports edgeseg from {}, not {}".format(found, root))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated mutant names")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    mutants = list(MUTANTS)
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {m.name for m in MUTANTS})
        if unknown:
            parser.error("unknown mutant(s): {}".format(", ".join(unknown)))
        mutants = [m for m in MUTANTS if m.name in wanted]
    if args.list:
        for m in mutants:
            print("{:<40} {:<32} {}".format(m.name, m.path, " ".join(m.tests)))
        return 0
    files = checkout_files()
    work = tempfile.mkdtemp(prefix="edgeseg-mutants-")
    try:
        baseline = os.path.join(work, "baseline")
        copy_checkout(files, baseline)
        check_imports_from(baseline)
        tests = sorted({t for m in mutants for t in m.tests})
        code, failed, seconds, _, _ = run_tests(baseline, tests)
        if code != 0:
            print("the named tests fail before any mutation ({}); fix them first".format(", ".join(failed) or code))
            return 2
        print("unmutated: {} test file(s)/id(s) pass ({:.0f} s)".format(len(tests), seconds))
        print("| mutant | file | result | caught by | s |\n|---|---|---|---|---|")
        survived, broken, untestable = [], [], []
        for mutant in mutants:
            root = os.path.join(work, mutant.name)
            copy_checkout(files, root)
            plant(root, mutant)
            code, failed, seconds, ran, skipped = run_tests(root, mutant.tests)
            if code == 1 and failed:
                verdict, detail = "caught", ", ".join(failed)
            elif code == 0 and ran and skipped == ran:  # e.g. a full-disk test where tmpfs cannot be mounted
                verdict, detail = "untestable here", "its tests skip on this machine"
                untestable.append(mutant.name)
            elif code == 0:
                verdict, detail = "SURVIVED", "-"
                survived.append(mutant.name)
            else:
                verdict, detail = "BROKEN", "pytest exit {} (collection error?)".format(code)
                broken.append(mutant.name)
            print("| {} | {} | {} | {} | {:.0f} |".format(mutant.name, mutant.path, verdict, detail, seconds),
                  flush=True)
            shutil.rmtree(root, ignore_errors=True)
        print("{} of {} mutants caught{}".format(
            len(mutants) - len(survived) - len(broken) - len(untestable), len(mutants),
            ", {} untestable here (their tests skip on this machine)".format(len(untestable)) if untestable else ""))
        if broken:
            return 2
        return 1 if survived else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
