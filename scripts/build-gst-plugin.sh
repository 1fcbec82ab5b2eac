#!/usr/bin/env bash
# Builds linewatch's own GStreamer element (lwaravissrc: aravis cameras with their frame ids, see
# src/pipeline/sources/gstreamer/element/lwaravissrc.c) into build/gst/, where the daemon points
# GST_PLUGIN_PATH. Compiled here, at install and test time, never committed as a binary; rebuilt
# only when the source (or this script) is newer than the library. Quiet when up to date.
#   build-gst-plugin.sh             build if needed; fails when a compiler or a -dev package is missing
#   build-gst-plugin.sh --out DIR   build into DIR instead (the test of this script)
#   build-gst-plugin.sh --print     print the library's path and stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/src/pipeline/sources/gstreamer/element/lwaravissrc.c"
out_dir="$root/build/gst"
if [ "${1:-}" = --out ]; then
  out_dir=${2:?"build-gst-plugin.sh: --out needs a folder"}
  shift 2
fi
lib="$out_dir/libgstlwaravis.so"
if [ "${1:-}" = --print ]; then
  echo "$lib"
  exit 0
fi
if [ -f "$lib" ] && [ "$lib" -nt "$src" ] && [ "$lib" -nt "$0" ]; then
  exit 0
fi
pkgs=(gstreamer-1.0 gstreamer-base-1.0 aravis-0.8)
if ! flags=$(pkg-config --cflags --libs "${pkgs[@]}" 2>&1); then
  echo "build-gst-plugin.sh: cannot build lwaravissrc, pkg-config does not find ${pkgs[*]}: $flags" >&2
  echo "  (Debian: libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libaravis-dev)" >&2
  exit 1
fi
mkdir -p "$out_dir"
echo "linewatch: building lwaravissrc → ${lib#"$root"/}" >&2
# Into a temporary name first: a failed build must not leave a half-written library behind.
# shellcheck disable=SC2086  # pkg-config's flags are words
cc -shared -fPIC -O2 -Wall -Wextra -Werror=implicit-function-declaration -o "$lib.tmp" "$src" $flags
mv -f "$lib.tmp" "$lib"
