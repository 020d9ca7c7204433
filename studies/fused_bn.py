#!/usr/bin/env python3
"""Does the fused batch-norm kernel train as fast per epoch and as well? Side by side.

    python studies/fused_bn.py [--data TRAIN] [--epochs 6] [--out runs/fused]

Trains the one-hour recipe for `--epochs` epochs twice, one run after the other on this
machine, with Keras's batch norm (`--set fused_bn=false`) and with TensorFlow's fused kernel
(the default), same seed; then compares the histories epoch by epoch: validation accuracy
(the project's split) and minutes. Runs are resumed (`--resume`), so an interrupted
benchmark continues and a finished one only rereads its histories.
Writes studies/results_fused_bn.md.
"""

import argparse
import os
import subprocess
import sys
import time

import pandas as pd

from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "studies")
DATA = os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DATA)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "fused"))
    p.add_argument("--results", default=os.path.join(HERE, "results_fused_bn.md"))
    args = p.parse_args()
    runs = {}
    for fused in ("false", "true"):
        out = os.path.join(args.out, f"fused_bn_{fused}.h5")
        cmd = [sys.executable, os.path.join(ROOT, "train_cnn.py"), args.data, "--recipe", "one-hour", "--epochs",
               str(args.epochs), "--set", f"fused_bn={fused}", "--out", out, "--resume"]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        runs[fused] = pd.read_csv(out.replace(".h5", ".history.csv"))
    a, b = runs["false"], runs["true"]
    n = min(len(a), len(b))
    faces = pd.read_json(os.path.join(args.out, "fused_bn_true.config.json"), typ="series")["n_train"]
    rows = [f"$ python studies/fused_bn.py --epochs {args.epochs}",
            f"{os.cpu_count()} CPU cores; {time.strftime('%Y-%m-%d')}; the one-hour recipe (vgg-bn-deep-wide, "
            f"mixed_bfloat16, batch 128), {faces:,} training faces, validation on the project's split (2,871 faces), "
            "seed 0; Keras's batch norm first, then the fused kernel", "",
            "| epoch | val accuracy, Keras batch norm | val accuracy, fused | training accuracy, Keras | "
            "training accuracy, fused | minutes, Keras | minutes, fused |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for e in range(n):
        rows.append(f"| {e + 1} | {a.val_accuracy[e]:.4f} | {b.val_accuracy[e]:.4f} | {a.accuracy[e]:.4f} | "
                    f"{b.accuracy[e]:.4f} | {a.minutes[e]:.2f} | {b.minutes[e]:.2f} |")
    # the first epoch holds tracing and kernel selection: compare the steady epochs
    per_a = (a.minutes[n - 1] - a.minutes[0]) / max(n - 1, 1)
    per_b = (b.minutes[n - 1] - b.minutes[0]) / max(n - 1, 1)
    rows += ["", f"Epochs 2-{n}: {per_a * 60:.1f} s an epoch with Keras's batch norm ({faces / (per_a * 60):.0f} "
             f"faces/s, validation included), {per_b * 60:.1f} s fused ({faces / (per_b * 60):.0f} faces/s): "
             f"{per_a / per_b:.2f}x. Best validation accuracy {a.val_accuracy[:n].max():.4f} against "
             f"{b.val_accuracy[:n].max():.4f}; the mean absolute difference per epoch "
             f"{(a.val_accuracy[:n] - b.val_accuracy[:n]).abs().mean():.4f}."]
    text = "\n".join(rows) + "\n"
    print(text)
    with open(args.results + ".tmp", "w") as f:
        f.write(text)
    os.replace(args.results + ".tmp", args.results)


if __name__ == "__main__":
    main()
