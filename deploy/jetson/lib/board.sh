# shellcheck shell=bash disable=SC2034 # the settings are read by the scripts that source this file
# What a Jetson has, read the same way by every script of this kit (prepare-board.sh,
# build-onnxruntime.sh, install.sh, check-onnxruntime.sh, the Dockerfile), and the checks each
# script runs before it does anything. Sourced, never run.
#
#   lw_* parsers      pure: text in, one value out. test/deploy/board-lib.test.ts runs them on the
#                     version strings JetPack 6.0–6.2.2 really report.
#   lw_require X...   checks prerequisites X now, prints one line each, and stops the script naming
#                     what to do about every one that is missing.
#   lw_ensure X...    makes X hold (the calling script defines lw_install_X), then checks it.
# test/deploy/runbook.test.ts reads which prerequisites each script requires and ensures, and
# checks that README.md's runbook runs the scripts in an order where each one's prerequisites are
# ensured by an earlier step (or by the flashed board itself: l4t).

# --- what this kit is made for ----------------------------------------------------------------
# Node LTS lines linewatch runs and is tested on; prepare-board.sh installs LW_NODE_VERSION when the
# board has none of them. Node 20 reached end of life on 2026-04-30; 24 is supported to 2028-04-30.
LW_NODE_LINES="22 24"
LW_NODE_VERSION=24.22.3
# ONNX Runtime's CMake minimum is 3.28; Ubuntu 22.04 has 3.22. prepare-board.sh installs this one
# from PyPI into a venv of its own (the system cmake stays as it is).
LW_CMAKE_MIN=3.28
LW_CMAKE_PIP=3.31.6
LW_CMAKE_HOME=/opt/linewatch/cmake
# The TensorRT major the pinned onnxruntime builds against (JetPack 6.1 and later ship 10.3).
LW_TRT_MAJOR=10
# The onnxruntime commit the binding patch was written and tested against
# (test/deploy/onnxruntime-patch.test.ts reads this line): change both together.
LW_ORT_COMMIT=00982754f43b6a1abc586e0d873993365c30cb6f
# Free disk the onnxruntime build needs under its --src folder: shallow source with submodules
# (~2 GiB) and a Release build tree for one CUDA architecture. An estimate, not measured here.
LW_BUILD_DISK_GIB=30
# Memory the build needs: RAM plus disk-backed swap (zram is compressed RAM, not more memory).
LW_BUILD_MEM_GIB=16
# Build parallelism: one nvcc/cc1plus job is budgeted at 4 GiB of RAM (--nvcc_threads 1, no flash
# attention kernels), 2 GiB are left to the system. Estimates; build-onnxruntime.sh --jobs overrides.
LW_JOB_GIB=4
LW_RESERVE_GIB=2

lw_say() { echo "${LW_SCRIPT:-linewatch}: $*" >&2; }

# --- parsers (pure) ---------------------------------------------------------------------------

# Upstream part of a Debian version: no epoch, no Debian revision (after the last '-').
#   lw_deb_upstream 10.3.0.30-1+cuda12.5   -> 10.3.0.30
#   lw_deb_upstream 36.4.3-20250107174145  -> 36.4.3
lw_deb_upstream() {
  local v=${1#*:}
  case $v in *-*) v=${v%-*} ;; esac
  printf '%s\n' "$v"
}

# The TensorRT version everything keys on (engine cache, container check, BUILD_INFO): the four
# numbers of the libnvinfer package, e.g. 10.3.0.30 for "10.3.0.30-1+cuda12.5". Empty and status 1
# for anything else. src/models/tensorrt-options.ts normalizeTensorrtVersion does the same.
lw_trt_version() {
  local v
  v=$(lw_deb_upstream "$1")
  v=${v%%+*}
  if [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then printf '%s\n' "$v"; else return 1; fi
}

# L4T release from /etc/nv_tegra_release's first line:
#   "# R36 (release), REVISION: 4.3, GCID: 38968081, ..." -> 36.4.3
lw_l4t_of_release() {
  local line=$1
  if [[ $line =~ R([0-9]+)\ \(release\),\ REVISION:\ ([0-9]+)\.([0-9]+) ]]; then
    printf '%s.%s.%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
  else
    return 1
  fi
}

# JetPack release: from the nvidia-jetpack package version when installed ("6.2.2+b24" -> 6.2.2),
# else from the L4T release (the first L4T of each JetPack; later L4T updates keep the label).
lw_jetpack_of() {
  local pkg=$1 l4t=$2
  if [ -n "$pkg" ]; then
    pkg=$(lw_deb_upstream "$pkg")
    printf '%s\n' "${pkg%%+*}"
    return 0
  fi
  case $l4t in
    36.3.*) echo 6.0 ;;
    36.4.0 | 36.4.1 | 36.4.2) echo 6.1 ;;
    36.4.3) echo 6.2 ;;
    36.4.*) echo 6.2.1 ;;
    36.5.*) echo 6.2.2 ;;
    *) return 1 ;;
  esac
}

# CUDA toolkit version from `nvcc --version`: "release 12.6, V12.6.68" -> 12.6.68.
lw_cuda_of_nvcc() {
  if [[ $1 =~ release\ [0-9.]+,\ V([0-9]+\.[0-9]+\.[0-9]+) ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; else return 1; fi
}

# CMake version from `cmake --version`: "cmake version 3.22.1" -> 3.22.1.
lw_cmake_of() {
  if [[ $1 =~ cmake\ version\ ([0-9]+\.[0-9]+(\.[0-9]+)?) ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; else return 1; fi
}

# Node major from `node --version`: v24.11.1 -> 24.
lw_node_major() {
  if [[ $1 =~ ^v([0-9]+)\. ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; else return 1; fi
}

# Status 0 when dotted version A >= B (numeric, part by part; missing parts count as 0).
lw_version_ge() {
  local IFS=.
  # shellcheck disable=SC2206 # splitting on dots is the point
  local a=($1) b=($2)
  local i n=${#a[@]}
  [ ${#b[@]} -gt "$n" ] && n=${#b[@]}
  for ((i = 0; i < n; i++)); do
    local x=${a[i]:-0} y=${b[i]:-0}
    if ((10#$x > 10#$y)); then return 0; fi
    if ((10#$x < 10#$y)); then return 1; fi
  done
  return 0
}

# A field of /proc/meminfo in KiB: lw_meminfo_kib MemTotal "$(cat /proc/meminfo)".
lw_meminfo_kib() {
  local field=$1 text=$2 line
  while IFS= read -r line; do
    if [[ $line =~ ^$field:\ +([0-9]+)\ kB ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; return 0; fi
  done <<<"$text"
  return 1
}

# Disk-backed swap in KiB from /proc/swaps (zram devices are compressed RAM and do not count).
lw_disk_swap_kib() {
  local total=0 name type size _rest
  while read -r name type size _rest; do
    [ "$name" = Filename ] && continue
    case $name in /dev/zram*) continue ;; esac
    [[ $size =~ ^[0-9]+$ ]] && total=$((total + size))
  done <<<"$1"
  : "$type"
  printf '%s\n' "$total"
}

# Parallel compile jobs for the onnxruntime build from the RAM it may use (KiB) and the CPU count:
# (RAM - reserve) / per-job budget, at least 1, at most one per CPU.
lw_build_jobs() {
  local mem_kib=$1 cpus=$2 gib=$((1024 * 1024))
  local jobs=$(((mem_kib - LW_RESERVE_GIB * gib) / (LW_JOB_GIB * gib)))
  [ "$jobs" -lt 1 ] && jobs=1
  [ "$jobs" -gt "$cpus" ] && jobs=$cpus
  printf '%s\n' "$jobs"
}

# Free KiB on the file system holding PATH (its nearest existing parent), from `df -Pk`.
lw_free_kib() {
  local p=$1
  while [ ! -e "$p" ]; do p=$(dirname "$p"); done
  df -Pk "$p" | awk 'NR == 2 { print $4 }'
}

# --- what this board has (reads the system) ---------------------------------------------------

lw_pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

# L4T of this board; in a container without /etc/nv_tegra_release, the base image's L4T release as
# the Dockerfile states it (LW_CONTAINER_L4T).
lw_board_l4t() {
  local file=${LW_TEGRA_RELEASE:-/etc/nv_tegra_release}
  if [ -r "$file" ]; then
    lw_l4t_of_release "$(head -n 1 "$file")"
  elif [ -n "${LW_CONTAINER_L4T:-}" ]; then
    printf '%s\n' "$LW_CONTAINER_L4T"
  else
    return 1
  fi
}

# The installed TensorRT (libnvinfer10) as lw_trt_version writes it; status 1 when absent.
lw_board_trt() {
  local v
  v=$(lw_pkg_version "libnvinfer$LW_TRT_MAJOR")
  [ -n "$v" ] || return 1
  lw_trt_version "$v"
}

lw_cuda_home() { printf '%s\n' "${CUDA_HOME:-/usr/local/cuda}"; }

# The cmake the build uses: ours (LW_CMAKE_HOME) when installed, else the one on PATH.
lw_cmake_bin() {
  if [ -x "$LW_CMAKE_HOME/bin/cmake" ]; then echo "$LW_CMAKE_HOME/bin/cmake"; else command -v cmake || true; fi
}

# --- checks: lw_need X [ARG] --------------------------------------------------------------------
# Each prints one line: "ok  X: what was found" or "MISSING  X: what is wrong -> what to do", and
# returns 1 when missing. lw_require runs several and stops the script after listing every failure.

lw_ok() { printf '  ok       %-13s %s\n' "$1" "$2" >&2; }
lw_missing() { printf '  MISSING  %-13s %s\n' "$1" "$2" >&2; return 1; }

lw_need() {
  local what=$1
  case $what in
    l4t)
      local l4t
      if ! l4t=$(lw_board_l4t); then
        lw_missing l4t "no /etc/nv_tegra_release: not a Jetson with JetPack 6 -> flash JetPack 6.1 or newer (SDK Manager)"
        return 1
      fi
      local jp
      jp=$(lw_jetpack_of "$(lw_pkg_version nvidia-jetpack)" "$l4t" || echo "?")
      if ! lw_version_ge "$l4t" 36.4; then
        lw_missing l4t "L4T $l4t (JetPack $jp) ships TensorRT 8.6; the pinned onnxruntime needs TensorRT 10 -> flash JetPack 6.1 or newer"
        return 1
      fi
      lw_ok l4t "L4T $l4t (JetPack $jp)"
      ;;
    cuda)
      local nvcc
      nvcc="$(lw_cuda_home)/bin/nvcc"
      if [ ! -x "$nvcc" ]; then lw_missing cuda "no $nvcc -> sudo deploy/jetson/prepare-board.sh (installs nvidia-jetpack's CUDA toolkit)"; return 1; fi
      local v
      v=$(lw_cuda_of_nvcc "$("$nvcc" --version)") || { lw_missing cuda "cannot read the version of $nvcc"; return 1; }
      case $v in 12.*) lw_ok cuda "CUDA $v" ;; *) lw_missing cuda "CUDA $v; this kit needs CUDA 12 (JetPack 6)"; return 1 ;; esac
      ;;
    cudnn)
      local v
      v=$(lw_pkg_version libcudnn9-cuda-12)
      if [ -z "$v" ] || { [ ! -f /usr/include/aarch64-linux-gnu/cudnn_version.h ] && [ ! -f /usr/include/cudnn_version.h ]; }; then
        lw_missing cudnn "cuDNN 9 and its headers not installed -> sudo deploy/jetson/prepare-board.sh (apt-get install libcudnn9-dev-cuda-12)"
        return 1
      fi
      lw_ok cudnn "cuDNN $(lw_deb_upstream "$v")"
      ;;
    tensorrt)
      local v
      if ! v=$(lw_board_trt); then
        lw_missing tensorrt "libnvinfer$LW_TRT_MAJOR not installed (JetPack 6.0 has TensorRT 8.6) -> JetPack 6.1+, then sudo deploy/jetson/prepare-board.sh"
        return 1
      fi
      lw_ok tensorrt "TensorRT $v"
      ;;
    tensorrt-dev)
      local v
      v=$(lw_board_trt) || v=
      if [ -z "$v" ] || [ ! -f /usr/include/aarch64-linux-gnu/NvInfer.h ] || [ ! -f /usr/include/aarch64-linux-gnu/NvOnnxParser.h ]; then
        lw_missing tensorrt-dev "TensorRT ${v:-10} headers not installed -> sudo deploy/jetson/prepare-board.sh (apt-get install libnvinfer-dev libnvonnxparsers-dev)"
        return 1
      fi
      lw_ok tensorrt-dev "TensorRT $v headers"
      ;;
    cmake)
      local bin v
      bin=$(lw_cmake_bin)
      if [ -z "$bin" ]; then lw_missing cmake "no cmake -> sudo deploy/jetson/prepare-board.sh (CMake $LW_CMAKE_PIP from PyPI)"; return 1; fi
      v=$(lw_cmake_of "$("$bin" --version)") || { lw_missing cmake "cannot read the version of $bin"; return 1; }
      if ! lw_version_ge "$v" "$LW_CMAKE_MIN"; then
        lw_missing cmake "$bin is $v; onnxruntime needs >= $LW_CMAKE_MIN -> sudo deploy/jetson/prepare-board.sh"
        return 1
      fi
      lw_ok cmake "CMake $v ($bin)"
      ;;
    node)
      local major
      major=$(lw_node_major "$(node --version 2>/dev/null)") || { lw_missing node "no node -> sudo deploy/jetson/prepare-board.sh (Node $LW_NODE_VERSION)"; return 1; }
      case " $LW_NODE_LINES " in
        *" $major "*) lw_ok node "Node $(node --version) ($(command -v node))" ;;
        *) lw_missing node "Node $(node --version) is not a supported LTS line ($LW_NODE_LINES) -> sudo deploy/jetson/prepare-board.sh"; return 1 ;;
      esac
      ;;
    build-memory)
      local info mem swap gib=$((1024 * 1024))
      info=$(cat /proc/meminfo)
      mem=$(lw_meminfo_kib MemTotal "$info")
      swap=$(lw_disk_swap_kib "$(cat /proc/swaps)")
      if [ $((mem + swap)) -lt $((LW_BUILD_MEM_GIB * gib)) ]; then
        local need=$(((LW_BUILD_MEM_GIB * gib - mem - swap + gib - 1) / gib))
        lw_missing build-memory "$((mem / gib)) GiB RAM + $((swap / gib)) GiB disk swap < $LW_BUILD_MEM_GIB GiB -> sudo deploy/jetson/prepare-board.sh --swap-gib $need"
        return 1
      fi
      local avail
      avail=$(lw_meminfo_kib MemAvailable "$info")
      lw_ok build-memory "$((mem / gib)) GiB RAM ($((avail / gib)) available) + $((swap / gib)) GiB disk swap: $(lw_build_jobs "$avail" "$(nproc)") parallel jobs (stop the desktop for more: sudo systemctl isolate multi-user.target)"
      ;;
    disk)
      local path=$2 gib=$3 free
      free=$(lw_free_kib "$path")
      if [ "$free" -lt $((gib * 1024 * 1024)) ]; then
        lw_missing disk "$((free / 1024 / 1024)) GiB free at $path, $gib GiB needed -> free space or choose another folder (an NVMe drive)"
        return 1
      fi
      lw_ok disk "$((free / 1024 / 1024)) GiB free at $path (>= $gib)"
      ;;
    gstreamer)
      if ! command -v gst-inspect-1.0 >/dev/null || ! gst-inspect-1.0 --exists --atleast-version=0.0.0 nvvidconv; then
        lw_missing gstreamer "GStreamer with NVIDIA's elements (nvvidconv) not found -> sudo deploy/jetson/prepare-board.sh (nvidia-l4t-gstreamer)"
        return 1
      fi
      lw_ok gstreamer "GStreamer $(gst-inspect-1.0 --version | sed -n 's/.*GStreamer \([0-9.]*\).*/\1/p') with nvvidconv"
      ;;
    onnxruntime-build)
      local prefix=$2 commit=${3:-} built
      if ! compgen -G "$prefix/onnxruntime-node-*.tgz" >/dev/null || ! compgen -G "$prefix/onnxruntime-common-*.tgz" >/dev/null; then
        lw_missing onnxruntime-build "no onnxruntime build in $prefix -> sudo deploy/jetson/build-onnxruntime.sh"
        return 1
      fi
      built=$(sed -n 's/^onnxruntime_commit=//p' "$prefix/BUILD_INFO" 2>/dev/null)
      if [ -n "$commit" ] && [ "$built" != "$commit" ]; then
        lw_missing onnxruntime-build "$prefix holds onnxruntime ${built:-of unknown commit}, this checkout pins $commit -> sudo deploy/jetson/build-onnxruntime.sh"
        return 1
      fi
      lw_ok onnxruntime-build "onnxruntime $built, TensorRT $(sed -n 's/^tensorrt=//p' "$prefix/BUILD_INFO")"
      ;;
    *)
      lw_missing "$what" "unknown prerequisite (a bug in deploy/jetson)"
      ;;
  esac
}

# Runs lw_need for each argument ("disk:PATH:GIB" and "onnxruntime-build:PREFIX:COMMIT" carry
# arguments), prints every result, and exits naming the failures when any prerequisite is missing.
lw_require() {
  local failed=() spec
  lw_say "checking: $*"
  for spec in "$@"; do
    local IFS=:
    # shellcheck disable=SC2086 # the colon-separated arguments are meant to split
    set -- $spec
    unset IFS
    lw_need "$@" || failed+=("$1")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    lw_say "missing: ${failed[*]} (see the lines above for what to do)"
    exit 1
  fi
}

# For each argument: when lw_need fails, runs the calling script's lw_install_<name> (dashes as
# underscores) with the same arguments, then requires it like lw_require.
lw_ensure() {
  local spec
  for spec in "$@"; do
    local IFS=:
    # shellcheck disable=SC2086 # the colon-separated arguments are meant to split
    set -- $spec
    unset IFS
    if ! lw_need "$@" 2>/dev/null; then
      lw_say "installing $1"
      "lw_install_${1//-/_}" "${@:2}"
    fi
    lw_require "$spec"
  done
}
