#!/usr/bin/env python3
"""Repeatability and resume: same seed twice, and a run killed with SIGKILL then resumed.

    python bench/repeatability.py TRAIN_CSV [--limit 6000] [--epochs 4]

Three runs of train_cnn.py on the first --limit faces (10% held out, stratified, seed 0):
A and B uninterrupted with the same seed; C killed (kill -9) after its epoch 2 checkpoint
and continued with --resume. Prints the three validation accuracies and writes
bench/results_repeatability.md.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def accuracy(stdout: str) -> float:
    line = [l for l in stdout.splitlines() if l.startswith("DONE")][-1]
    return float(line.split("val_accuracy=")[1].split()[0])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_csv")
    p.add_argument("--limit", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "repeat"))
    args = p.parse_args()
    base = [sys.executable, os.path.join(ROOT, "train_cnn.py"), args.train_csv, "--limit", str(args.limit),
            "--val-size", "0.1", "--epochs", str(args.epochs), "--set", "warmup_epochs=1"]
    shutil.rmtree(args.out, ignore_errors=True)  # a stale checkpoint would be resumed or killed at once
    acc = {}
    for name in ("A", "B"):
        r = subprocess.run(base + ["--out", os.path.join(args.out, f"{name}.h5")], capture_output=True, text=True)
        acc[name] = accuracy(r.stdout)
        print(name, acc[name], flush=True)
    out_c = os.path.join(args.out, "C.h5")
    proc = subprocess.Popen(base + ["--out", out_c], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from ferhw3.runfiles import RunFiles

    run_c = RunFiles(out_c)
    while run_c.checkpoint_epoch() < 2:
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = run_c.checkpoint_epoch()
    r = subprocess.run(base + ["--out", out_c, "--resume"], capture_output=True, text=True)
    acc["C"] = accuracy(r.stdout)
    print("C", acc["C"], flush=True)
    text = "\n".join([
        "$ python bench/repeatability.py TRAIN_CSV " + " ".join(sys.argv[2:]),
        f"vgg-bn, first {args.limit} faces, 10% validation (stratified, seed 0), {args.epochs} epochs, 2 CPU cores", "",
        "| run | validation accuracy |", "|---|---:|",
        f"| A: seed 0 | {acc['A']:.4f} |", f"| B: seed 0 again | {acc['B']:.4f} |",
        f"| C: seed 0, kill -9 after epoch {killed_after}, then --resume | {acc['C']:.4f} |", "",
        f"|A - B| = {abs(acc['A'] - acc['B']) * 100:.2f} points; |A - C| = {abs(acc['A'] - acc['C']) * 100:.2f} points"])
    with open(os.path.join(HERE, "results_repeatability.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
