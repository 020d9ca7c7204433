"""What this CPU is and can do, read from Linux's /proc/cpuinfo: the training step's precision
(bfloat16 or float32) turns on its flags, and the inference engine keys its measured speeds
on them (ferhw3.infer.precision)."""

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


def cpu_name(cpuinfo: str = CPUINFO) -> str:
    """The CPU's model name (x86's `model name`), or what Python's platform module says."""
    import platform

    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip().lower() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


SPEED_FLAGS = ("avx", "amx", "fma")  # the families that decide a network's speed here


def cpu_line() -> str:
    """One line naming this CPU for a results file: model name, cores, the vector and
    matrix flags."""
    import os

    flags = sorted(f for f in (cpu_flags() or ()) if f.startswith(SPEED_FLAGS))
    return f"CPU: {cpu_name()}, {os.cpu_count()} cores; flags: {' '.join(flags) or 'unknown'}"
