#!/usr/bin/env bash
# trainer/.venv: Debian's python3 with its python3-torch (system site packages) plus what Debian lacks.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
req="$here/requirements-venv.txt"
stamp="$venv/.requirements.stamp"
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
  echo "linewatch: installing trainer/ Python packages into trainer/.venv" >&2
  # numpy stays Debian's: python3-torch 1.13 is built against numpy 1.x.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" "numpy<2"
  cp "$req" "$stamp"
fi
