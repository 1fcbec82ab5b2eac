#!/usr/bin/env bash
# Runs the Node tests again on another Node LTS line than the machine's own (CI: 24 besides 20),
# with a Node binary from npm's registry: node-linux-<arch>, the package npm's `node` package
# installs, which carries bin/node and the headers. gstreamer-superficial is a NAN addon, built for
# one Node ABI: it is compiled for the other line while the tests run and put back afterwards.
# onnxruntime-node and sharp are N-API and load on any line as they are.
#   test-node-line.sh MAJOR      (after `npm test` or `npm run build`: it tests dist/ as built)
set -euo pipefail
line=${1:?usage: test-node-line.sh MAJOR (22 or 24)}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
case $line in
  22) version=22.23.5 ;;
  24) version=24.22.3 ;;
  *) echo "test-node-line: no pinned Node for line $line (22 or 24)" >&2; exit 2 ;;
esac
case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "test-node-line: no Node package for $(uname -m)" >&2; exit 2 ;;
esac

# node_modules/.cache: gone with the next `npm ci`, never committed.
dir=$root/node_modules/.cache/linewatch-node/$version
if [ ! -x "$dir/bin/node" ]; then
  echo "test-node-line: fetching node-linux-$arch@$version from the npm registry" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
  mkdir -p "$dir"
  tar -xzf "$tmp"/node-linux-"$arch"-*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
fi
"$dir/bin/node" --version | grep -q "^v$version\$"

addon=node_modules/gstreamer-superficial/build/Release/gstreamer-superficial.node
saved=$(mktemp)
cp "$addon" "$saved"
# Whatever happens, the addon built for this machine's Node goes back.
trap 'cp "$saved" "$addon"; rm -f "$saved"' EXIT
echo "test-node-line: building gstreamer-superficial for Node $version" >&2
npm rebuild gstreamer-superficial --nodedir="$dir" --loglevel=error >/dev/null

echo "test-node-line: Node tests on $("$dir/bin/node" --version)" >&2
# As scripts/test.sh node, and like it without --test-force-exit: a file whose tests finished but
# whose process stays alive (a leaked handle or a pool thread left waiting) is a bug to see, not to
# end. (One was: on Node 24 a stopped pipeline's bus poll could wait for ever, see the binding
# patch's version 2 in docs/cameras.md.)
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
PATH="$dir/bin:$PATH" UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-16} \
  node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
