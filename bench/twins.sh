#!/bin/bash
# The split stand-ins of the shipped roles, for measurements on the project's validation faces:
# the four VGGs of hw3_test.sh continued on all the faces (the validation faces included), so
# their split-trained twins, which never saw those faces, stand for them. The twins are no
# longer shipped: they come back from git into TWINS (default runs/teachers), beside a copy of
# the split-trained distilled VGG (the default's twin), each with its int8 copy (ferhw3
# quantize, calibrated as the shipped ones were). resnet-affine.h5 ships split-trained.
#
#   bash bench/twins.sh [TRAIN_CSV]     (about 3 minutes on 2 cores; files already there are kept)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"; [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
T="${1:-../shared/data/fer2013/train.csv.gz}"
TWINS="${TWINS:-runs/teachers}"
TWINS_AT=1508eb1^   # the last commit that shipped the split-trained twins
mkdir -p "$TWINS"
for t in vgg-bn-deep-wide_300ep-erase vgg-bn-deep-wide_300ep vgg-bn_60ep vgg-bn_60ep_continued40; do
  if [ ! -f "$TWINS/$t.h5" ]; then
    git show "$TWINS_AT:models/$t.h5" > "$TWINS/$t.h5.tmp" && mv "$TWINS/$t.h5.tmp" "$TWINS/$t.h5"
    cp models/$t.config.json models/$t.history.csv "$TWINS/"
  fi
done
for m in vgg-bn-deep-wide_300ep-erase_distilled; do
  [ -f "$TWINS/$m.h5" ] || cp models/$m.h5 "$TWINS/$m.h5"
done
MISSING=()
for m in "$TWINS"/*.h5; do [ -f "${m%.h5}.int8.json" ] || MISSING+=("$m"); done
[ ${#MISSING[@]} -eq 0 ] || "$PY" -m ferhw3 quantize "${MISSING[@]}" --data "$T"
echo "DONE twins in $TWINS"
