#!/bin/bash
# At 100% of the labels, without the ensemble: is self-training on the 7,178 unlabelled
# test faces worth a point when the model is its own teacher? The teacher is the
# split-trained vgg-bn-deep-wide_300ep-erase.h5 itself (in SPLIT, default runs/shipped/:
# train_shipped.sh stages 1-5 make it; models/ ships only its run record), its centre-crop
# TTA probabilities as soft pseudo-labels, so whatever the test faces add is
# self-training's own. Three 8-epoch fine-tunes of it with the distil-ensemble recipe's schedule (cosine from lr 0.01, no
# warm-up, bf16, flips, 40px crops, random erasing 0.5), then paired comparisons:
#   skd      labels, each target half the smoothed label and half the model's probabilities
#   skdu     the same + the unlabelled test faces with its probabilities as targets
#   control  labels only
# An arm whose log ends in its DONE line is skipped, so a stopped run resumes by arm.
# SKIP_CONTROL=1 leaves the control out (studies/unlabelled_100.sh trains the same one) and
# compares with the start model instead.
#
#   bash studies/self_distill_100.sh [TRAIN_CSV] [UNLABELLED_CSV]     (about 45 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
T="${1:-../shared/data/fer2013/train.csv.gz}"
U="${2:-../shared/data/fer2013/test.csv.gz}"
OUT="${OUT:-runs/selfdistill100}"
mkdir -p "$OUT"
SPLIT="${SPLIT:-runs/shipped}"  # the split-trained models: teachers and start never saw the validation faces
START=$SPLIT/vgg-bn-deep-wide_300ep-erase.h5
COMMON=(--recipe distil-ensemble --init "$START")
SELF=(--set "teachers=$START")

source studies/arm.sh  # arm NAME ARGS...: train $OUT/NAME.h5 unless its log says DONE
arm skd "${SELF[@]}"
arm skdu "${SELF[@]}" --set "unlabelled=$U"
BASELINE=("$START")
if [ "${SKIP_CONTROL:-0}" != 1 ]; then arm control --set teachers=; BASELINE=("$OUT/control.h5" "$START"); fi

"$PY" bench/paired.py "${BASELINE[0]}" "$OUT/skd.h5" "$OUT/skdu.h5" "${BASELINE[@]:1}" \
    --data "$T" --tta none,center --results studies/results_self_distill_100.md
# what the unlabelled faces add on their own: skdu against skd (same teacher, no test faces)
"$PY" bench/paired.py "$OUT/skd.h5" "$OUT/skdu.h5" --data "$T" --tta none,center --results "$OUT/skdu_vs_skd.md"
{ echo; cat "$OUT/skdu_vs_skd.md"; } >> studies/results_self_distill_100.md
