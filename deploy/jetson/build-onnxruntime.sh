#!/usr/bin/env bash
# Step 2: builds onnxruntime from source on the Jetson (JetPack 6.1+: CUDA 12.6, cuDNN 9.3,
# TensorRT 10.3) with the CUDA and TensorRT execution providers and the Node binding, applies
# linewatch's patches (the binding then forwards the TensorRT EP's trt_* options), and installs two
# npm tarballs under PREFIX. install.sh installs them into linewatch's node_modules in place of the
# npm CPU build. Run prepare-board.sh first: this script checks what it needs and stops, naming
# what to do, when something is missing (versions, memory + swap, free disk).
#
#   build-onnxruntime.sh [--prefix DIR] [--src DIR] [--jobs N] [--force]
#
#   --prefix  where the tarballs and BUILD_INFO go (default /opt/linewatch/onnxruntime)
#   --src     build tree; reused when it already holds the pinned commit (default
#             /var/tmp/linewatch-ort); needs ~30 GiB free (estimate): put it on an NVMe drive
#   --jobs    parallel compile jobs (default: from the RAM available when the build starts, 4 GiB
#             per job after 2 GiB for the system, at most one per CPU; on an idle board: 1 on 8 GB
#             boards, 3 on Orin NX 16 GB, 7 on AGX Orin 32 GB)
#   --force   build again even when PREFIX already holds this commit's build
#
# Expected time (estimate, not measured here): 2–3 h on an AGX Orin 64 GB, 4–6 h on an Orin NX 16 GB.
# See README.md for the pairing of JetPack, CUDA, TensorRT and this commit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
LW_SCRIPT=build-onnxruntime
# shellcheck source-path=SCRIPTDIR source=lib/board.sh
. "$here/lib/board.sh"
ORT_REPO=${ORT_REPO:-https://github.com/microsoft/onnxruntime.git}
prefix=/opt/linewatch/onnxruntime
src=/var/tmp/linewatch-ort
jobs=
force=0

die() { lw_say "$*"; exit 1; }
say() { lw_say "$*"; }

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
    --src) src=${2:?--src needs a folder}; shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# --- what this machine has ------------------------------------------------------------------
[ "$(uname -m)" = aarch64 ] || die "this builds for a Jetson (aarch64); this machine is $(uname -m)"
[[ -z $jobs || $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs $jobs: a positive whole number"
lw_require l4t cuda cudnn tensorrt-dev cmake node build-memory "disk:$src:$LW_BUILD_DISK_GIB"
# The whole build, run by lw_ensure below when PREFIX does not hold this commit's build yet.
lw_install_onnxruntime_build() {
  cuda_home=$(lw_cuda_home)
  cuda_version=$(lw_cuda_of_nvcc "$("$cuda_home/bin/nvcc" --version)")
  trt_version=$(lw_board_trt)
  l4t=$(lw_board_l4t)
  cmake_bin=$(lw_cmake_bin)
  if [ -z "$jobs" ]; then
    # MemAvailable, not MemTotal: a desktop session or another service takes its share first.
    jobs=$(lw_build_jobs "$(lw_meminfo_kib MemAvailable "$(cat /proc/meminfo)")" "$(nproc)")
  fi
  say "L4T $l4t, CUDA $cuda_version, TensorRT $trt_version, onnxruntime $LW_ORT_COMMIT, $jobs jobs"

  # --- source at the pinned ref, patched -----------------------------------------------------
  mkdir -p "$src"
  cd "$src"
  if [ ! -d .git ]; then
    git init -q .
    git remote add origin "$ORT_REPO"
  fi
  if [ "$(git rev-parse -q --verify HEAD 2>/dev/null || true)" != "$LW_ORT_COMMIT" ]; then
    git fetch -q --depth 1 origin "$LW_ORT_COMMIT"
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
  # --cmake_path/--ctest_path: ONNX Runtime needs CMake >= 3.28, which prepare-board.sh put beside
  # (not over) Ubuntu's 3.22.
  ./build.sh --config Release --update --build --parallel "$jobs" --nvcc_threads 1 \
    --cmake_path "$cmake_bin" --ctest_path "$(dirname "$cmake_bin")/ctest" \
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
}

# --force: forget the build in PREFIX so that lw_ensure builds again.
if [ "$force" = 1 ]; then rm -f "$prefix/BUILD_INFO"; fi
lw_ensure "onnxruntime-build:$prefix:$LW_ORT_COMMIT"
say "$prefix holds onnxruntime $LW_ORT_COMMIT; next: sudo deploy/jetson/install.sh --config FILE"
