#!/bin/bash
# At 100% of the labels: do the 7,178 unlabelled test faces add a point to
# the split-trained vgg-bn-deep-wide_300ep-erase.h5 (in SPLIT, default runs/shipped/:
# train_shipped.sh stages 1-5 make it; models/ ships only its run record)? Four 8-epoch fine-tunes of it with the
# distil-ensemble recipe's schedule (cosine from lr 0.01, no warm-up, bf16, flips, 40px
# crops, random erasing 0.5), then a paired comparison on the validation split:
#   control  labels only
#   kd       labels + the shipped ensemble's soft targets (distillation, distill 0.5)
#   kdu      the same + the unlabelled test faces with the ensemble's soft targets
#            (the recipe of models/vgg-bn-deep-wide_300ep-erase_distilled.h5)
#   mt       labels + mean teacher on the unlabelled test faces (mean_teacher=10)
# An arm whose log ends in its DONE line is skipped, so a stopped run resumes by arm.
#
#   bash studies/unlabelled_100.sh [TRAIN_CSV] [UNLABELLED_CSV]     (about 60 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
T="${1:-../shared/data/fer2013/train.csv.gz}"
U="${2:-../shared/data/fer2013/test.csv.gz}"
OUT="${OUT:-runs/unlabelled100}"
mkdir -p "$OUT"
SPLIT="${SPLIT:-runs/shipped}"  # the split-trained models: teachers and start never saw the validation faces
START=$SPLIT/vgg-bn-deep-wide_300ep-erase.h5
COMMON=(--recipe distil-ensemble --init "$START"  # teachers: the split-trained ensemble
        --set "teachers=$(printf "$SPLIT/%s.h5," vgg-bn-deep-wide_300ep-erase vgg-bn-deep-wide_300ep vgg-bn_60ep \
                                                vgg-bn_60ep_continued40)")

source studies/arm.sh  # arm NAME ARGS...: train $OUT/NAME.h5 unless its log says DONE
arm control --set teachers=
arm kd
arm kdu --set "unlabelled=$U"
# self-training fine-tunes from lr/5 = 0.01, the same schedule as the others; the mean teacher
# is saved as mt.meanteacher.h5 (mt.h5 is whichever of it and the start model validates better)
arm mt --set teachers= --epochs 0 --lr 0.05 --self-train "$U" --set mean_teacher=10 --set self_train_epochs=8

"$PY" bench/paired.py "$OUT/control.h5" "$OUT/kd.h5" "$OUT/kdu.h5" "$OUT/mt.meanteacher.h5" "$START" \
    --data "$T" --tta none,center --results studies/results_unlabelled_100.md
# what the unlabelled faces add on their own: kdu against kd (same teacher, no test faces)
"$PY" bench/paired.py "$OUT/kd.h5" "$OUT/kdu.h5" --data "$T" --tta none,center --results "$OUT/kdu_vs_kd.md"
{ echo; cat "$OUT/kdu_vs_kd.md"; } >> studies/results_unlabelled_100.md
