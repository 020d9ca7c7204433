"""Which precision the prediction engine computes in on this CPU: measured, not guessed.

The same network reads faces at very different speeds in f32, bf16 and int8 depending on
the CPU: bf16 was 2x f32 on an AVX-512-bf16 EPYC and slower than f32 on a Xeon without AMX;
on AVX2 there is no bf16 at all, and int8 without VNNI gains less than with it. So the
first prediction on a machine times each precision on a small batch of the network it is
about to run (about two seconds, once) and keeps the answer in the cache folder
(FERHW3_CACHE, default ~/.cache/ferhw3), keyed by the CPU (model name, flags, cores) and
the OpenVINO version. Each model then runs at the fastest precision among those its
accuracy was measured for (`allowed`).

FERHW3_PRECISION=f32, bf16 or int8 overrides the measurement (a precision a model lacks
falls back to f32); FERHW3_PRECISION=probe measures again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time

import numpy as np

PRECISION_ENV = "FERHW3_PRECISION"
PRECISIONS = ("f32", "bf16", "int8")
PROBE_BATCH, PROBE_SIDE, PROBE_REPEATS = 64, 40, 3
_lock = threading.Lock()
_measured: dict[str, dict] = {}  # this process's measurements, by machine key


def machine() -> dict:
    """What the speeds depend on: the CPU's model name and flags, its cores, OpenVINO's
    version, and a cap on the instruction sets oneDNN may use (ONEDNN_MAX_CPU_ISA, which
    bench/speed.py sets to measure an AVX2 machine's code paths on a newer CPU)."""
    from ..cpu import cpu_flags, cpu_name
    from . import openvino

    name, flags = cpu_name(), " ".join(sorted(cpu_flags() or ()))
    return {"cpu": name, "flags": flags, "cores": os.cpu_count(), "openvino": openvino().__version__.split("-")[0],
            "isa_cap": os.environ.get("ONEDNN_MAX_CPU_ISA", "")}  # oneDNN's own limit on the instructions it uses


def machine_key(m: dict | None = None) -> str:
    return hashlib.sha256(json.dumps(m or machine(), sort_keys=True).encode()).hexdigest()[:16]


def _cache_file() -> str:
    from .cache import cache_dir

    return os.path.join(cache_dir(), "precision-probe.json")


def _time(core, model, precision: str) -> float:
    """Seconds per face of `model` compiled at `precision` (the best of a few batches)."""
    m = model.clone()
    m.reshape([PROBE_BATCH, PROBE_SIDE, PROBE_SIDE, 1])
    compiled = core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32" if precision == "int8" else precision,
                                             "PERFORMANCE_HINT": "THROUGHPUT"})
    x = np.random.default_rng(0).uniform(0, 255, (PROBE_BATCH, PROBE_SIDE, PROBE_SIDE, 1)).astype(np.float32)
    request = compiled.create_infer_request()
    request.infer({0: x})  # the first call sets things up
    best = float("inf")
    for _ in range(PROBE_REPEATS):
        t = time.perf_counter()
        request.infer({0: x})
        best = min(best, time.perf_counter() - t)
    return best / PROBE_BATCH


def probe(float_model, int8_model=None) -> dict:
    """{precision: seconds per face} for this machine, measured on `float_model` (and its
    int8 copy where given), read from the cache when it was measured before."""
    from . import openvino

    info = machine()
    key = machine_key(info)
    forced_again = os.environ.get(PRECISION_ENV, "").lower() == "probe"
    with _lock:
        if key in _measured and (int8_model is None or "int8" in _measured[key]["seconds_per_face"]):
            return _measured[key]["seconds_per_face"]
        path = _cache_file()
        cached = {}
        try:
            with open(path) as f:
                cached = json.load(f)
        except (OSError, ValueError):
            pass
        entry = cached.get(key) if isinstance(cached, dict) and not forced_again else None
        if not (isinstance(entry, dict) and isinstance(entry.get("seconds_per_face"), dict)
                and (int8_model is None or "int8" in entry["seconds_per_face"])):
            core = openvino().Core()
            seconds = {}
            for precision in PRECISIONS:
                model = int8_model if precision == "int8" else float_model
                if model is None:
                    continue
                try:
                    seconds[precision] = _time(core, model, precision)
                except RuntimeError:  # a precision this CPU or build cannot compile
                    continue
            entry = {"machine": info, "seconds_per_face": seconds, "measured": time.strftime("%Y-%m-%d %H:%M")}
            fastest = min(seconds, key=seconds.get)
            print(f"note: measured this CPU's inference speed once ({', '.join(f'{p} {1 / s:,.0f}' for p, s in seconds.items())} "
                  f"faces/s); {fastest} where a model allows it (cached in {path})", file=sys.stderr)
            _store(path, key, entry)
        _measured[key] = entry
        return entry["seconds_per_face"]


def _store(path: str, key: str, entry: dict) -> None:
    """Add `entry` to the cache file through a temporary file and a rename; a folder that
    cannot be written only costs the measurement next time."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                cached = json.load(f)
            cached = cached if isinstance(cached, dict) else {}
        except (OSError, ValueError):
            cached = {}
        cached[key] = entry
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(cached, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass


def choose(allowed, float_model, int8_model=None) -> str:
    """The precision a model runs at: FERHW3_PRECISION if set (and allowed, else f32), or the
    fastest of `allowed` on this machine (`probe`)."""
    allowed = [p for p in PRECISIONS if p in allowed and (p != "int8" or int8_model is not None)]
    wanted = os.environ.get(PRECISION_ENV, "").lower()
    if wanted in PRECISIONS:
        return wanted if wanted in allowed else "f32"
    if allowed == ["f32"]:
        return "f32"
    seconds = probe(float_model, int8_model if "int8" in allowed else None)
    timed = [p for p in allowed if p in seconds]
    return min(timed, key=seconds.get) if timed else "f32"
