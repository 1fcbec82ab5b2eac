#!/usr/bin/env bash
# The figures of README "INP-Former and INP-Former++ on the bottle: full-shot, semi-supervised,
# int8, zero-shot": every bundle judged by `linewatch eval` on the same images, which no model
# trained, calibrated or was tuned on.
#
#   bash scripts/bottle-settings-figures.sh --bottle DIR --out DIR [--rows "inp inp-int8 pp pp-semi pp-int8 zs-inp zs-pp"]
#                                           [--steps 200] [--seed 1]
#
# The split: scripts/split-defects.sh takes 10 defective images (round robin over the defect types)
# into OUT/split/defects; every figure is measured on OUT/split/rest (all good test images and the
# other defective ones). The recipe of the few-shot rows (`--ssl conv`, 128 dims, 4 heads, 448→392,
# batch 8, one torch thread), thresholds from the 10 % of train/good that `train` holds out.
#   inp      INP-Former on train/good
#   inp-int8 inp's RUN exported `--int8` (calibrated on the same held-out good images)
#   pp       INP-Former++ on train/good
#   pp-semi  the same, with `--defect-images OUT/split/defects` (the residual head only)
#   pp-int8  pp's RUN exported `--int8` (calibrated on the same held-out good images)
#   zs-inp   zero-shot: INP-Former trained on synthetic surface images (seed --seed), exported
#            `--zero-shot` with the bottle's train/good as calibration images only
#   zs-pp    the same with INP-Former++
# Rows run in the order given and skip what is done, so two invocations with different --rows can
# share the machine; the table (OUT/summary.md) covers every row whose eval exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bottle=""
out=""
rows="inp inp-int8 pp pp-semi pp-int8 zs-inp zs-pp"
steps=200
seed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --bottle) bottle=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "bottle-settings-figures: unknown option $1 (--bottle, --out, --rows, --steps, --seed)" >&2; exit 2 ;;
  esac
done
if [ -z "$bottle" ] || [ -z "$out" ]; then echo "bottle-settings-figures: --bottle DIR and --out DIR are required" >&2; exit 2; fi
[ -f "$root/dist/src/cli.js" ] || { echo "bottle-settings-figures: build the runtime first (npm run build)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
bottle=$(cd "$bottle" && pwd)
T() { nice -n 5 "$root/bin/trainer" "$@"; }
E() { nice -n 5 node "$root/bin/linewatch.js" eval --threads 1 --json "$@"; }

[ -d "$out/split/rest" ] || bash "$root/scripts/split-defects.sh" "$bottle" 10 "$out/split"
test=$out/split/rest
recipe=(--encoder small --embed-dim 128 --heads 4 --ssl conv --resize 448 --crop 392 --batch 8 --threads 1
  --seed "$seed" --iterations "$steps")

train() { # NAME DATA ARGS…
  local name=$1 data=$2; shift 2
  [ -f "$out/run-$name/config.json" ] || T train --data "$data" --out "$out/run-$name" --version "$name" "${recipe[@]}" "$@"
}
export_eval() { # NAME RUN EXPORT_ARGS…
  local name=$1 run=$2; shift 2
  [ -f "$out/bundle-$name/model.json" ] || T export --run "$out/run-$run" --out "$out/bundle-$name" --eval-data none \
    --threads 1 "$@"
  [ -f "$out/eval-$name.json" ] || { E --model "$out/bundle-$name" --data "$test" > "$out/eval-$name.json.tmp" &&
    mv "$out/eval-$name.json.tmp" "$out/eval-$name.json"; }
}
synth() {
  [ -d "$out/synth" ] || T synth --out "$out/synth" --seed "$seed" --category surface --n-train 200 --n-test-good 1 --n-per-defect 1 > /dev/null
}

for row in $rows; do
  case "$row" in
    inp) train inp "$bottle" --arch inp-former && export_eval inp inp ;;
    inp-int8) train inp "$bottle" --arch inp-former && export_eval inp-int8 inp --int8 ;;
    pp) train pp "$bottle" --arch inp-former++ && export_eval pp pp ;;
    pp-semi) train pp-semi "$bottle" --arch inp-former++ --defect-images "$out/split/defects" && export_eval pp-semi pp-semi ;;
    pp-int8) train pp "$bottle" --arch inp-former++ && export_eval pp-int8 pp --int8 ;;
    zs-inp) synth && train zs-inp "$out/synth" --arch inp-former && export_eval zs-inp zs-inp --zero-shot \
      --calib-data "$bottle/train/good" ;;
    zs-pp) synth && train zs-pp "$out/synth" --arch inp-former++ && export_eval zs-pp zs-pp --zero-shot \
      --calib-data "$bottle/train/good" ;;
    *) echo "bottle-settings-figures: unknown row $row (inp inp-int8 pp pp-semi pp-int8 zs-inp zs-pp)" >&2; exit 2 ;;
  esac
done

node - "$out" <<'EOF' | tee "$out/summary.md"
const fs = require('node:fs');
const out = process.argv[2];
const names = {
  inp: 'INP-Former', 'inp-int8': 'INP-Former int8', pp: 'INP-Former++', 'pp-semi': 'INP-Former++, 10 real defects',
  'pp-int8': 'INP-Former++ int8', 'zs-inp': 'INP-Former zero-shot (trained on synth)', 'zs-pp': 'INP-Former++ zero-shot (trained on synth)',
};
const fmt = (v) => (100 * v).toFixed(2);
console.log('| model | I-AUROC | P-AUROC | P-AP | AUPRO | escapes | false rejects | training |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [key, label] of Object.entries(names)) {
  const f = `${out}/eval-${key}.json`;
  if (!fs.existsSync(f)) continue;
  const c = JSON.parse(fs.readFileSync(f, 'utf8')).categories[0];
  const m = JSON.parse(fs.readFileSync(`${out}/bundle-${key}/model.json`, 'utf8'));
  const secs = m.training.run?.seconds_total;
  const k = c.metrics;
  console.log(`| ${label} | ${fmt(k.iAuroc)} | ${fmt(k.pAuroc)} | ${fmt(k.pAp)} | ${fmt(k.aupro)} | ${c.confusion.escapes}/${c.defective} | ${c.confusion.falseRejects}/${c.good} | ${secs === undefined ? '?' : `${Math.round(secs)} s`} |`);
}
EOF
