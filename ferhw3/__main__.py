"""`python -m ferhw3 TOOL ...`: the small tools (compact, pack, export)."""

import sys

from .cli import UsageError, main_guard
from .cli.tools import TOOLS


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in TOOLS:
        raise UsageError(f"usage: python -m ferhw3 {{{','.join(TOOLS)}}} ... (one of: "
                         + "; ".join(f"{n}: {f.__doc__.split(':', 1)[1].strip()}" for n, f in TOOLS.items()) + ")")
    TOOLS[argv[0]](argv[1:])


if __name__ == "__main__":
    main_guard(main)
