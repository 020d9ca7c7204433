#!/bin/bash
# Issue 5 at 100% of the labels, without the ensemble: is self-training on the 7,178
# unlabelled test faces worth a point when the model is its own teacher? bench/unlabelled_100.sh
# found that the shipped ensemble's soft targets gain as much without the test faces as with
# them; here the teacher is models/cnn7.h5 itself (its centre-crop TTA probabilities, soft
# pseudo-labels), so whatever the test faces add is self-training's own. Three 8-epoch
# fine-tunes of cnn7 on the schedule of bench/unlabelled_100.sh (cosine from lr 0.01, no
# warm-up, bf16, flips, 40px crops, random erasing 0.5), then paired comparisons:
#   skd      labels, each target half the smoothed label and half cnn7's probabilities
#   skdu     the same + the unlabelled test faces with cnn7's probabilities as targets
#   control  labels only
# An arm whose log ends in its DONE line is skipped, so a stopped run resumes by arm.
# SKIP_CONTROL=1 leaves the control out (bench/unlabelled_100.sh trains the same one) and
# compares with models/cnn7.h5 instead.
#
#   bash bench/self_distill_100.sh [TRAIN_CSV] [UNLABELLED_CSV]     (about 45 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
T="${1:-../shared/data/fer2013/train.csv.gz}"
U="${2:-../shared/data/fer2013/test.csv.gz}"
OUT="${OUT:-runs/selfdistill100}"
mkdir -p "$OUT"
COMMON=(--init models/cnn7.h5 --arch vgg-bn-deep-wide --precision mixed_bfloat16 --rotation 0 --zoom 0 --erase 0.5
        --epochs 8 --lr 0.01 --warmup-epochs 0)
SELF=(--teacher models/cnn7.h5 --distill 0.5)

source bench/arm.sh  # arm NAME ARGS...: train $OUT/NAME.h5 unless its log says DONE
arm skd "${SELF[@]}"
arm skdu "${SELF[@]}" --unlabelled "$U"
BASELINE=(models/cnn7.h5)
if [ "${SKIP_CONTROL:-0}" != 1 ]; then arm control; BASELINE=("$OUT/control.h5" models/cnn7.h5); fi

"$PY" bench/paired.py "${BASELINE[0]}" "$OUT/skd.h5" "$OUT/skdu.h5" "${BASELINE[@]:1}" \
    --data "$T" --tta none,center --results bench/results_self_distill_100.md
# what the unlabelled faces add on their own: skdu against skd (same teacher, no test faces)
"$PY" bench/paired.py "$OUT/skd.h5" "$OUT/skdu.h5" --data "$T" --tta none,center --results "$OUT/skdu_vs_skd.md"
{ echo; cat "$OUT/skdu_vs_skd.md"; } >> bench/results_self_distill_100.md
