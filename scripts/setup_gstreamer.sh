#!/usr/bin/env bash
# Install GStreamer's command-line tools and software codecs (Debian/Ubuntu packages) when gst-launch-1.0 is
# missing, so the tests run edgeseg's GStreamer pipelines (tests/test_gst.py). Quiet; where apt-get or root is
# missing it says so in one line and installs nothing (those tests then skip). A Jetson has GStreamer already.
set -euo pipefail
if command -v gst-launch-1.0 >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "setup_gstreamer: gst-launch-1.0 not found and apt-get as root unavailable; GStreamer tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends gstreamer1.0-tools gstreamer1.0-plugins-base \
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav >/dev/null
