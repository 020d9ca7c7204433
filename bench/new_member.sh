#!/bin/bash
# Does a new split-trained member add to hw3_test.sh's networks? The two measurements every
# member of members.txt gets, on the project's 2,871 validation faces:
#   1. bench/member_gain.py: the member beside the split stand-in of hw3_test.sh's five
#      networks (the four VGGs' split-trained twins and resnet-affine.h5), without TTA and
#      with the centre window, McNemar against the five
#      -> studies/results_member_gain_NAME.md
#   2. bench/paired.py: the member against the analysis model (the split-trained distilled
#      VGG) in every view (none, flip, centre, ten crops)
#      -> studies/results_paired_NAME.md
# The VGG twins are not shipped (the ensemble's VGGs continued on all the faces): the first
# run takes them back from git into TEACHERS (default runs/teachers), where the
# distillation members of members.txt also find them.
#
#   bash bench/new_member.sh models/NAME.h5 [TRAIN_CSV]     (about 2 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"; [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
if [ $# -lt 1 ]; then echo "usage: bash bench/new_member.sh MODEL.h5 [TRAIN_CSV]" >&2; exit 2; fi
M="$1"; N="$(basename "$M" .h5)"
T="${2:-../shared/data/fer2013/train.csv.gz}"
TEACHERS="${TEACHERS:-runs/teachers}"
TWINS_AT=1508eb1^   # the last commit that shipped the split-trained twins
TWINS="vgg-bn-deep-wide_300ep-erase vgg-bn-deep-wide_300ep vgg-bn_60ep vgg-bn_60ep_continued40"
[ -f "$M" ] || { echo "error: $M: no such model" >&2; exit 2; }

mkdir -p "$TEACHERS"
BASE=()
for t in $TWINS; do
  if [ ! -f "$TEACHERS/$t.h5" ]; then
    git show "$TWINS_AT:models/$t.h5" > "$TEACHERS/$t.h5.tmp" && mv "$TEACHERS/$t.h5.tmp" "$TEACHERS/$t.h5"
    cp models/$t.config.json models/$t.history.csv "$TEACHERS/"
  fi
  BASE+=(--base "$TEACHERS/$t.h5")
done
BASE+=(--base models/resnet-affine.h5)

"$PY" bench/member_gain.py --data "$T" "${BASE[@]}" "$M" --tta none,center \
  --results "studies/results_member_gain_$N.md"
"$PY" bench/paired.py --data "$T" models/vgg-bn-deep-wide_300ep-erase_distilled.h5 "$M" \
  --tta none,flip,center,crops --results "studies/results_paired_$N.md"
