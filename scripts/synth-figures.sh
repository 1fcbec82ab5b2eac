#!/usr/bin/env bash
# A bundle's figures over synthetic seeds nobody trained or tuned on, through the runtime.
#
#   bash scripts/synth-figures.sh [--model DIR] [--category surface|part] [--seeds "7 11 13 17 31337"] [--out DIR]
#
# For each seed: `trainer synth` makes a test set (40 good, 12 per defect type: 100 images) and
# `linewatch eval --json` measures the bundle on it through the production path (preprocess →
# ONNX Runtime → post-processing → decide at the bundle's calibrated threshold). Prints one row
# per seed and the median and range of each figure; the JSON of each seed stays in --out.
# Defaults: models/demo, surface, seeds 7 11 13 17 31337 (the demo was trained on seed 1 and its
# recipe chosen on seed 2), --out a temporary folder. Needs `npm run build` and trainer/.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
model=models/demo
category=surface
seeds="7 11 13 17 31337"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --category) category=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "synth-figures: unknown option $1 (--model, --category, --seeds, --out)" >&2; exit 2 ;;
  esac
done
[ -x trainer/.venv/bin/python ] || { echo "synth-figures: trainer/.venv is missing: bash trainer/scripts/ensure-venv.sh" >&2; exit 1; }
[ -f dist/src/cli.js ] || { echo "synth-figures: dist/ is missing: npm run build" >&2; exit 1; }
[ -f "$model/model.json" ] || { echo "synth-figures: $model is not a bundle (no model.json)" >&2; exit 1; }
[ -n "$out" ] || out=$(mktemp -d -t lw-synth-figures.XXXXXX)
mkdir -p "$out"
export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-4}
for s in $seeds; do
  if [ ! -d "$out/synth-s$s/$category" ]; then
    # one category is written at --out itself (trainer synth), so it goes straight to its folder
    (cd trainer && .venv/bin/python -m trainer synth --out "$out/synth-s$s/$category" --seed "$s" --category "$category" \
      --n-train 1 --n-test-good 40 --n-per-defect 12 >/dev/null 2>&1)
  fi
  node bin/linewatch.js eval --model "$model" --data "$out/synth-s$s/$category" --json > "$out/eval-s$s.json"
done
node - "$out" $seeds <<'EOF'
const fs = require('node:fs');
const [out, ...seeds] = process.argv.slice(2);
const keys = ['iAuroc', 'iAp', 'iF1max', 'pAuroc', 'pAp', 'pF1max', 'aupro'];
const heads = ['I-AUROC', 'I-AP', 'I-F1max', 'P-AUROC', 'P-AP', 'P-F1max', 'AUPRO', 'escapes', 'false rejects'];
const rows = seeds.map((s) => {
  const c = JSON.parse(fs.readFileSync(`${out}/eval-s${s}.json`, 'utf8')).categories[0];
  const f = c.confusion;
  return { seed: s, m: keys.map((k) => 100 * c.metrics[k]), esc: f.escapes, fr: f.falseRejects, d: c.defective, g: c.good };
});
const fmt = (v) => v.toFixed(2);
console.log(`| seed | ${heads.join(' | ')} |`);
console.log(`| --- |${heads.map(() => ' --- |').join('')}`);
for (const r of rows) console.log(`| ${r.seed} | ${r.m.map(fmt).join(' | ')} | ${r.esc}/${r.d} | ${r.fr}/${r.g} |`);
const median = (xs) => { const a = [...xs].sort((x, y) => x - y); const h = a.length >> 1; return a.length % 2 ? a[h] : (a[h - 1] + a[h]) / 2; };
const cell = (xs, f) => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
const med = keys.map((_, i) => cell(rows.map((r) => r.m[i]), fmt));
console.log(`| median (range) | ${med.join(' | ')} | ${cell(rows.map((r) => r.esc), String)} | ${cell(rows.map((r) => r.fr), String)} |`);
EOF
echo "(per-seed JSON in $out)"
