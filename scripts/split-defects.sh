#!/usr/bin/env bash
# Split an MVTec-layout category's defective test images into a few for training and the rest for
# evaluation, with symbolic links (nothing is copied):
#
#   bash scripts/split-defects.sh SRC N OUT
#
# OUT/defects/ gets N defective images with their masks (test/<defect>/, ground_truth/<defect>/),
# taken round robin over the defect types in name order (the first image of each type, then the
# second, …); that is `trainer train --defect-images OUT/defects`. OUT/rest/ is SRC without them
# (train/ and test/good/ whole, every other defective image and mask): evaluate there, so that no
# figure is measured on an image a model trained on.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: split-defects.sh SRC N OUT" >&2; exit 2; }
src=$(cd "$1" && pwd); n=$2; out=$3
[ -d "$src/test" ] && [ -d "$src/ground_truth" ] || { echo "split-defects: $src has no test/ and ground_truth/" >&2; exit 1; }
rm -rf "$out"; mkdir -p "$out/defects" "$out/rest/test"
ln -s "$src/train" "$out/rest/train"
ln -s "$src/test/good" "$out/rest/test/good"
mapfile -t types < <(cd "$src/test" && ls -d */ | tr -d / | grep -vx good)
declare -A picked=()
round=0; taken=0
while [ "$taken" -lt "$n" ]; do
  progress=0
  for t in "${types[@]}"; do
    [ "$taken" -lt "$n" ] || break
    mapfile -t files < <(cd "$src/test/$t" && ls)
    [ "$round" -lt "${#files[@]}" ] || continue
    picked["$t/${files[$round]}"]=1; taken=$((taken + 1)); progress=1
  done
  [ "$progress" -eq 1 ] || { echo "split-defects: only $taken defective images in $src" >&2; exit 1; }
  round=$((round + 1))
done
for t in "${types[@]}"; do
  for side in defects rest; do mkdir -p "$out/$side/test/$t" "$out/$side/ground_truth/$t"; done
  for f in $(cd "$src/test/$t" && ls); do
    side=rest; [ -n "${picked[$t/$f]:-}" ] && side=defects
    stem=${f%.*}
    ln -s "$src/test/$t/$f" "$out/$side/test/$t/$f"
    for m in "$src/ground_truth/$t/${stem}_mask".*; do ln -s "$m" "$out/$side/ground_truth/$t/"; done
  done
done
echo "split-defects: $taken for training in $out/defects ($(printf "%s\n" "${!picked[@]}" | sort | tr "\n" " ")), the rest in $out/rest"
