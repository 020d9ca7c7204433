#!/usr/bin/env bash
# Prepare, on this machine, what a GPU machine without TensorFlow or Keras needs to run
# gpu/run.sh from a copy of this repository whose size is limited (64 MiB by default):
#   bash gpu/prepare.sh TRAIN_CSV [LIMIT_MIB]
# - .whl/: the keras wheel and the two of its needs that such a machine lacks (Python 3.12),
# - .gpu/train.faces.npz: the labelled faces packed as WebP mosaics (python -m ferhw3 pack),
#   lossless if that fits in what the limit leaves after the tracked files and the wheels,
#   else at the highest quality that fits (it prints which).
# Both folders are ignored by git and travel only when named (carry: .whl, .gpu).
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: bash gpu/prepare.sh TRAIN_CSV [LIMIT_MIB]" >&2; exit 2; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"; [ -x "$HERE/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && PY="$HERE/.venv/bin/python"
TRAIN="$(realpath "$1")"; LIMIT="${2:-64}"
cd "$HERE"
mkdir -p .whl .gpu
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0
tracked=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
room=$("$PY" -c "print(f'{$LIMIT - ($tracked + $wheels) / 2**20 - 1.5:.1f}')")  # 1.5 MiB to spare
echo "files that travel $((tracked / 1048576)) MiB, wheels $((wheels / 1048576)) MiB: $room MiB left for the faces"
"$PY" -m ferhw3 pack "$TRAIN" .gpu/train.faces.npz --max-mib "$room"
echo "DONE gpu/prepare.sh: carry .whl and .gpu; on the GPU machine run: bash gpu/run.sh"
