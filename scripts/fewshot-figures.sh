#!/usr/bin/env bash
# The figures of README "INP-Former++ beside INP-Former, few-shot on the bottle": for each k and
# seed, INP-Former and INP-Former++ trained on the same k shots (the seed draws them, and the
# held-out good images the thresholds come from), exported and judged by `linewatch eval` on the
# bottle's test set; the table is the median (range) over the seeds, since which images are the
# shots moves the figures more than k does.
#
#   bash scripts/fewshot-figures.sh --bottle DIR --out DIR [--k "1 2 4"] [--seeds "1 2 3"] [--steps 200]
#
# The two models of one (k, seed) train side by side (one torch thread each). Runs skip what is
# done, so an interrupted invocation picks up where it stopped; the table (OUT/summary.md) covers
# every (k, seed) whose two evals exist.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bottle=""
out=""
ks="1 2 4"
seeds="1 2 3"
steps=200
while [ $# -gt 0 ]; do
  case "$1" in
    --bottle) bottle=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --k) ks=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    *) echo "fewshot-figures: unknown option $1 (--bottle, --out, --k, --seeds, --steps)" >&2; exit 2 ;;
  esac
done
if [ -z "$bottle" ] || [ -z "$out" ]; then echo "fewshot-figures: --bottle DIR and --out DIR are required" >&2; exit 2; fi
[ -f "$root/dist/src/cli.js" ] || { echo "fewshot-figures: build the runtime first (npm run build)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
bottle=$(cd "$bottle" && pwd)
T() { nice -n 5 "$root/bin/trainer" "$@"; }

train() { # NAME ARCH K SEED
  [ -f "$out/run-$1/config.json" ] || T train --arch "$2" --shots "$3" --data "$bottle" --out "$out/run-$1" --version "$1" \
    --encoder small --embed-dim 128 --heads 4 --ssl conv --resize 448 --crop 392 --batch 8 --threads 1 \
    --iterations "$steps" --seed "$4" > "$out/run-$1.log" 2>&1
}
export_eval() { # NAME
  [ -f "$out/bundle-$1/model.json" ] || T export --run "$out/run-$1" --out "$out/bundle-$1" --eval-data none --threads 2 > /dev/null
  [ -f "$out/eval-$1.json" ] || { nice -n 5 node "$root/bin/linewatch.js" eval --model "$out/bundle-$1" --data "$bottle" --threads 2 --json \
    > "$out/eval-$1.json.tmp" && mv "$out/eval-$1.json.tmp" "$out/eval-$1.json"; }
}

for seed in $seeds; do
  for k in $ks; do
    train "k$k-s$seed-inp" inp-former "$k" "$seed" &
    train "k$k-s$seed-pp" inp-former++ "$k" "$seed" &
    wait
    export_eval "k$k-s$seed-inp"
    export_eval "k$k-s$seed-pp"
  done
done

node - "$out" "$ks" "$seeds" <<'EOF' | tee "$out/summary.md"
const fs = require('node:fs');
const [out, ks, seeds] = process.argv.slice(2);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
const cell = (xs, d) => (xs.length > 1 ? `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})` : xs[0].toFixed(d));
console.log('| k | model | seeds | I-AUROC | P-AUROC | P-AP | AUPRO | escapes | false rejects | I-AUROC per seed | training per seed |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const k of ks.split(/\s+/).filter(Boolean)) {
  for (const [m, label] of [['inp', 'INP-Former'], ['pp', 'INP-Former++']]) {
    const runs = [];
    for (const s of seeds.split(/\s+/).filter(Boolean)) {
      const f = `${out}/eval-k${k}-s${s}-${m}.json`;
      if (!fs.existsSync(f)) continue;
      const c = JSON.parse(fs.readFileSync(f, 'utf8')).categories[0];
      const secs = JSON.parse(fs.readFileSync(`${out}/run-k${k}-s${s}-${m}/config.json`, 'utf8')).training.seconds_total;
      runs.push({ ...c.metrics, escapes: c.confusion.escapes, fr: c.confusion.falseRejects, defective: c.defective, good: c.good, secs });
    }
    if (runs.length === 0) continue;
    const col = (key, d = 2, scale = 100) => cell(runs.map((r) => scale * r[key]), d);
    console.log(`| ${k} | ${label} | ${runs.length} | ${col('iAuroc')} | ${col('pAuroc')} | ${col('pAp')} | ${col('aupro')} | ${col('escapes', 0, 1)}/${runs[0].defective} | ${col('fr', 0, 1)}/${runs[0].good} | ${runs.map((r) => (100 * r.iAuroc).toFixed(2)).join(' · ')} | ${runs.map((r) => Math.round(r.secs)).join(' · ')} s |`);
  }
}
EOF
