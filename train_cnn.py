#!/usr/bin/env python3
"""Train a CNN on FER2013 faces with a named recipe.

The homework's script; the same command as `ferhw3 train` (ferhw3/cli/train.py, which
documents it: `python train_cnn.py --help`).
"""

from ferhw3.cli import main_guard
from ferhw3.cli.train import main

if __name__ == "__main__":
    main_guard(main)
