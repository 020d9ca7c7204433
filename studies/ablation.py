#!/usr/bin/env python3
"""Ablation: the effect of input normalisation and of augmentation, same budget, same split.

    python studies/ablation.py TRAIN_CSV [--epochs 8] [--limit N]

Trains vgg-bn four times for the same epoch budget on the same stratified split (seed 0,
2,871 validation faces): full recipe, without augmentation, without input normalisation,
without both. Writes studies/results_ablation.md. Runs ~4 x epochs minutes on 2 cores.
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

VARIANTS = [
    ("full recipe (normalisation + augmentation)", ["--arch", "vgg-bn"]),
    ("no augmentation", ["--arch", "vgg-bn", "--set", "augment=false", "--set", "crop=0"]),
    ("no input normalisation", ["--arch", "vgg-bn-raw"]),
    ("neither", ["--arch", "vgg-bn-raw", "--set", "augment=false", "--set", "crop=0"]),
]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_csv")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--limit", type=int, default=0, help="use only the first N faces of TRAIN_CSV (a cheaper budget)")
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "ablation"))
    p.add_argument("--only", default="", help="comma-separated variant numbers (0-3) to run, default all")
    p.add_argument("--results", default=os.path.join(HERE, "results_ablation.md"))
    args = p.parse_args()
    rows = []
    chosen = [int(v) for v in args.only.split(",")] if args.only else range(len(VARIANTS))
    for i, (name, extra) in [(i, VARIANTS[i]) for i in chosen]:
        out = os.path.join(args.out, f"v{i}_e{args.epochs}.h5")
        cmd = [sys.executable, os.path.join(ROOT, "train_cnn.py"), args.train_csv, "--out", out,
               "--epochs", str(args.epochs), "--set", "warmup_epochs=1"] + extra
        if args.limit:
            cmd += ["--limit", str(args.limit), "--val-size", "0.1"]
        t = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        done = [l for l in r.stdout.splitlines() if l.startswith("DONE")]
        if r.returncode or not done:
            sys.exit(f"{name}: failed\n{r.stderr[-2000:]}")
        acc = float(done[-1].split("val_accuracy=")[1].split()[0])
        from ferhw3.runfiles import RunFiles

        train_acc = RunFiles(out).read_history()["accuracy"].iloc[-1]
        rows.append(f"| {name} | {' '.join(extra)} | {acc:.4f} | {train_acc:.4f} | {(time.time() - t) / 60:.1f} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        "$ python studies/ablation.py TRAIN_CSV " + " ".join(sys.argv[2:]),
        f"vgg-bn, {args.epochs} epochs each (cosine schedule), seed 0, "
        + (f"first {args.limit} faces of train, validation = 10% of them, stratified" if args.limit
           else "validation = 2,871 stratified faces of train"),
        "",
        "| variant | options | val accuracy | final train accuracy | minutes |",
        "|---|---|---:|---:|---:|", *rows])
    with open(args.results, "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
