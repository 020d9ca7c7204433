#!/usr/bin/env bash
# Remake every shipped model with its recipe (ferhw3/train/recipes.py), in order:
#   bash train_shipped.sh TRAIN_CSV [TEST_CSV]      (into $MODELS_DIR, default runs/shipped/)
# Stages 1-6 train on the split's 25,838 training faces: 1-2 on the CPU (vgg-bn 60 epochs,
# then continued 40: about 2 h on 2 cores), 3-4 on a GPU if there is one (300 epochs each:
# about 6 min on an H100 with KERAS_BACKEND=jax; about 5 h each on 2 CPU cores), 5 the distilled
# model (needs 1-4 and the unlabelled TEST_CSV, default test.csv.gz beside TRAIN_CSV; it is
# the model the report analyses), 6 the DNN baseline. Stages 7-11 make what predicts: each
# of 1-4 continued 8 epochs on all 28,709 labelled faces (learning rate 0.005, one epoch of
# warm-up; 5-6 min each here), and the distillation of those four into one network on all
# the faces. bench/all_faces.py measures their split twins. TRAIN_OPTS adds options that
# train_cnn.py and train_dnn.py both take (--epochs, --limit, --set), e.g.
# TRAIN_OPTS="--epochs 1 --limit 400" for a quick check of every stage.
# Every stage runs with --resume: after a kill the same command carries on, and a finished
# stage is not trained again. To ship the results, copy them into models/ and halve their
# weights: python -m ferhw3 compact FILE.h5
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: bash train_shipped.sh TRAIN_CSV [TEST_CSV]" >&2; exit 2; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"; [ -x "$HERE/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$HERE/.venv/bin/python"
TRAIN="$(realpath "$1")"
UNLABELLED="$(realpath -m "${2:-$(dirname "$TRAIN")/test.csv.gz}")"
M="$(realpath -m "${MODELS_DIR:-$HERE/runs/shipped}")"
read -r -a OPTS <<< "${TRAIN_OPTS:-}"
cd "$HERE"
train() { "$PY" train_cnn.py "$TRAIN" --resume "$@" "${OPTS[@]}"; }
# on all the faces: after TRAIN_OPTS, so that a --set val_size there cannot hold faces out
train_all() { "$PY" train_cnn.py "$TRAIN" --resume "$@" "${OPTS[@]}" --set val_size=0; }
train --recipe vgg-bn --out "$M/vgg-bn_60ep.h5"
train --recipe continue-40 --init "$M/vgg-bn_60ep.h5" --out "$M/vgg-bn_60ep_continued40.h5"
train --recipe gpu-300-erase --out "$M/vgg-bn-deep-wide_300ep-erase.h5"
train --recipe gpu-300 --out "$M/vgg-bn-deep-wide_300ep.h5"
T=(vgg-bn-deep-wide_300ep-erase vgg-bn-deep-wide_300ep vgg-bn_60ep vgg-bn_60ep_continued40)
train --recipe distil-ensemble --init "$M/${T[0]}.h5" --out "$M/vgg-bn-deep-wide_300ep-erase_distilled.h5" \
    --set "teachers=$(printf "$M/%s.h5," "${T[@]}")" --set "unlabelled=$UNLABELLED"
"$PY" train_dnn.py "$TRAIN" --resume --epochs 25 --out "$M/dnn_matched-vgg-bn.h5" "${OPTS[@]}"
declare -A RECIPE=([${T[0]}]=gpu-300-erase [${T[1]}]=gpu-300 [${T[2]}]=vgg-bn [${T[3]}]=continue-40)
for m in "${T[@]}"; do
    train_all --recipe "${RECIPE[$m]}" --init "$M/$m.h5" --out "$M/${m}_all-faces.h5" \
        --set epochs=8 --set lr=0.005 --set warmup_epochs=1
done
train_all --recipe distil-ensemble --init "$M/${T[0]}.h5" --out "$M/${T[0]}_distilled_all-faces.h5" \
    --set "teachers=$(printf "$M/%s_all-faces.h5," "${T[@]}")" --set "unlabelled=$UNLABELLED"
echo "DONE train_shipped.sh: models in $M"
