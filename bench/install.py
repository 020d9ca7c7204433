#!/usr/bin/env python3
"""What an install costs and how fast its first prediction is: the base install (the wheel,
prediction only) beside the full pinned set (requirements.txt), each in a fresh venv.

    python bench/install.py [--before COMMIT] [--test ../shared/data/fer2013/test.csv.gz]

Measures, on this machine, one after another:
- venv size and `pip install` time of the base install (`pip install ferhw3-*.whl`) and of
  the full one (`pip install -r requirements.txt` + the wheel without dependencies), with the
  same pip cache for both (whatever it holds when the bench starts: say so with the figures);
- `ferhw3 predict` on the 200 sample faces in the base venv, run from another folder: the
  first run after the install (cold) and the second (warm);
- predict.py as it was at COMMIT (models converted through TensorFlow into a cache on first
  use), in the full venv, with an empty cache (cold) and again (warm);
- `hw3_test.sh` on the 7,178 test faces with this tree and with COMMIT's (warm cache).

Writes bench/results_install.md. Pause background trainings while it runs: it times things.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from ferhw3.runfiles import write_text

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLE = os.path.join(ROOT, "data", "sample_test.csv.gz")


def timed(cmd, **kw) -> float:
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{r.stderr[-3000:]}")
    return time.perf_counter() - start


def size_mib(path: str) -> float:
    total = 0
    for folder, _, files in os.walk(path):
        for f in files:
            p = os.path.join(folder, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total / 2**20


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        name = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        return f"{name}, {os.cpu_count()} cores, {'AMX' if ' amx_bf16' in text else 'no AMX'}"
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", default="46008f1", help="the commit whose predict.py is compared (default 46008f1)")
    p.add_argument("--test", default=os.path.join(ROOT, "..", "shared", "data", "fer2013", "test.csv.gz"))
    p.add_argument("--results", default=os.path.join(HERE, "results_install.md"))
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="ferhw3-install-bench-")
    rows, notes = [], []
    try:
        wheels = os.path.join(work, "wheels")
        t = timed([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", ROOT, "-w", wheels])
        wheel = os.path.join(wheels, next(f for f in os.listdir(wheels) if f.endswith(".whl")))
        notes.append(f"wheel: {os.path.basename(wheel)}, {os.path.getsize(wheel) / 2**20:.1f} MiB, built in {t:.0f} s")

        venvs = {}
        for kind, steps in (("base", [["install", "-q", wheel]]),
                            ("full", [["install", "-q", "-r", os.path.join(ROOT, "requirements.txt")],
                                      ["install", "-q", "--no-deps", wheel]])):
            venv = os.path.join(work, kind)
            t = timed([sys.executable, "-m", "venv", venv])
            py = os.path.join(venv, "bin", "python")
            t += sum(timed([py, "-m", "pip", *step]) for step in steps)
            venvs[kind] = venv
            rows.append((f"{kind} install: venv size", f"{size_mib(venv):,.0f} MiB"))
            rows.append((f"{kind} install: venv + pip install time", f"{t:.0f} s"))
            print(rows[-2], rows[-1], flush=True)

        elsewhere = os.path.join(work, "elsewhere")
        os.makedirs(elsewhere)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FERHW3_MODELS")}
        env["FERHW3_CACHE"] = os.path.join(work, "cache-new")
        ferhw3 = os.path.join(venvs["base"], "bin", "ferhw3")
        for run in ("cold (first run)", "warm"):
            t = timed([ferhw3, "predict", SAMPLE, "out.csv"], cwd=elsewhere, env=env)
            rows.append((f"`ferhw3 predict` 200 sample faces, base install, {run}", f"{t:.1f} s"))
            print(rows[-1], flush=True)

        before = os.path.join(work, "before")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", before, args.before], check=True,
                       capture_output=True)
        env_old = {**env, "FERHW3_CACHE": os.path.join(work, "cache-old")}
        full_py = os.path.join(venvs["full"], "bin", "python")
        for run in ("cold (empty cache: converts through TensorFlow)", "warm"):
            t = timed([full_py, os.path.join(before, "predict.py"), SAMPLE, os.path.join(work, "old.csv")],
                      cwd=before, env=env_old)
            rows.append((f"predict.py at {args.before}, 200 sample faces, full install, {run}", f"{t:.1f} s"))
            print(rows[-1], flush=True)

        if os.path.exists(args.test):
            outs = {}
            for label, tree, run_env in (("this tree", ROOT, env), (args.before, before, env_old)):
                out = outs[label] = os.path.join(work, f"hw3-{len(outs)}.csv")
                run_env = {**run_env, "PYTHON": full_py}
                timed(["bash", os.path.join(tree, "hw3_test.sh"), args.test, out], env=run_env)  # warms the cache
                t = timed(["bash", os.path.join(tree, "hw3_test.sh"), args.test, out], env=run_env)
                rows.append((f"`hw3_test.sh` 7,178 test faces, {label}", f"{t:.1f} s"))
                print(rows[-1], flush=True)
            same = open(outs["this tree"]).read() == open(outs[args.before]).read()
            notes.append(f"hw3_test.sh labels of this tree and of {args.before}: {'identical' if same else 'DIFFERENT'}")
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", before], capture_output=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["git", "-C", ROOT, "worktree", "prune"], capture_output=True)

    text = "\n".join([
        "$ python bench/install.py " + " ".join(sys.argv[1:]),
        f"machine: {cpu_name()}; Python {platform.python_version()}; pip's cache as it was (it held every "
        "wheel of requirements.txt, so both installs copy and unpack rather than download)", "",
        "| what | measured |", "|---|---:|", *[f"| {a} | {b} |" for a, b in rows], "", *[f"- {n}" for n in notes], ""])
    print(text)
    write_text(args.results, text)


if __name__ == "__main__":
    main()
