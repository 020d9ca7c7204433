#!/usr/bin/env bash
# The recipe of the CPU-trained models, one command (about 5 hours 40 minutes on 2 CPU cores);
# models/cnn7.h5 and models/cnn6.h5 were trained on a GPU, and models/cnn.h5 distilled from
# the ensemble: train_shipped_gpu.sh (after this script, which makes cnn2 and cnn3).
#   bash train_shipped.sh train.csv [extra train_cnn.py options for every stage]
# Every stage runs with --resume, so after a kill the same command carries on where it
# stopped, and a finished stage is not trained again. Writes into $MODELS_DIR (default models/).
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: bash train_shipped.sh TRAIN_CSV [train_cnn.py options]" >&2; exit 2; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"; [ -x "$HERE/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$HERE/.venv/bin/python"
TRAIN="$(realpath "$1")"; shift
M="$(realpath -m "${MODELS_DIR:-$HERE/models}")"
cd "$HERE"
# 1. 60 epochs of the first recipe: full dropout, shifts on top of the crops
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn_stage1.h5" --resume --dropout 1 --shift 0.1 "$@"
# 2. models/cnn1.h5: 40 more epochs from stage 1, half the dropout, no shift, a new cosine from 0.02
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn1.h5" --resume --init "$M/cnn_stage1.h5" --epochs 40 --lr 0.02 \
    --warmup-epochs 1 "$@"
# 3. models/cnn2.h5: train_cnn.py's default recipe, from scratch: an ensemble member
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn2.h5" --resume "$@"
# 4. models/cnn3.h5: 40 more epochs from cnn2, a new cosine from 0.02 (as stage 2): an ensemble member
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn3.h5" --resume --init "$M/cnn2.h5" --epochs 40 --lr 0.02 \
    --warmup-epochs 1 "$@"
# 5. models/cnn4.h5: hw3_train.sh's one-hour recipe (deeper and wider, in bfloat16), defined there
PYTHON="$PY" HW3_MODEL_OUT="$M/cnn4.h5" bash "$HERE/hw3_train.sh" "$TRAIN" --resume --epochs 66 "$@"
# 6. models/cnn5.h5: 40 more epochs from cnn4, a new cosine from 0.02 without warm-up
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn5.h5" --resume --init "$M/cnn4.h5" --arch vgg-bn-deep-wide \
    --precision mixed_bfloat16 --epochs 40 --lr 0.02 --warmup-epochs 0 "$@"
# The shipped ensemble members keep their weights as float16 (half the size; fer/compact.py)
for m in cnn2 cnn3; do "$PY" -m fer.compact "$M/$m.h5"; done
