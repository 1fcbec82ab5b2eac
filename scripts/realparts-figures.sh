#!/usr/bin/env bash
# The figures of README "Long parts and the crop": a synthetic long part (1:2.5, thin defects across
# it) squashed vs in proportion vs tiled, and a real set with and without the authors' crop — each
# pair or triple at the same budget (250 steps of batch 8, one torch thread), every bundle judged by
# `linewatch eval` on images nobody trained or calibrated on.
#
#   bash scripts/realparts-figures.sh --out DIR [--seeds "1 2 3"] [--steps 250] [--bottle DIR]
#
# Long part, per seed S: `trainer synth --category long` with seed S for training (50 good, 5 of
# them held out by `train` for the threshold) and seed S+10 for the test set (30 good, 8 of each
# of the 5 defect types); INP-Former, ViT-S layout narrowed to 96 dims / 4 heads, `--ssl pca`;
#   squashed      --resize 224          (256x640 frames squeezed 2.5x along their length)
#   proportional  --resize 224x560      (the whole frame in proportion: 16x40 tokens)
#   tiled         --resize 224x560 --tile 224   (three 224x224 tiles, 28 px overlap)
# --bottle DIR (MVTec layout, e.g. ../shared/data/mvtec-bottle-448): `--ssl conv`, 128 dims, once
# with `--resize 448 --crop 392` (the authors' framing) and once with `--resize 392` (the whole view).
# Writes DIR/long/{data,test}-sS, run-V-sS (RUN), bundle-V-sS, eval-V-sS.json (linewatch eval --json),
# DIR/{run,bundle,eval}-bottle-{crop,whole}, then the tables (median and range over seeds, training
# time from each bundle's model.json) to DIR/summary.md. Steps already done are skipped on a rerun.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=""
seeds="1 2 3"
steps=250
bottle=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --bottle) bottle=$2; shift 2 ;;
    *) echo "realparts-figures: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "realparts-figures: --out DIR is required" >&2; exit 2; }
[ -f "$root/dist/src/cli.js" ] || { echo "realparts-figures: build the runtime first (npm run build)" >&2; exit 1; }
mkdir -p "$out/long"
out=$(cd "$out" && pwd)
T() { nice -n 5 "$root/bin/trainer" "$@"; }
E() { nice -n 5 node "$root/bin/linewatch.js" eval --threads 1 --json "$@"; }

# bundle DIR NAME DATA TEST SEED TRAIN_ARGS… — train, export (threshold from the good images `train`
# held out), then `linewatch eval` on TEST.
bundle() {
  local dir=$1 name=$2 data=$3 test=$4 seed=$5; shift 5
  [ -f "$dir/run-$name/config.json" ] || T train --data "$data" --out "$dir/run-$name" --iterations "$steps" \
    --batch 8 --threads 1 --seed "$seed" --version "$name" "$@"
  [ -f "$dir/bundle-$name/model.json" ] || T export --run "$dir/run-$name" --out "$dir/bundle-$name" \
    --eval-data "$test" --threads 1
  [ -f "$dir/eval-$name.json" ] || { E --model "$dir/bundle-$name" --data "$test" > "$dir/eval-$name.json.tmp" &&
    mv "$dir/eval-$name.json.tmp" "$dir/eval-$name.json"; }
}

for s in $seeds; do
  d=$out/long
  [ -d "$d/data-s$s" ] || T synth --out "$d/data-s$s" --seed "$s" --category long --n-train 50 \
    --n-test-good 1 --n-per-defect 1 > /dev/null
  [ -d "$d/test-s$s" ] || T synth --out "$d/test-s$s" --seed $((s + 10)) --category long --n-train 1 \
    --n-test-good 30 --n-per-defect 8 > /dev/null
  small=(--encoder small --embed-dim 96 --heads 4 --ssl pca)
  bundle "$d" "squashed-s$s" "$d/data-s$s" "$d/test-s$s" "$s" "${small[@]}" --resize 224
  bundle "$d" "proportional-s$s" "$d/data-s$s" "$d/test-s$s" "$s" "${small[@]}" --resize 224x560
  bundle "$d" "tiled-s$s" "$d/data-s$s" "$d/test-s$s" "$s" "${small[@]}" --resize 224x560 --tile 224
done
if [ -n "$bottle" ]; then
  conv=(--encoder small --embed-dim 128 --heads 4 --ssl conv)
  bundle "$out" bottle-crop "$bottle" "$bottle" 1 "${conv[@]}" --resize 448 --crop 392
  bundle "$out" bottle-whole "$bottle" "$bottle" 1 "${conv[@]}" --resize 392
fi
node "$root/scripts/realparts-table.mjs" "$out" | tee "$out/summary.md"
