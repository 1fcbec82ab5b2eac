#!/usr/bin/env bash
# Step 3: installs linewatch as a service on the Jetson, after prepare-board.sh and
# build-onnxruntime.sh: linewatch itself under /opt/linewatch/app with the TensorRT build of
# onnxruntime-node in place of npm's CPU build, the `linewatch` user (groups video, render), the
# systemd unit and /etc/default/linewatch (the TensorRT version the engine cache is keyed by).
# Checks what it needs first and stops, naming what to do, when something is missing.
# Idempotent: run it again after a `git pull`, a rebuild of onnxruntime or a JetPack upgrade.
#
#   sudo deploy/jetson/install.sh [--config FILE] [--warm-engine] [--no-start]
#
#   --config FILE        install FILE as /etc/linewatch/config.yaml (kept when absent)
#   --warm-engine        build the configured model's TensorRT engine now, as the service user,
#                        so the first start does not have to (warm-engine.mjs; minutes)
#   --no-start           install and enable, but do not (re)start the service
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LW_SCRIPT=install
# shellcheck source-path=SCRIPTDIR source=lib/board.sh
. "$here/lib/board.sh"
app=/opt/linewatch/app
ort_prefix=/opt/linewatch/onnxruntime

config=
warm=0
start=1
die() { lw_say "$*"; exit 1; }
say() { lw_say "$*"; }

while [ $# -gt 0 ]; do
  case $1 in
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --warm-engine) warm=1; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# Architecture first: on a developer's x86 machine (even as root) nothing may be touched.
[ "$(uname -m)" = aarch64 ] || die "this installs on a Jetson (aarch64); this machine is $(uname -m)"
[ "$(id -u)" = 0 ] || die "run as root (sudo): it installs a user, files under /opt and a systemd unit"
[ -z "$config" ] || [ -f "$config" ] || die "--config $config: no such file"
lw_require l4t node tensorrt gstreamer "onnxruntime-build:$ort_prefix:$LW_ORT_COMMIT" disk:/opt:2
shopt -s nullglob
ort_tgz=("$ort_prefix"/onnxruntime-node-*.tgz)
common_tgz=("$ort_prefix"/onnxruntime-common-*.tgz)
shopt -u nullglob
trt_version=$(lw_board_trt)

# --- user, folders ---------------------------------------------------------------------------
# video: /dev/video* and the camera/multimedia nodes; render: /dev/dri/renderD128, which CUDA opens
# on JetPack 6. usermod also mends a user made by an older version of this script.
if ! id linewatch >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/linewatch --no-create-home --shell /usr/sbin/nologin linewatch
fi
usermod -a -G video,render linewatch
install -d -o root -g root -m 0755 /opt/linewatch "$app"
install -d -o root -g linewatch -m 0750 /etc/linewatch
install -d -o linewatch -g linewatch -m 0750 /var/lib/linewatch /var/lib/linewatch/trt-engines

# --- linewatch: sources, build, runtime dependencies ----------------------------------------
# The tracked files only (no node_modules, dist or local data from the checkout).
find "$app" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
git -C "$repo" archive --format=tar HEAD | tar -x -C "$app"
cd "$app"
# gstreamer-superficial is compiled for this Node: use its own headers (the nodejs.org tarball
# prepare-board.sh installs carries them) rather than fetching them.
node_prefix=$(dirname "$(dirname "$(command -v node)")")
if [ -f "$node_prefix/include/node/node.h" ]; then export npm_config_nodedir=$node_prefix; fi
# onnxruntime-node's install script downloads nothing (package.json's allowScripts says the same to
# the npm versions that read it).
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund --loglevel=error
npx tsc -p tsconfig.json
# linewatch's aravis element (lwaravissrc: GigE frame ids), against prepare-board.sh's libaravis-dev.
bash scripts/build-gst-plugin.sh
npm prune --omit=dev --no-audit --no-fund --loglevel=error
# Replace npm's CPU build by ours. --no-save keeps package.json/lockfile as in git; the unit's
# ExecStartPre (check-onnxruntime.sh) refuses to start if an `npm ci` has put the CPU build back.
npm install --no-save --omit=dev --no-audit --no-fund --loglevel=error "${common_tgz[0]}" "${ort_tgz[0]}"

# --- configuration and environment ---------------------------------------------------------
if [ -n "$config" ]; then
  install -o root -g linewatch -m 0640 "$config" /etc/linewatch/config.yaml
fi
[ -f /etc/linewatch/config.yaml ] || say "warning: /etc/linewatch/config.yaml missing: give one with --config before starting"
cat >/etc/default/linewatch <<EOF
# Written by deploy/jetson/install.sh; read by linewatch.service.
# The engine cache is keyed by it (lib/board.sh lw_trt_version: libnvinfer$LW_TRT_MAJOR's four numbers);
# check-onnxruntime.sh refuses to start when JetPack's TensorRT no longer matches: rerun install.sh.
LINEWATCH_TENSORRT_VERSION=$trt_version
LINEWATCH_HEALTH_URL=http://127.0.0.1:9464/healthz
EOF
LINEWATCH_TENSORRT_VERSION=$trt_version "$app/deploy/jetson/check-onnxruntime.sh" "$app"

# --- engine build now rather than at first start (optional) ---------------------------------
if [ "$warm" = 1 ]; then
  [ -f /etc/linewatch/config.yaml ] || die "--warm-engine needs /etc/linewatch/config.yaml (give --config)"
  say "building the TensorRT engine of the configured model (minutes)"
  (cd "$app" && runuser -u linewatch -- env "LINEWATCH_TENSORRT_VERSION=$trt_version" \
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
