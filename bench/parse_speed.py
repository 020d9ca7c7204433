#!/usr/bin/env python3
"""Benchmark: seconds to parse the 28,709-row FER2013 training CSV into uint8 arrays.

    python bench/parse_speed.py [--data ../shared/data/fer2013] [--baseline]

Times ferhw3.data.read.load_csv on the .gz file and on the plain CSV (gunzipped to a temporary
file first), each in a fresh Python process so allocator warm-up is counted, best of 3.
--baseline also times the plain csv-module + str.split loop for comparison.
Writes the printed table to bench/results_parse_speed.txt.
"""

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TIMED_LOAD = """
import time
t = time.perf_counter()
from ferhw3.data.read import load_csv
f = load_csv({path!r})
print(time.perf_counter() - t, len(f))
"""

TIMED_BASELINE = """
import csv, time, numpy as np
t = time.perf_counter()
with open({path!r}) as fh:
    r = csv.reader(fh); next(r)
    rows = [(int(a), [int(v) for v in b.split()]) for a, b in r]
x = np.array([p for _, p in rows], dtype=np.uint8).reshape(-1, 48, 48, 1)
print(time.perf_counter() - t, len(x))
"""


def best_of(code: str, n: int = 3) -> tuple[float, int]:
    runs = []
    for _ in range(n):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        runs.append((float(out[0]), int(out[1])))
    return min(runs)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013"))
    p.add_argument("--baseline", action="store_true", help="also time the csv-module loop (~25 s)")
    args = p.parse_args()
    gz = os.path.join(args.data, "train.csv.gz")
    tmp = tempfile.mkdtemp()
    plain = os.path.join(tmp, "train.csv")
    with gzip.open(gz) as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    lines = [f"machine: {os.cpu_count()} cores; best of 3 fresh processes; python {sys.version.split()[0]}"]
    for name, path in (("train.csv.gz (load_csv)", gz), ("train.csv plain (load_csv)", plain)):
        s, n = best_of(TIMED_LOAD.format(root=ROOT, path=path))
        lines.append(f"{name:34s} {n} rows  {s:6.2f} s")
    if args.baseline:
        s, n = best_of(TIMED_BASELINE.format(path=plain), n=1)
        lines.append(f"{'train.csv plain (csv + str.split)':34s} {n} rows  {s:6.2f} s")
    shutil.rmtree(tmp)
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(HERE, "results_parse_speed.txt"), "w") as f:
        f.write("$ python bench/parse_speed.py" + (" --baseline" if args.baseline else "") + "\n" + text + "\n")


if __name__ == "__main__":
    main()
