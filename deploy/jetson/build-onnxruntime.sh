#!/usr/bin/env bash
# Builds onnxruntime from source on a Jetson (JetPack 6.1/6.2: CUDA 12.6, TensorRT 10.3) with the
# CUDA and TensorRT execution providers and the Node binding, applies linewatch's patches (the
# binding then forwards the TensorRT EP's trt_* options), and installs two npm tarballs under
# PREFIX. install.sh installs them into linewatch's node_modules in place of the npm CPU build.
#
#   build-onnxruntime.sh [--prefix DIR] [--src DIR] [--jobs N] [--ref COMMIT]
#
#   --prefix  where the tarballs and BUILD_INFO go (default /opt/linewatch/onnxruntime)
#   --src     build tree; reused when it already holds the pinned ref (default /var/tmp/linewatch-ort)
#   --jobs    parallel compile jobs (default: 4, or 2 when the board has less than 12 GiB of RAM:
#             nvcc needs ~1.5 GiB per job and the Orin's memory is shared with the GPU)
#   --ref     another onnxruntime commit or tag; the patch is checked against it before building
#
# Expected time (estimate, not measured here): 2–3 h on an Orin AGX 64 GB, 4–6 h on an Orin NX 16 GB.
# See README.md for the pairing table of JetPack, CUDA, TensorRT and this ref.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# The ref the patch was written and tested against (test/deploy/onnxruntime-patch.test.ts reads
# this line): change both together.
ORT_COMMIT=00982754f43b6a1abc586e0d873993365c30cb6f
ORT_REPO=${ORT_REPO:-https://github.com/microsoft/onnxruntime.git}
prefix=/opt/linewatch/onnxruntime
src=/var/tmp/linewatch-ort
jobs=
ref=$ORT_COMMIT

die() { echo "build-onnxruntime: $*" >&2; exit 1; }
say() { echo "build-onnxruntime: $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
    --src) src=${2:?--src needs a folder}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --ref) ref=${2:?--ref needs a commit or tag}; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# --- what this machine has ------------------------------------------------------------------
[ "$(uname -m)" = aarch64 ] || die "this builds for a Jetson (aarch64); this machine is $(uname -m)"
[ -r /etc/nv_tegra_release ] || say "warning: /etc/nv_tegra_release missing: not an L4T system (a JetPack container?)"
l4t=$(sed -n 's/^# R\([0-9]*\) (release), REVISION: \([0-9.]*\).*/\1.\2/p' /etc/nv_tegra_release 2>/dev/null || true)

cuda_home=${CUDA_HOME:-/usr/local/cuda}
[ -x "$cuda_home/bin/nvcc" ] || die "nvcc not found under $cuda_home (install JetPack's cuda-toolkit, e.g. apt-get install nvidia-jetpack)"
cuda_version=$("$cuda_home/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')

trt_version=$(dpkg-query -W -f='${Version}' libnvinfer10 2>/dev/null || true)
trt_version=${trt_version%%-*}
case $trt_version in
  10.*) ;;
  "") die "TensorRT 10 (libnvinfer10) is not installed: JetPack 6.1 or newer is needed (see README.md pairing table)" ;;
  *) die "TensorRT $trt_version found; the pinned onnxruntime needs TensorRT 10.x (JetPack 6.1+), see README.md" ;;
esac
[ -f /usr/include/aarch64-linux-gnu/NvInfer.h ] || die "TensorRT headers missing: apt-get install libnvinfer-dev libnvonnxparsers-dev"
[ -f /usr/include/aarch64-linux-gnu/cudnn_version.h ] || [ -f /usr/include/cudnn_version.h ] || die "cuDNN headers missing: apt-get install libcudnn9-dev-cuda-12"
command -v node >/dev/null || die "Node.js is needed for the binding (install.sh installs Node 20)"
command -v cmake >/dev/null || die "cmake is needed (apt-get install cmake; onnxruntime wants >= 3.28, pip install cmake gives one)"

if [ -z "$jobs" ]; then
  mem_kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
  if [ "$mem_kib" -lt $((12 * 1024 * 1024)) ]; then jobs=2; else jobs=4; fi
fi
say "L4T ${l4t:-?}, CUDA $cuda_version, TensorRT $trt_version, onnxruntime $ref, $jobs jobs"

# --- source at the pinned ref, patched -----------------------------------------------------
mkdir -p "$src"
cd "$src"
if [ ! -d .git ]; then
  git init -q .
  git remote add origin "$ORT_REPO"
fi
if [ "$(git rev-parse -q --verify HEAD 2>/dev/null || true)" != "$(git rev-parse -q --verify "$ref^{commit}" 2>/dev/null || echo none)" ]; then
  git fetch -q --depth 1 origin "$ref"
  git checkout -q --force FETCH_HEAD
  git submodule update -q --init --recursive --depth 1
fi
commit=$(git rev-parse HEAD)

patches=()
for p in "$here"/patches/*.patch; do
  patches+=("$(basename "$p")")
  if git apply --reverse --check "$p" 2>/dev/null; then
    say "patch $(basename "$p") already applied"
    continue
  fi
  git apply --check "$p" || die "patch $(basename "$p") does not apply to onnxruntime $commit; refresh it (README.md, 'Updating the pin')"
  git apply "$p"
  say "applied $(basename "$p")"
done

# --- build: library, CUDA + TensorRT EPs, Node binding -------------------------------------
# sm_87 is every Orin (AGX, NX, Nano); building one architecture halves the CUDA compile time.
# The flash/memory-efficient attention kernels serve LLM contrib ops, not ViTs, and take hours to compile.
./build.sh --config Release --update --build --parallel "$jobs" --nvcc_threads 1 \
  --build_shared_lib --build_nodejs --skip_tests --allow_running_as_root \
  --use_cuda --cuda_home "$cuda_home" --cudnn_home /usr/lib/aarch64-linux-gnu \
  --use_tensorrt --tensorrt_home /usr/lib/aarch64-linux-gnu \
  --cmake_extra_defines CMAKE_CUDA_ARCHITECTURES=87 onnxruntime_BUILD_UNIT_TESTS=OFF \
  onnxruntime_USE_FLASH_ATTENTION=OFF onnxruntime_USE_MEMORY_EFFICIENT_ATTENTION=OFF

# The binding loads the providers from its own folder.
bin=js/node/bin/napi-v6/linux/arm64
[ -f "$bin/onnxruntime_binding.node" ] || die "the Node binding was not built ($bin/onnxruntime_binding.node missing)"
for lib in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so libonnxruntime_providers_tensorrt.so; do
  [ -f "build/Linux/Release/$lib" ] || die "build/Linux/Release/$lib missing: the CUDA/TensorRT EPs were not built"
  cp -f "build/Linux/Release/$lib" "$bin/"
done

# --- pack: onnxruntime-common and onnxruntime-node of this very commit ----------------------
# The package records what it is, so linewatch (check-onnxruntime.sh) can refuse the npm CPU build.
node -e '
  const fs = require("fs");
  const [file, commit, trt, cuda, l4t, patches] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  pkg.linewatch = { onnxruntimeCommit: commit, tensorrt: trt, cuda, l4t, patches: patches.split(",") };
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' js/node/package.json "$commit" "$trt_version" "$cuda_version" "${l4t:-unknown}" \
  "$(IFS=,; echo "${patches[*]}")"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd js/common && npm ci --no-audit --no-fund --loglevel=error && npm pack --pack-destination "$out" >/dev/null)
(cd js/node && npm pack --pack-destination "$out" >/dev/null)

install -d "$prefix"
rm -f "$prefix"/onnxruntime-common-*.tgz "$prefix"/onnxruntime-node-*.tgz
install -m 0644 "$out"/onnxruntime-common-*.tgz "$out"/onnxruntime-node-*.tgz "$prefix/"
cat >"$prefix/BUILD_INFO" <<EOF
onnxruntime_commit=$commit
tensorrt=$trt_version
cuda=$cuda_version
l4t=${l4t:-unknown}
built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
say "installed onnxruntime-common and onnxruntime-node ($commit, TensorRT $trt_version) into $prefix"
