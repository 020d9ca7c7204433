#!/usr/bin/env bash
# Grading interface: predict a test CSV with the repo's best configuration.
#   bash hw3_test.sh test.csv out.csv
# Works from any working directory; uses the repo's .venv if there is one.
# HW3_MODEL (space-separated .h5 paths) and HW3_TTA override the models and the TTA.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: bash hw3_test.sh TEST_CSV OUT_CSV" >&2; exit 2; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"; [ -x "$HERE/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$HERE/.venv/bin/python"
TEST="$(realpath -m "$1")"; OUT="$(realpath -m "$2")"
MODELS=()  # HW3_MODEL paths are relative to the caller's directory, the defaults to the repo
for m in ${HW3_MODEL:-$HERE/models/cnn7.h5 $HERE/models/cnn6.h5 $HERE/models/cnn2.h5 $HERE/models/cnn3.h5}; do MODELS+=(--model "$(realpath -m "$m")"); done
cd "$HERE"
exec "$PY" predict.py "$TEST" "$OUT" "${MODELS[@]}" --tta "${HW3_TTA:-center}"
