#!/usr/bin/env bash
# Installs what linewatch needs and is missing, then nothing more. Idempotent and quiet when all is there.
#   ensure-deps.sh runtime   what `npm start` needs (GStreamer, node modules)
#   ensure-deps.sh test      also what `npm test` needs (mosquitto, PyTorch for trainer/, test tools)
set -euo pipefail
mode=${1:-runtime}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

runtime_debs=(build-essential python3 pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad libaravis-0.8-0)
test_debs=(mosquitto mosquitto-clients openssl python3-torch python3-numpy python3-pil python3-scipy
  python3-sklearn python3-skimage python3-pytest python3-tqdm python3-yaml python3-venv python3-pip
  shellcheck chromium aravis-tools aravis-tools-cli libcap2-bin)

debs=("${runtime_debs[@]}")
[ "$mode" = test ] && debs+=("${test_debs[@]}")

missing=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'install ok installed' || missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "linewatch: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "linewatch: missing Debian packages: ${missing[*]}" >&2
    echo "  install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# node_modules is current when npm's own record of it is newer than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "linewatch: npm ci" >&2
  # onnxruntime-node's install script would fetch its CUDA providers from NuGet (an unhandled rejection
  # fails the whole npm ci where that host is unreachable); the CPU build linewatch uses ships in it.
  # package.json's allowScripts denies that script on npm versions that honour it; this variable,
  # which the script itself reads, covers older npm (10.x, bundled with Node 20 and 22).
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$mode" = test ]; then
  bash trainer/scripts/ensure-venv.sh
fi
