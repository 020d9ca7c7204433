#!/usr/bin/env python3
"""Figures of the homework report from saved models.

The homework's script; the same command as `ferhw3 visualize` (ferhw3/cli/visualize.py, which
documents it: `python visualize.py --help`).
"""

from ferhw3.cli import main_guard
from ferhw3.cli.visualize import main

if __name__ == "__main__":
    main_guard(main)
