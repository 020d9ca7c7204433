#!/usr/bin/env python3
"""What a new ensemble member adds: each candidate alone, the base models alone, and the
base with the candidate (mean probabilities), on the validation faces, paired.

    python bench/member_gain.py --base models/A.h5 [--base B.h5 ...] CANDIDATE.h5 [...] \
        [--tta none,center,crops] [--results studies/results_member_gain.md]

Every model must have held the project's split out (ferhw3.infer.evaluate.split_of refuses one
that trained on it). Per TTA: accuracy of the base, of each candidate, of base + candidate,
how often the candidate and the base agree (lower: more diverse), and the exact McNemar p of
base + candidate against the base (the faces only one of them gets right).
"""

import argparse
import os
import sys

from ferhw3 import cli  # noqa: F401  sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("candidates", nargs="+")
    p.add_argument("--base", action="append", required=True, help="a model of the ensemble as it is (repeatable)")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz"))
    p.add_argument("--tta", default="none,center,crops", help="TTA modes (comma-separated)")
    p.add_argument("--results", help="also write the table to this file")
    args = p.parse_args()
    import numpy as np

    from ferhw3.infer.evaluate import paired, split_of, validation_faces
    from ferhw3.infer.predict import predict_proba

    x, y, va, split = validation_faces(args.data, args.base[0])
    seed = split[0]
    for m in args.base[1:] + args.candidates:
        if split_of(m) != split:  # its validation faces are not these: it trained on most of them
            sys.exit(f"{m}: held out another split (seed {split_of(m)[0]}) than {args.base[0]} (seed {seed}); "
                     f"members are compared on one split")
    models = {m: cli.load_model(m) for m in args.base + args.candidates}
    rows = []
    for tta in args.tta.split(","):
        probs = {m: predict_proba([model], x, tta=tta) for m, model in models.items()}
        base = np.mean([probs[m] for m in args.base], axis=0)
        base_right = base.argmax(1) == y
        for c in args.candidates:
            both = (len(args.base) * base + probs[c]) / (len(args.base) + 1)
            right = both.argmax(1) == y
            only_new, only_base, p = paired(right, base_right)
            rows.append(f"| {os.path.basename(c)} | {tta} | {np.mean(probs[c].argmax(1) == y):.4f} | "
                        f"{base_right.mean():.4f} | {right.mean():.4f} | {100 * (right.mean() - base_right.mean()):+.2f} "
                        f"| {np.mean(probs[c].argmax(1) == base.argmax(1)):.3f} | {only_new} | {only_base} "
                        f"| {p:.3g} |")
            print(rows[-1], flush=True)
    table = "\n".join(["$ python bench/member_gain.py " + " ".join(sys.argv[1:]),
                       f"validation split: {len(va)} faces of train (stratified, seed {seed}); base: "
                       f"{' + '.join(os.path.basename(b) for b in args.base)}", "",
                       "| candidate | TTA | candidate alone | base | base + candidate | points | agreement with base "
                       "| right only with it | right only without | McNemar p |",
                       "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|", *rows])
    print(table)
    if args.results:
        from ferhw3.runfiles import write_text

        write_text(args.results, table + "\n")


if __name__ == "__main__":
    main()
