#!/usr/bin/env python3
"""Train the parameter-matched dense baseline.

The homework's script; the same command as `ferhw3 train-dnn` (ferhw3/cli/train_dnn.py, which
documents it: `python train_dnn.py --help`).
"""

from ferhw3.cli import main_guard
from ferhw3.cli.train_dnn import main

if __name__ == "__main__":
    main_guard(main)
