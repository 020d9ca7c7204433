"""What this CPU can do, read from its flags (Linux's /proc/cpuinfo): the training step's
precision (bfloat16 or float32) and the inference engine's (bf16 or f32) both turn on it."""

from __future__ import annotations

CPUINFO = "/proc/cpuinfo"


def cpu_flags(cpuinfo: str = CPUINFO) -> set[str] | None:
    """The CPU's feature flags (x86's `flags`, Arm's `Features` lines), lower case; None
    where they cannot be read (not Linux)."""
    try:
        with open(cpuinfo) as f:
            return {word.lower() for line in f if line.lower().startswith(("flags", "features"))
                    for word in line.split()}
    except OSError:
        return None
