#!/usr/bin/env bash
# On a GPU machine with JAX (CUDA) but no Keras, from a copy of this repository that holds
# what gpu/prepare.sh made: trains train_members.py's default members side by side on all
# the faces (and the new recipe's split twin) for MINUTES each, then measures the in-model
# augmentation's speed there (bench/aug_speed.py), into OUT (default runs/gpu):
#   OUT=/some/folder MINUTES=6.5 bash gpu/run.sh [train_members.py options]
# OUT gets the float16 members, members.json, runs.tar.gz, the augmentation table and this
# run's log: seven files. With the device tool of this workplace: carry .whl and .gpu,
# command `bash gpu/run.sh`, timeout 590 s (6.5 minutes of training, about a minute to
# compile, save and halve; the augmentation table in the time left).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-runs/gpu}"
mkdir -p "$OUT"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import keras" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
"$PY" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
"$PY" train_members.py "${FACES:-.gpu/train.faces.npz}" --out "$OUT" --work "${WORK:-/tmp/members}" \
    --minutes "${MINUTES:-6.5}" "$@" 2>&1 | tee "$OUT/train_members.log"
timeout "${BENCH_SECONDS:-90}" "$PY" bench/aug_speed.py --faces "${BENCH_FACES:-16384}" \
    --out "$OUT/results_aug_speed_jax.md" || echo "bench/aug_speed.py did not finish in ${BENCH_SECONDS:-90} s"
