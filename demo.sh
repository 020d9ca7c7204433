#!/usr/bin/env bash
# One command on a fresh machine: install into .venv (requirements and this package), then
# label the 200 real FER2013 test faces committed in data/ with hw3_test.sh (the shipped ensemble).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
bash hw3_test.sh data/sample_test.csv.gz sample_predictions.csv
echo "first predictions (id,label; 0 Angry 1 Disgust 2 Fear 3 Happy 4 Sad 5 Surprise 6 Neutral):"
head -6 sample_predictions.csv
