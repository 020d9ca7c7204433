#!/usr/bin/env python3
"""Predict FER2013 expressions: test CSV (id,feature) -> submission CSV (id,label); photos, folders and videos with --detect.

The homework's script; the same command as `ferhw3 predict` (ferhw3/cli/predict.py, which
documents it: `python predict.py --help`).
"""

from ferhw3.cli import main_guard
from ferhw3.cli.predict import main

if __name__ == "__main__":
    main_guard(main)
