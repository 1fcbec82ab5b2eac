#!/usr/bin/env bash
# Runs every test: trainer/ (pytest) then the runtime (node's test runner on the compiled tests).
#   test.sh [all|trainer|node]
set -euo pipefail
which=${1:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Each gstreamer-superficial pull/pollBus holds a libuv pool thread; tests run several pipelines.
export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-16}

status=0
if [ "$which" = all ] || [ "$which" = trainer ]; then
  trainer/.venv/bin/python -m pytest -q trainer/tests || status=$?
fi
if [ "$which" = all ] || [ "$which" = node ]; then
  mapfile -t files < <(find dist/test -name '*.test.js' | sort)
  node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}" || status=$?
fi
exit $status
