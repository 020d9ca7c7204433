#!/usr/bin/env python3
"""Accuracy per CPU-minute: each recipe gets the same wall-clock budget, side by side in one run.

    python bench/recipes.py TRAIN_CSV [--minutes 10] [--only 0,2]

For each recipe: train it with `train_cnn.py --minutes`, which measures its training speed
here (images/s, 30 batches of real faces) and sizes its epochs so that training, and its
learning-rate schedule, fits in the budget, on the usual split (2,871 validation faces,
stratified, seed 0); then record validation accuracy, minutes and images/s, each also as a ratio to the seed
report's VGG recipe (float32, batch 128, Adam), which always runs first.
Writes studies/results_recipes.md. Takes about (number of recipes) x --minutes.
"""

import argparse
import os
import subprocess
import sys
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")

# (what it is, the recipe of ferhw3/train/recipes.py, its --set overrides)
RECIPES = [
    ("seed report VGG (Adam, plateau, 48px)", "seed-vgg", []),
    ("vgg-bn, default recipe (dropout x0.5, no shift)", "vgg-bn", []),
    ("vgg-bn, full dropout and shifts", "vgg-bn", ["dropout=1", "shift=0.1"]),
    ("vgg-bn-wide, default recipe", "vgg-bn", ["arch=vgg-bn-wide"]),
    ("vgg-bn, default recipe in mixed_bfloat16", "vgg-bn", ["precision=mixed_bfloat16"]),
    ("vgg-bn-deep (1-2-3-3 convolutions)", "vgg-bn", ["arch=vgg-bn-deep"]),
    ("vgg-bn-deep-wide (32-64-160-320, 1-2-3-3), mixed_bfloat16", "one-hour", []),
]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_csv")
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per recipe")
    p.add_argument("--only", default="", help="comma-separated recipe numbers besides 0 (the seed VGG)")
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "recipes"))
    p.add_argument("--results", default=os.path.join(HERE, "results_recipes.md"))
    args = p.parse_args()
    cli.quiet_tensorflow()
    chosen = sorted({0, *(int(i) for i in args.only.split(",") if i)}) if args.only else range(len(RECIPES))
    rows, base = [], None
    for i in chosen:
        name, recipe, sets = RECIPES[i]
        extra = ["--recipe", recipe] + [a for s in sets for a in ("--set", s)]
        # train_cnn.py --minutes measures the recipe's speed here and sizes its epochs (and so its
        # learning-rate schedule) to the budget; early stopping is off so every recipe uses it all
        out = os.path.join(args.out, f"r{i}.h5")
        cmd = [sys.executable, os.path.join(ROOT, "train_cnn.py"), args.train_csv, "--out", out,
               "--minutes", str(args.minutes), "--set", "patience=100000"] + extra
        t = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        minutes = (time.time() - t) / 60
        done = [line for line in r.stdout.splitlines() if line.startswith("DONE")]
        budget = [line for line in r.stdout.splitlines() if line.startswith("budget: ")]
        if r.returncode or not done or not budget:
            sys.exit(f"{name}: training failed\n{r.stderr[-2000:]}")
        acc = float(done[-1].split("val_accuracy=")[1].split()[0])
        ips = float(budget[-1].split(" at ")[1].split()[0])
        epochs = int(budget[-1].split("-> ")[1].split()[0])
        base = base or (ips, acc)
        rows.append(f"| {name} | {' '.join(extra)} | {ips:.0f} | {ips / base[0]:.2f}x | {epochs} "
                    f"| {minutes:.1f} | {acc:.4f} | {acc / base[1]:.2f}x |")
        print(rows[-1], flush=True)
    table = "\n".join([
        "$ python bench/recipes.py TRAIN_CSV " + " ".join(sys.argv[2:]),
        f"{os.cpu_count()} CPU cores; budget {args.minutes:g} min of training per recipe (epochs sized from the "
        "measured speed); validation = 2,871 faces of train (stratified, seed 0)",
        "",
        "| recipe | options | training images/s | vs seed | epochs | minutes (incl. start-up) | val accuracy "
        "| vs seed |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])
    with open(args.results, "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
