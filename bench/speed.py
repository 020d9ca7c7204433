#!/usr/bin/env python3
"""The figures that depend on the machine, one table per CPU: bench/results_speed.md.

    python bench/speed.py [--runs 3] [--visualize] [--isa AVX2] [--before REV] [--data DIR]

Each command runs as a user runs it, a whole process timed from outside, beside the
yardstick measured in the same run, at its start and at its end (bench/yardstick.py:
TensorFlow, one network, one view, float32, the 7,178 test faces; the faster of the two
counts), so a figure reads as "x times the yardstick" on any CPU:
- hw3_test.sh on the 7,178 test faces: the first run on a machine (the engine's one-off
  precision measurement included), then the median of --runs more; the same labels read
  exactly (predict.py --exact, every view that could change a label); and once with
  FERHW3_PRECISION=f32 (what the engine ran before it measured, on CPUs without AMX);
- predict.py's default (the best single network, flip TTA) on the same faces;
- the photo path: predict.py --detect on matplotlib's grace_hopper.jpg (512x600);
- with --visualize, `visualize.py all` (every figure of the report), the faster of two runs;
- with --before REV, hw3_test.sh as the project at git revision REV ran it (a temporary
  worktree, this Python), for the side-by-side ratio.

--isa AVX2 sets ONEDNN_MAX_CPU_ISA=AVX2 for every command: oneDNN (inside OpenVINO and
TensorFlow) then uses only the instructions of an AVX2 CPU. An emulation, not that machine:
the cores, caches and clock stay this CPU's, so its absolute seconds are not an AVX2
machine's, but the ratios to the yardstick measured under the same cap show the AVX2 code
paths. TensorFlow's mixed_bfloat16 fails under the cap (no bfloat16 kernels), so the
as-saved yardstick is left out there.

The table of this CPU (and cap) replaces its earlier one in the results file; the others stay.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")


def cpu_class(flags: set) -> str:
    if "amx_bf16" in flags:
        return "AVX-512, bf16, AMX"
    if "avx512_bf16" in flags:
        return "AVX-512, bf16"
    if "avx512f" in flags:
        return "AVX-512"
    return "AVX2" if "avx2" in flags else "no AVX2"


class Failed(Exception):
    pass


def timed(cmd, env, cwd=ROOT) -> tuple[float, str]:
    """Seconds the command took, and its output; `Failed` with its last line if it fails."""
    t = time.perf_counter()
    got = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if got.returncode != 0:
        raise Failed(f"failed ({got.returncode}): {' '.join(got.stderr.strip().splitlines()[-1:])[:300]}")
    return seconds, got.stdout + got.stderr


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013"))
    p.add_argument("--runs", type=int, default=3, help="warm runs of hw3_test.sh (median)")
    p.add_argument("--visualize", action="store_true", help="also time visualize.py all (minutes)")
    p.add_argument("--isa", choices=["AVX2", "AVX512_CORE"], help="cap oneDNN's instructions (an emulation)")
    p.add_argument("--before", metavar="REV", help="also time hw3_test.sh at this git revision")
    p.add_argument("--results", default=os.path.join(HERE, "results_speed.md"))
    args = p.parse_args()
    import gzip

    from ferhw3.cpu import cpu_line
    from ferhw3.infer.precision import machine
    from ferhw3.runfiles import write_text

    py = sys.executable
    work = tempfile.mkdtemp(prefix="ferhw3-speed-")
    env = {**os.environ, "FERHW3_CACHE": os.path.join(work, "cache")}
    env.pop("FERHW3_PRECISION", None)
    if args.isa:
        env["ONEDNN_MAX_CPU_ISA"] = args.isa
    else:
        env.pop("ONEDNN_MAX_CPU_ISA", None)
    test = os.path.join(work, "test.csv")  # plain CSV, as the course hands it out
    with gzip.open(os.path.join(args.data, "test.csv.gz")) as src, open(test, "wb") as dst:
        shutil.copyfileobj(src, dst)
    out = os.path.join(work, "out.csv")
    rows = []

    def row(what, seconds, note=""):
        rows.append((what, seconds, note))
        print(f"{what}: {seconds:.1f} s {note}", flush=True)


    def views_read(text):
        found = re.search(r"(\d+%) of the views read", text)
        return f"{found.group(1)} of the ten views read" if found else ""

    def yardstick(*extra):
        _, text = timed([py, "bench/yardstick.py", "--data", args.data, "--repeats", "3", *extra], env)
        return float(text.strip().splitlines()[-1])

    try:
        first_yard = yardstick()
        if not args.isa:
            row("the same, the model's own mixed_bfloat16", yardstick("--as-saved"))
        hw3 = ["bash", "hw3_test.sh", test, out]
        seconds, text = timed(hw3, env)
        probe = re.search(r"measured this CPU's inference speed once \(([^)]*)\); (\w+)", text)
        row("hw3_test.sh, first run (the precision measured)", seconds,
            f"{probe.group(1)}: {probe.group(2)}" if probe else "")
        warm = [timed(hw3, env) for _ in range(args.runs)]
        row(f"hw3_test.sh, median of {args.runs} ({', '.join(f'{s:.1f}' for s, _ in warm)})",
            statistics.median(s for s, _ in warm), views_read(warm[-1][1]))
        seconds, text = timed([py, "predict.py", test, out, "--role", "ensemble", "--exact"], env)
        row("the same labels read exactly (predict.py --role ensemble --exact)", seconds, views_read(text))
        row("hw3_test.sh in f32 (FERHW3_PRECISION=f32)", timed(hw3, {**env, "FERHW3_PRECISION": "f32"})[0])
        if args.before:
            old = os.path.join(work, "before")
            subprocess.run(["git", "worktree", "add", "-q", "--detach", old, args.before], cwd=ROOT, check=True)
            try:
                rev = subprocess.run(["git", "rev-parse", "--short", args.before], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip()
                row(f"hw3_test.sh at {rev} (before)", timed(["bash", "hw3_test.sh", test, out],
                                                            {**env, "PYTHON": py}, cwd=old)[0])
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", old], cwd=ROOT)
        row("predict.py default (one network, flip), 7,178 faces", timed([py, "predict.py", test, out], env)[0])
        import matplotlib.cbook

        photo = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        what = "predict.py grace_hopper.jpg --detect (512x600, one face)"
        try:
            row(what, timed([py, "predict.py", photo, out, "--detect"], env)[0])
        except Failed as e:  # under an instruction cap some of OpenVINO's operations have no kernel left
            row(what, float("nan"), str(e).replace("|", "/"))
        if args.visualize:  # twice, the faster counting, as the yardstick's fastest does
            runs = [timed([py, "visualize.py", "all", "--data", os.path.join(args.data, "train.csv.gz"),
                           "--out", os.path.join(work, f"figures{k}")], env) for k in range(2)]
            seconds, text = min(runs)
            times = re.search(r"figure times: (.*)", text)
            row(f"visualize.py all (every figure), the faster of 2 ({', '.join(f'{s:.1f}' for s, _ in runs)})",
                seconds, times.group(1) if times else "")
        # a 2-core VM's speed drifts with its neighbours: the yardstick again at the end, the faster one counts
        last_yard = yardstick()
        yard = min(first_yard, last_yard)
        rows.insert(0, ("yardstick: TensorFlow, deep-wide VGG, float32, 7,178 faces, centre window, one view", yard,
                        f"the fastest of 3 at the start ({first_yard:.1f} s) and 3 at the end ({last_yard:.1f} s)"))
    except Failed as e:
        sys.exit(f"error: {e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    m = machine()
    flags = set(m["flags"].split())
    title = f"## {m['cpu']}, {m['cores']} cores ({cpu_class(flags)})" + (
        f", oneDNN capped at {args.isa} (ONEDNN_MAX_CPU_ISA)" if args.isa else "")
    lines = [title, "", f"Measured {time.strftime('%Y-%m-%d')}: `python bench/speed.py " + " ".join(sys.argv[1:]) + "`; "
             f"OpenVINO {m['openvino']}; {cpu_line()}", "",
             "| what | seconds | x yardstick | note |", "|---|---:|---:|---|"]
    lines += [f"| {w} | {s:.1f} | {s / yard:.2f} | {n} |".replace("| nan | nan |", "| - | - |") for w, s, n in rows]
    section = "\n".join(lines) + "\n"
    head = ("# Speed per CPU\n\nWhole processes timed from outside, on the 7,178 test faces unless named; the "
            "yardstick (bench/yardstick.py) measured in the same run. Remake a CPU's table with the command "
            "under it.\n")
    old = open(args.results).read() if os.path.exists(args.results) else head
    parts = re.split(r"(?m)^(?=## )", old)
    kept = [s for s in parts[1:] if s.splitlines()[0] != title]
    write_text(args.results, parts[0].rstrip("\n") + "\n\n" + "\n".join(sorted(kept + [section])).rstrip("\n") + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
