#!/usr/bin/env bash
# Grading interface: label a test CSV (id,feature) with the shipped ensemble -> OUT_CSV (id,label).
#   bash hw3_test.sh test.csv out.csv
# The ensemble is the "ensemble" role of models/manifest.json (its models and TTA); it runs
# on OpenVINO (FERHW3_ENGINE=keras for Keras/TensorFlow).
# HW3_MODEL (space-separated model paths, relative to the caller's directory) and HW3_TTA
# override them, e.g. HW3_MODEL=runs/one-hour.h5 for the model hw3_train.sh trains.
# Works from any working directory; uses the repo's .venv if there is one.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: bash hw3_test.sh TEST_CSV OUT_CSV" >&2; exit 2; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"; [ -x "$HERE/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$HERE/.venv/bin/python"
TEST="$(realpath -m "$1")"; OUT="$(realpath -m "$2")"
ARGS=(--role ensemble)
if [ -n "${HW3_MODEL:-}" ]; then
  ARGS=(); for m in $HW3_MODEL; do ARGS+=(--model "$(realpath -m "$m")"); done
fi
[ -n "${HW3_TTA:-}" ] && ARGS+=(--tta "$HW3_TTA")
cd "$HERE"
exec "$PY" predict.py "$TEST" "$OUT" "${ARGS[@]}"
