#!/usr/bin/env bash
# Grading interface: train the best one-hour CNN recipe (vgg-bn-deep-wide in bfloat16, 66
# epochs, 59 min on 2 CPU cores) into models/cnn4.h5. train_shipped.sh continues it for 40
# more epochs into models/cnn5.h5, a member of the ensemble hw3_test.sh uses, and makes the
# others. HW3_MODEL_OUT sets another path.
#   bash hw3_train.sh train.csv [extra train_cnn.py options, e.g. --epochs 5]
# Works from any working directory; uses the repo's .venv if there is one.
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: bash hw3_train.sh TRAIN_CSV [train_cnn.py options]" >&2; exit 2; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"; [ -x "$HERE/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$HERE/.venv/bin/python"
TRAIN="$(realpath "$1")"; shift
cd "$HERE"
exec "$PY" train_cnn.py "$TRAIN" --out "${HW3_MODEL_OUT:-models/cnn4.h5}" \
    --arch vgg-bn-deep-wide --precision mixed_bfloat16 --epochs 66 "$@"
