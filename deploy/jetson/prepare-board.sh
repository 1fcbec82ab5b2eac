#!/usr/bin/env bash
# Step 1 on a freshly flashed Jetson (JetPack 6.1 or newer): everything the onnxruntime build and
# linewatch need that JetPack does not put there by itself. Idempotent; prints what it found.
#   - NVIDIA's CUDA, cuDNN and TensorRT development packages (nvidia-*-dev), GStreamer with NVIDIA's
#     elements (nvidia-l4t-gstreamer), aravis, build tools;
#   - CMake >= 3.28 from PyPI in /opt/linewatch/cmake (Ubuntu 22.04's apt has 3.22);
#   - Node 24 LTS in /usr/local, unless a supported LTS (22 or 24) is already there;
#   - with --swap-gib N, a swap file so that RAM + disk swap reaches what the build needs.
#
#   sudo deploy/jetson/prepare-board.sh [--swap-gib N] [--swap-file PATH]
#
#   --swap-gib N     create an N GiB swap file when RAM + disk-backed swap is below 16 GiB
#                    (the build needs it on 8 GB boards; zram does not count: it is RAM)
#   --swap-file PATH where (default /swapfile-linewatch; put it on the NVMe drive if / is an SD card)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
LW_SCRIPT=prepare-board
# shellcheck source-path=SCRIPTDIR source=lib/board.sh
. "$here/lib/board.sh"
NODE_DIST=${NODE_DIST:-https://nodejs.org/dist}
swap_gib=
swap_file=/swapfile-linewatch

die() { lw_say "$*"; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --swap-gib) swap_gib=${2:?--swap-gib needs a number}; shift 2 ;;
    --swap-file) swap_file=${2:?--swap-file needs a path}; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -z $swap_gib || $swap_gib =~ ^[0-9]+$ ]] || die "--swap-gib $swap_gib: a whole number of GiB"

# Architecture first: on a developer's x86 machine (even as root) nothing may be touched.
[ "$(uname -m)" = aarch64 ] || die "this prepares a Jetson (aarch64); this machine is $(uname -m)"
[ "$(id -u)" = 0 ] || die "run as root (sudo): it installs packages"

# The packages take ~8 GiB with the CUDA toolkit (estimate).
lw_require l4t disk:/usr:8

# --- Debian packages: one apt run for all that is missing ------------------------------------
# nvidia-{cuda,cudnn,tensorrt}-dev are JetPack's own meta packages (NVIDIA's apt source is set up
# by the flash); the explicit TensorRT/cuDNN names are what build-onnxruntime.sh compiles against.
debs=(ca-certificates curl git build-essential python3 python3-venv pkg-config xz-utils
  nvidia-cuda-dev nvidia-cudnn-dev nvidia-tensorrt-dev libnvinfer-dev libnvonnxparsers-dev libcudnn9-dev-cuda-12
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-libav libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev nvidia-l4t-gstreamer
  libaravis-0.8-0 libaravis-dev libusb-1.0-0-dev aravis-tools-cli mosquitto-clients)
lw_install_debs() {
  local missing=() d
  for d in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'install ok installed' || missing+=("$d")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  lw_say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
lw_install_cuda() { lw_install_debs; }
lw_install_cudnn() { lw_install_debs; }
lw_install_tensorrt() { lw_install_debs; }
lw_install_tensorrt_dev() { lw_install_debs; }
lw_install_gstreamer() {
  lw_install_debs
  # GStreamer caches its plugin list; a stale one hides the NVIDIA elements just installed.
  rm -rf "${HOME:-/root}/.cache/gstreamer-1.0"
}

# --- CMake from PyPI, in a venv of its own (the system cmake is left alone) --------------------
lw_install_cmake() {
  python3 -m venv "$LW_CMAKE_HOME"
  "$LW_CMAKE_HOME/bin/pip" install --quiet --disable-pip-version-check "cmake==$LW_CMAKE_PIP"
}

# --- Node LTS from nodejs.org, checked against the release's SHASUMS256 -------------------------
lw_install_node() {
  local tmp tarball=node-v$LW_NODE_VERSION-linux-arm64.tar.xz
  tmp=$(mktemp -d)
  lw_say "installing Node $LW_NODE_VERSION into /usr/local"
  curl -fsSL -o "$tmp/$tarball" "$NODE_DIST/v$LW_NODE_VERSION/$tarball"
  curl -fsSL -o "$tmp/SHASUMS256.txt" "$NODE_DIST/v$LW_NODE_VERSION/SHASUMS256.txt"
  (cd "$tmp" && grep " $tarball\$" SHASUMS256.txt | sha256sum -c --quiet -) || die "Node tarball checksum mismatch"
  tar -xJf "$tmp/$tarball" -C /usr/local --strip-components=1 --no-same-owner
  rm -rf "$tmp"
  hash -r
}

# --- swap for the build -----------------------------------------------------------------------
lw_install_build_memory() {
  [ -n "$swap_gib" ] || return 0 # lw_ensure then names the --swap-gib this board needs
  [ -e "$swap_file" ] && die "$swap_file exists already; remove it or give another --swap-file"
  local dir need=$((swap_gib + 1))
  dir=$(dirname "$swap_file")
  lw_require "disk:$dir:$need"
  lw_say "creating a $swap_gib GiB swap file at $swap_file (swapoff $swap_file && rm $swap_file after the build)"
  fallocate -l "${swap_gib}G" "$swap_file"
  chmod 600 "$swap_file"
  mkswap "$swap_file" >/dev/null
  swapon "$swap_file"
}

lw_install_debs
lw_ensure cuda cudnn tensorrt tensorrt-dev gstreamer cmake node build-memory
lw_say "board ready: next, sudo deploy/jetson/build-onnxruntime.sh (hours; README.md, step 5)"
