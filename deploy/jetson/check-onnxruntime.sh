#!/usr/bin/env bash
# Refuses to start linewatch on a Jetson when
#   - its node_modules holds the npm CPU build of onnxruntime-node instead of the TensorRT build
#     from build-onnxruntime.sh (an `npm ci` puts the CPU build back), or
#   - the TensorRT version the engine cache is keyed by (LINEWATCH_TENSORRT_VERSION, written by
#     install.sh) is no longer the TensorRT JetPack has (an apt upgrade): engines built by the old
#     one would not load, and the key must change with it.
# Run by the systemd unit as ExecStartPre and by install.sh; prints what is installed.
#   check-onnxruntime.sh APP_DIR
set -euo pipefail
app=${1:?usage: check-onnxruntime.sh APP_DIR}
here=$(cd "$(dirname "$0")" && pwd)
LW_SCRIPT=linewatch
# shellcheck source-path=SCRIPTDIR source=lib/board.sh
. "$here/lib/board.sh"
pkg="$app/node_modules/onnxruntime-node/package.json"
[ -f "$pkg" ] || { echo "linewatch: $pkg missing: run deploy/jetson/install.sh" >&2; exit 1; }

if board_trt=$(lw_board_trt) && [ -n "${LINEWATCH_TENSORRT_VERSION:-}" ] && [ "$board_trt" != "$LINEWATCH_TENSORRT_VERSION" ]; then
  echo "linewatch: JetPack's TensorRT is $board_trt, the service is set up for $LINEWATCH_TENSORRT_VERSION: rerun deploy/jetson/install.sh (engines are built again)" >&2
  exit 1
fi

cd "$app"
# shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
node --input-type=commonjs -e '
  const pkg = require(process.argv[1]);
  const ort = require("onnxruntime-node");
  const trt = ort.listSupportedBackends().find((b) => b.name === "tensorrt");
  // The marker tells our build from the npm one, whose x64/arm64 builds list tensorrt too.
  if (!pkg.linewatch || !trt) {
    console.error(`linewatch: onnxruntime-node ${pkg.version} here is not the TensorRT build ` +
      "(build-onnxruntime.sh, then install.sh put it back)");
    process.exit(1);
  }
  const l = pkg.linewatch;
  console.error(`linewatch: onnxruntime-node ${pkg.version} (${l.onnxruntimeCommit}), TensorRT ${l.tensorrt}, CUDA ${l.cuda}, patches ${l.patches.join(" ")}`);
' "$pkg"
