#!/usr/bin/env bash
# Installs linewatch as a service on a flashed Jetson (JetPack 6.1/6.2, Ubuntu 22.04): Debian
# packages (GStreamer with the L4T hardware elements, aravis, mosquitto client, build tools),
# Node 20, linewatch itself under /opt/linewatch/app, the TensorRT build of onnxruntime-node
# (build-onnxruntime.sh, run first or by --build-onnxruntime), the systemd unit and its user.
# Idempotent: run it again after a `git pull` to update.
#
#   sudo deploy/jetson/install.sh [--build-onnxruntime] [--config FILE] [--warm-engine] [--no-start]
#
#   --build-onnxruntime  run build-onnxruntime.sh first (hours; see README.md)
#   --config FILE        install FILE as /etc/linewatch/config.yaml (kept when absent)
#   --warm-engine        build the configured model's TensorRT engine now, as the service user,
#                        so the first start does not have to (warm-engine.mjs; minutes)
#   --no-start           install and enable, but do not (re)start the service
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
app=/opt/linewatch/app
ort_prefix=/opt/linewatch/onnxruntime
# Node 20 LTS for linux-arm64 (Ubuntu 22.04's nodejs is 12). Checked against the release's SHASUMS256.
NODE_VERSION=20.18.1
NODE_DIST=${NODE_DIST:-https://nodejs.org/dist}

build_ort=0
config=
warm=0
start=1
die() { echo "install: $*" >&2; exit 1; }
say() { echo "install: $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --build-onnxruntime) build_ort=1; shift ;;
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --warm-engine) warm=1; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# Architecture first: on a developer's x86 machine (even as root) nothing may be touched.
[ "$(uname -m)" = aarch64 ] || die "this installs on a Jetson (aarch64); this machine is $(uname -m)"
[ "$(id -u)" = 0 ] || die "run as root (sudo): it installs packages, a user and a systemd unit"
[ -z "$config" ] || [ -f "$config" ] || die "--config $config: no such file"

# --- Debian packages -----------------------------------------------------------------------
# nvidia-l4t-gstreamer: nvvidconv, nvv4l2decoder, nvjpegdec (JetPack installs it; listed so a
# minimal image gets it). libaravis-0.8-0 carries the aravissrc GStreamer element.
debs=(ca-certificates curl git build-essential cmake python3 pkg-config xz-utils
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-libav libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev nvidia-l4t-gstreamer
  libaravis-0.8-0 aravis-tools-cli mosquitto-clients
  libnvinfer10 libnvinfer-dev libnvinfer-plugin-dev libnvonnxparsers-dev libcudnn9-dev-cuda-12)
missing=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'install ok installed' || missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Node 20 -------------------------------------------------------------------------------
node_major=$( (node --version 2>/dev/null || echo v0) | sed 's/^v\([0-9]*\).*/\1/')
if [ "$node_major" -lt 20 ]; then
  say "installing Node $NODE_VERSION into /usr/local"
  tmp=$(mktemp -d)
  tarball=node-v$NODE_VERSION-linux-arm64.tar.xz
  curl -fsSL -o "$tmp/$tarball" "$NODE_DIST/v$NODE_VERSION/$tarball"
  curl -fsSL -o "$tmp/SHASUMS256.txt" "$NODE_DIST/v$NODE_VERSION/SHASUMS256.txt"
  (cd "$tmp" && grep " $tarball\$" SHASUMS256.txt | sha256sum -c --quiet -) || die "Node tarball checksum mismatch"
  tar -xJf "$tmp/$tarball" -C /usr/local --strip-components=1 --no-same-owner
  rm -rf "$tmp"
fi

# --- the TensorRT build of onnxruntime-node -------------------------------------------------
if [ "$build_ort" = 1 ]; then
  "$here/build-onnxruntime.sh" --prefix "$ort_prefix"
fi
shopt -s nullglob
ort_tgz=("$ort_prefix"/onnxruntime-node-*.tgz)
common_tgz=("$ort_prefix"/onnxruntime-common-*.tgz)
shopt -u nullglob
if [ ${#ort_tgz[@]} != 1 ] || [ ${#common_tgz[@]} != 1 ]; then
  die "no single onnxruntime build in $ort_prefix: run deploy/jetson/build-onnxruntime.sh (or --build-onnxruntime)"
fi

# --- user, folders ---------------------------------------------------------------------------
if ! id linewatch >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/linewatch --no-create-home --shell /usr/sbin/nologin \
    --groups video,render linewatch
fi
install -d -o root -g root -m 0755 /opt/linewatch "$app"
install -d -o root -g linewatch -m 0750 /etc/linewatch
install -d -o linewatch -g linewatch -m 0750 /var/lib/linewatch /var/lib/linewatch/trt-engines

# --- linewatch: sources, build, runtime dependencies ----------------------------------------
# The tracked files only (no node_modules, dist or local data from the checkout).
find "$app" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
git -C "$repo" archive --format=tar HEAD | tar -x -C "$app"
cd "$app"
npm ci --no-audit --no-fund --loglevel=error
npx tsc -p tsconfig.json
npm prune --omit=dev --no-audit --no-fund --loglevel=error
# Replace npm's CPU build by ours. --no-save keeps package.json/lockfile as in git; the unit's
# ExecStartPre (check-onnxruntime.sh) refuses to start if an `npm ci` has put the CPU build back.
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --omit=dev --no-audit --no-fund --loglevel=error \
  "${common_tgz[0]}" "${ort_tgz[0]}"
"$app/deploy/jetson/check-onnxruntime.sh" "$app"

# --- configuration and environment ---------------------------------------------------------
if [ -n "$config" ]; then
  install -o root -g linewatch -m 0640 "$config" /etc/linewatch/config.yaml
fi
[ -f /etc/linewatch/config.yaml ] || say "warning: /etc/linewatch/config.yaml missing: give one with --config before starting"
trt_version=$(dpkg-query -W -f='${Version}' libnvinfer10)
cat >/etc/default/linewatch <<EOF
# Written by deploy/jetson/install.sh; read by linewatch.service.
# The engine cache is keyed by it: a JetPack upgrade rebuilds the engines instead of loading stale ones.
LINEWATCH_TENSORRT_VERSION=${trt_version%%-*}
LINEWATCH_HEALTH_URL=http://127.0.0.1:9464/healthz
EOF

# --- engine build now rather than at first start (optional) ---------------------------------
if [ "$warm" = 1 ]; then
  [ -f /etc/linewatch/config.yaml ] || die "--warm-engine needs /etc/linewatch/config.yaml (give --config)"
  say "building the TensorRT engine of the configured model (minutes)"
  (cd "$app" && runuser -u linewatch -- env "LINEWATCH_TENSORRT_VERSION=${trt_version%%-*}" \
    node "$app/deploy/jetson/warm-engine.mjs" --config /etc/linewatch/config.yaml)
fi

# --- systemd --------------------------------------------------------------------------------
install -m 0644 "$app/deploy/jetson/linewatch.service" /etc/systemd/system/linewatch.service
systemctl daemon-reload
systemctl enable linewatch.service
if [ "$start" = 1 ] && [ -f /etc/linewatch/config.yaml ]; then
  systemctl restart linewatch.service
  say "started; follow it with: journalctl -u linewatch -f"
else
  say "installed; start it with: systemctl start linewatch"
fi
