#!/usr/bin/env bash
# Installs what linewatch needs and is missing, then nothing more. Idempotent and quiet when all is there.
#   ensure-deps.sh runtime   what `npm start` needs (GStreamer, node modules, mosquitto_sub to watch the demo)
#   ensure-deps.sh trainer   what bin/trainer needs (PyTorch and trainer/.venv), no node modules
#   ensure-deps.sh test      all of it, and what `npm test` needs (mosquitto, test tools)
#   ensure-deps.sh --list M  print mode M's Debian packages, one a line, and stop
# While something else installs, it waits for the package manager's lock and says so (lib/apt-lock.sh).
set -euo pipefail
list_only=false
if [ "${1:-}" = --list ]; then
  list_only=true
  shift
fi
mode=${1:-runtime}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=SCRIPTDIR/lib/apt-lock.sh
. "$root/scripts/lib/apt-lock.sh"

runtime_debs=(build-essential python3 pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad libaravis-0.8-0
  libaravis-dev libusb-1.0-0-dev mosquitto-clients)
# libaravis-dev: scripts/build-gst-plugin.sh compiles linewatch's aravis element (lwaravissrc) against it;
# libusb-1.0-0-dev: aravis-0.8.pc requires libusb-1.0, which libaravis-dev does not pull in.
trainer_debs=(python3-torch python3-numpy python3-pil python3-scipy python3-sklearn python3-tqdm python3-venv python3-pip)
test_debs=(mosquitto openssl python3-skimage python3-pytest python3-yaml
  shellcheck chromium aravis-tools aravis-tools-cli libcap2-bin)

case "$mode" in
  runtime) debs=("${runtime_debs[@]}") ;;
  trainer) debs=("${trainer_debs[@]}") ;;
  test) debs=("${runtime_debs[@]}" "${trainer_debs[@]}" "${test_debs[@]}") ;;
  *)
    echo "ensure-deps.sh: unknown mode '$mode' (runtime, trainer or test)" >&2
    exit 2
    ;;
esac
if $list_only; then
  printf '%s\n' "${debs[@]}"
  exit 0
fi

missing=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'install ok installed' || missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "linewatch: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    mapfile -t lock_wait < <(apt_lock_options)
    wait_for_apt_locks
    apt-get "${lock_wait[@]}" update -qq
    wait_for_apt_locks
    apt-get "${lock_wait[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "linewatch: missing Debian packages: ${missing[*]}" >&2
    echo "  install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# node_modules is current when npm's own record of it is newer than the lockfile and than the
# patches patch-package applies at install (a changed binding patch needs a clean reinstall: a
# patch cannot be applied over its previous version).
stale_modules() {
  [ ! -f node_modules/.package-lock.json ] && return 0
  [ package-lock.json -nt node_modules/.package-lock.json ] && return 0
  local p
  for p in patches/*.patch; do
    [ -e "$p" ] && [ "$p" -nt node_modules/.package-lock.json ] && return 0
  done
  return 1
}
if [ "$mode" != trainer ] && stale_modules; then
  echo "linewatch: npm ci" >&2
  # onnxruntime-node's install script would fetch its CUDA providers from NuGet (an unhandled rejection
  # fails the whole npm ci where that host is unreachable); the CPU build linewatch uses ships in it.
  # package.json's allowScripts denies that script on npm versions that honour it; this variable,
  # which the script itself reads, covers older npm (10.x, bundled with Node 20 and 22).
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
fi

# linewatch's own GStreamer element (lwaravissrc: GigE Vision frame ids), compiled here, never committed.
if [ "$mode" != trainer ]; then
  bash scripts/build-gst-plugin.sh
fi

if [ "$mode" != runtime ]; then
  bash trainer/scripts/ensure-venv.sh
fi
