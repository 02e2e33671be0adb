"""DeepStream segmentation probe: runs source -> nvstreammux -> nvinfer (the exported config) -> fakesink and
prints, per frame, the share of pixels of each class from nvinfer's segmentation metadata (pyds).

`edgeseg export-deepstream` writes this file into its folder as seg_probe.py, the settings block filled in
for the exported model; it needs only DeepStream's Python bindings (pyds), GStreamer's gi and numpy, not
edgeseg. On the device, in that folder:

    python3 seg_probe.py [SOURCE]     # a video file, file://, rtsp:// or http(s):// URI, csi://N, /dev/videoN

The share computation and its formatting are plain functions (class_shares, format_shares), run by edgeseg's
tests on real class maps; the pyds/GStreamer glue below them runs on a Jetson with DeepStream only.
"""
import os
import sys
from typing import List, Sequence, Tuple

import numpy as np

# --- settings: written by `edgeseg export-deepstream` ---
INFER_CONFIG = "config_infer_primary.txt"
LABELS_FILE = "labels.txt"
NUM_CLASSES = 0
MUXER_SIZE = (1920, 1080)
SOURCE = "csi://0"
# --- end of settings ---

SETTINGS_BEGIN = "# --- settings: written by `edgeseg export-deepstream` ---\n"
SETTINGS_END = "# --- end of settings ---\n"


def class_shares(class_map: np.ndarray, num_classes: int) -> Tuple[List[float], float]:
    """(share of the pixels of each class 0..num_classes-1, share of unlabelled pixels) of one class map.
    nvinfer marks a pixel whose best score is under segmentation-threshold with -1: unlabelled."""
    ids = np.asarray(class_map).ravel()
    known = ids[(ids >= 0) & (ids < num_classes)].astype(np.int64)
    counts = np.bincount(known, minlength=num_classes)
    total = max(ids.size, 1)
    return [float(c) / total for c in counts], float(ids.size - known.size) / total


def format_shares(frame_number: int, shares: Sequence[float], unlabelled: float, names: Sequence[str]) -> str:
    """One line: the frame number, then each class present, largest share first, then the unlabelled."""
    present = sorted((share, name) for name, share in zip(names, shares) if share > 0)
    cells = ["{} {:.1%}".format(name, share) for share, name in reversed(present)]
    if unlabelled > 0:
        cells.append("unlabelled {:.1%}".format(unlabelled))
    return "frame {}: {}".format(frame_number, ", ".join(cells) or "no pixels")


def read_labels(folder: str) -> List[str]:
    """The class names of LABELS_FILE beside this script; exits naming the file if they are not NUM_CLASSES."""
    path = os.path.join(folder, LABELS_FILE)
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) != NUM_CLASSES:
        sys.exit("{}: {} class names, but the model has {} classes; export the folder again".format(
            path, len(names), NUM_CLASSES))
    return names


def source_description(source: str) -> str:
    """The gst-launch description of the elements that feed nvstreammux's sink_0."""
    width, height = MUXER_SIZE
    if source.startswith("csi://"):
        return "nvarguscamerasrc sensor-id={} ! video/x-raw(memory:NVMM),width={},height={}".format(
            int(source[len("csi://"):]), width, height)
    if source.startswith("/dev/video") or source.isdigit():
        device = source if source.startswith("/dev/") else "/dev/video" + source
        return "v4l2src device={} ! videoconvert ! nvvideoconvert ! video/x-raw(memory:NVMM),format=NV12".format(
            device)
    uri = source if "://" in source else "file://" + os.path.abspath(source)
    return "uridecodebin uri={}".format(uri)


def _each(glist, cast):
    """The items of a pyds GList, cast (the bindings end a list with None or, in old ones, StopIteration)."""
    while glist is not None:
        try:
            yield cast(glist.data)
            glist = glist.next
        except StopIteration:
            return


def _probe(pad, info, names):
    import pyds
    from gi.repository import Gst

    buffer = info.get_buffer()
    if buffer:
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(buffer))
        for frame_meta in _each(batch_meta.frame_meta_list, pyds.NvDsFrameMeta.cast):
            for user_meta in _each(frame_meta.frame_user_meta_list, pyds.NvDsUserMeta.cast):
                if user_meta.base_meta.meta_type == pyds.NVDSINFER_SEGMENTATION_META:
                    seg_meta = pyds.NvDsInferSegmentationMeta.cast(user_meta.user_meta_data)
                    class_map = np.array(pyds.get_segmentation_masks(seg_meta), copy=True)
                    shares, unlabelled = class_shares(class_map, len(names))
                    print(format_shares(frame_meta.frame_num, shares, unlabelled, names), flush=True)
    return Gst.PadProbeReturn.OK


def main(argv: List[str]) -> int:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst

    folder = os.path.dirname(os.path.abspath(__file__))
    names = read_labels(folder)
    Gst.init(None)
    width, height = MUXER_SIZE
    pipeline = Gst.parse_launch(
        "{} ! mux.sink_0 nvstreammux name=mux batch-size=1 width={} height={} batched-push-timeout=40000 ! "
        "nvinfer name=seg config-file-path={} ! fakesink sync=false".format(
            source_description(argv[1] if len(argv) > 1 else SOURCE), width, height,
            os.path.join(folder, INFER_CONFIG)))
    pipeline.get_by_name("seg").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, _probe, names)
    loop = GLib.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()

    def on_message(_bus, message):
        if message.type == Gst.MessageType.ERROR:
            print("error: {}".format(message.parse_error()[0].message), file=sys.stderr)
            loop.quit()
        elif message.type == Gst.MessageType.EOS:
            loop.quit()

    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    finally:
        pipeline.set_state(Gst.State.NULL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
