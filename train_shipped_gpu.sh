#!/usr/bin/env bash
# The GPU-trained shipped models, one command (6.3 minutes each on one H100 with two runs side
# by side, Keras on JAX; on this 2-core CPU with TensorFlow about 5 hours each):
#   bash train_shipped_gpu.sh train.csv [extra train_cnn.py options for both]
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
# 1. models/cnn.h5, the best single model: 300 epochs of flips, 40px crops and random erasing (p 0.5)
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn.h5" --resume "${RECIPE[@]}" --erase 0.5 "$@"
# 2. models/cnn6.h5: the same without random erasing (an ensemble member)
"$PY" train_cnn.py "$TRAIN" --out "$M/cnn6.h5" --resume "${RECIPE[@]}" "$@"
