#!/usr/bin/env bash
# The GPU-trained shipped models and the model distilled from them, one command (6.3 minutes
# each on one H100 with two runs side by side, Keras on JAX; on this 2-core CPU with
# TensorFlow about 5 hours each; stage 3 took 8.7 minutes on this CPU):
#   UNLABELLED=test.csv bash train_shipped_gpu.sh train.csv [extra train_cnn.py options for every stage]
# Stage 3 distils the hw3_test.sh ensemble, so it needs models/cnn2.h5 and cnn3.h5 from
# train_shipped.sh, and the unlabelled test faces (UNLABELLED, default test.csv.gz beside
# TRAIN_CSV); it is skipped, with a message, when they are missing.
# Uses KERAS_BACKEND (default jax: install jax[cuda] and keras on the GPU machine). Off
# TensorFlow, fit() feeds arrays and runs the augmentation inside the model on the GPU
# (fer/train.py); rotation and zoom are left out because Keras's affine transform was
# 200x slower there than flips and crops (bench/results_aug_speed_jax.md).
# Every stage runs with --resume. Writes into $MODELS_DIR (default models/).
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: bash train_shipped_gpu.sh TRAIN_CSV [train_cnn.py options]" >&2; exit 2; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"; [ -x "$HERE/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$HERE/.venv/bin/python"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
TRAIN="$(realpath "$1")"; shift
M="$(realpath -m "${MODELS_DIR:-$HERE/models}")"
cd "$HERE"
RECIPE=(--arch vgg-bn-deep-wide --precision mixed_bfloat16 --epochs 300 --warmup-epochs 5 --patience 10000
        --rotation 0 --zoom 0)
UNLABELLED="$(realpath -m "${UNLABELLED:-$(dirname "$TRAIN")/test.csv.gz}")"
# 1. models/cnn7.h5: 300 epochs of flips, 40px crops and random erasing (p 0.5)
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn7.h5" --resume "${RECIPE[@]}" --erase 0.5 "$@"
# 2. models/cnn6.h5: the same without random erasing
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn6.h5" --resume "${RECIPE[@]}" "$@"
# 3. models/cnn.h5, the best single model: cnn7 fine-tuned 8 epochs (cosine from 0.01, same
#    augmentation) towards the ensemble's probabilities, on the labelled and the test faces
if [ -f "$M/cnn2.h5" ] && [ -f "$M/cnn3.h5" ] && [ -f "$UNLABELLED" ]; then
  "$PY" train_cnn.py "$TRAIN" --out "$M/cnn.h5" --resume --init "$M/cnn7.h5" "${RECIPE[@]}" --erase 0.5 \
      --epochs 8 --lr 0.01 --warmup-epochs 0 --distill 0.5 --unlabelled "$UNLABELLED" \
      --teacher "$M/cnn7.h5" --teacher "$M/cnn6.h5" --teacher "$M/cnn2.h5" --teacher "$M/cnn3.h5" "$@"
  SHIPPED=(cnn7 cnn6 cnn)
else
  echo "stage 3 (models/cnn.h5) skipped: it needs $M/cnn2.h5 and $M/cnn3.h5 (train_shipped.sh) and $UNLABELLED"
  SHIPPED=(cnn7 cnn6)
fi
# The shipped files keep their weights as float16 (half the size; fer/compact.py)
for m in "${SHIPPED[@]}"; do "$PY" -m fer.compact "$M/$m.h5"; done
