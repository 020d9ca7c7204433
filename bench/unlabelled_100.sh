#!/bin/bash
# Issue 5 at 100% of the labels: do the 7,178 unlabelled test faces add a point to the
# GPU-trained models/cnn7.h5 (0.6869)? Four 8-epoch fine-tunes of it with the same schedule
# (cosine from lr 0.01, no warm-up, bf16, the GPU recipe's augmentation: flips, 40px crops,
# random erasing 0.5, no rotation/zoom), then a paired comparison on the validation split:
#   control  labels only
#   kd       labels + the shipped ensemble's soft targets (distillation, --distill 0.5)
#   kdu      the same + the unlabelled test faces with the ensemble's soft targets  (= models/cnn.h5)
#   mt       labels + mean teacher on the unlabelled test faces (--mean-teacher 10)
# An arm whose log ends in its DONE line is skipped, so a stopped run resumes by arm.
# Measured in session 8 with the models still in float32 (before fer/compact.py halved them).
#
#   bash bench/unlabelled_100.sh [TRAIN_CSV] [UNLABELLED_CSV]     (about 60 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
T="${1:-../shared/data/fer2013/train.csv.gz}"
U="${2:-../shared/data/fer2013/test.csv.gz}"
OUT="${OUT:-runs/unlabelled100}"
mkdir -p "$OUT"
COMMON=(--init models/cnn7.h5 --arch vgg-bn-deep-wide --precision mixed_bfloat16 --rotation 0 --zoom 0 --erase 0.5)
FT=(--epochs 8 --lr 0.01 --warmup-epochs 0)
TEACH=(--teacher models/cnn7.h5 --teacher models/cnn6.h5 --teacher models/cnn2.h5 --teacher models/cnn3.h5 --distill 0.5)

source bench/arm.sh  # arm NAME ARGS...: train $OUT/NAME.h5 unless its log says DONE
arm control "${FT[@]}"
arm kd "${FT[@]}" "${TEACH[@]}"
arm kdu "${FT[@]}" "${TEACH[@]}" --unlabelled "$U"
# --self-train fine-tunes from lr/5 = 0.01, the same schedule as the others; the mean teacher
# is saved as mt.meanteacher.h5 (mt.h5 is whichever of it and the start model validates better)
arm mt --epochs 0 --lr 0.05 --self-train "$U" --mean-teacher 10 --self-train-epochs 8

"$PY" bench/paired.py "$OUT/control.h5" "$OUT/kd.h5" "$OUT/kdu.h5" "$OUT/mt.meanteacher.h5" models/cnn7.h5 \
    --data "$T" --tta none,center --results bench/results_unlabelled_100.md
# what the unlabelled faces add on their own: kdu against kd (same teacher, no test faces)
"$PY" bench/paired.py "$OUT/kd.h5" "$OUT/kdu.h5" --data "$T" --tta none,center --results "$OUT/kdu_vs_kd.md"
{ echo; cat "$OUT/kdu_vs_kd.md"; } >> bench/results_unlabelled_100.md
