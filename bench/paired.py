#!/usr/bin/env python3
"""Paired comparison of models on the same validation faces: is a gain more than noise?

    python bench/paired.py BASELINE.h5 MODEL.h5 [MODEL.h5 ...] [--tta none,center] [--results FILE]

Every model predicts the validation split recorded in the baseline's .config.json (seed 0,
2,871 faces for this project's models). For each model against the baseline: accuracy, the
faces only it gets right and only the baseline gets right, and the exact McNemar p-value
(two-sided binomial test on those discordant faces). On 2,871 faces one model's accuracy has
a standard error of about 0.9 points, but two models that start from the same weights are
right and wrong on mostly the same faces, so a paired test sees smaller differences.
"""

import argparse
import os
import sys

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("baseline")
    p.add_argument("models", nargs="+")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz"))
    p.add_argument("--tta", default="none,center", help="TTA modes (comma-separated)")
    p.add_argument("--results", help="also write the table to this file")
    args = p.parse_args()
    from ferhw3.infer.evaluate import paired, split_of, validation_faces
    from ferhw3.infer.predict import predict_proba

    x, y, va, (seed, _) = validation_faces(args.data, args.baseline)
    for m in args.models:  # each one must have held these faces out (SeenFaces otherwise)
        split_of(m)
    rows = []
    for tta in args.tta.split(","):
        right = {m: predict_proba([cli.load_model(m)], x, tta=tta).argmax(1) == y
                 for m in [args.baseline, *args.models]}
        base = right[args.baseline]
        rows.append(f"| {args.baseline} | {tta} | {base.mean():.4f} | | | | |")
        for m in args.models:
            only_m, only_b, p_value = paired(right[m], base)
            rows.append(f"| {m} | {tta} | {right[m].mean():.4f} | {100 * (right[m].mean() - base.mean()):+.2f} "
                        f"| {only_m} | {only_b} | {p_value:.3f} |")
            print(rows[-1], flush=True)
    table = "\n".join(["$ python bench/paired.py " + " ".join(sys.argv[1:]),
                       f"validation split: {len(va)} faces of train (stratified, seed {seed}); "
                       "baseline first, then each model against it", "",
                       "| model | TTA | val accuracy | points vs baseline | right only here | right only in baseline "
                       "| McNemar p |", "|---|---|---:|---:|---:|---:|---:|", *rows])
    print(table)
    if args.results:
        from ferhw3.runfiles import write_text

        write_text(args.results, table + "\n")


if __name__ == "__main__":
    main()
