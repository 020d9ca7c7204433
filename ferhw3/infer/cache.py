"""Where the engine keeps what it works out once per machine (converted models, the
measured precision), and the hash that names a model file's version."""

from __future__ import annotations

import hashlib
import os

CACHE_ENV = "FERHW3_CACHE"


def cache_dir() -> str:
    """FERHW3_CACHE, default ~/.cache/ferhw3 (outside the repository)."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "ferhw3")


def file_hash(path: str) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
