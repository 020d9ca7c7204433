#!/usr/bin/env python3
"""Validation accuracy of the shipped models, alone and as ensembles, with each TTA mode.

    python bench/val_accuracy.py [--data ../shared/data/fer2013/train.csv.gz] [--model PATH ...]

Uses the validation split recorded in the first model's .config.json (seed 0, 2,871
faces for the shipped models): faces none of these models trained on. Also times
hw3_test-style prediction of those faces (an ensemble's seconds: the sum of its
members'). Writes bench/results_val_accuracy.md (or --results).
"""

import argparse
import itertools
import os
import sys
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz"))
    p.add_argument("--model", action="append")
    p.add_argument("--tta", default="none,flip,center,crops", help="TTA modes to compare (comma-separated)")
    p.add_argument("--max-size", type=int, default=0, help="largest ensemble to list (default: all the models)")
    p.add_argument("--ensemble", action="append", default=[],
                   help="also list this ensemble: comma-separated file names of --model paths (repeatable)")
    p.add_argument("--results", default=os.path.join(HERE, "results_val_accuracy.md"), help="where to write the table")
    args = p.parse_args()
    from ferhw3.infer import manifest

    # the shipped CNNs that can be measured here: those that never trained on the validation faces
    paths = args.model or [os.path.join(manifest.MODELS_DIR, e) for e in manifest.entries()
                           if "dnn" not in e and not manifest.saw_validation_faces(os.path.join(manifest.MODELS_DIR, e))]
    import numpy as np

    from ferhw3.infer.evaluate import split_of, validation_faces
    from ferhw3.infer.predict import predict_proba

    x, y, va, (seed, _) = validation_faces(args.data, paths[0])
    for m in paths[1:]:  # each one must have held these faces out (SeenFaces otherwise)
        split_of(m)
    models = {os.path.basename(m): cli.load_model(m) for m in paths}
    ttas = args.tta.split(",")
    # Each model's probabilities once per TTA mode: an ensemble's prediction is the mean of
    # its members' (predict_proba weighs every model and view alike), and its time the sum.
    probs, seconds = {}, {}
    for name, model in models.items():
        for tta in ttas:
            t = time.perf_counter()
            probs[name, tta] = predict_proba([model], x, tta=tta)
            seconds[name, tta] = time.perf_counter() - t
    rows = []
    combos = [c for k in range(1, (args.max_size or len(models)) + 1) for c in itertools.combinations(models, k)]
    for e in args.ensemble:
        unknown = set(e.split(",")) - set(models)
        if unknown:
            p.error(f"--ensemble {e}: {', '.join(sorted(unknown))} not among the --model file names")
        if tuple(e.split(",")) not in combos:
            combos.append(tuple(e.split(",")))
    for combo in combos:
        for tta in ttas:
            mean = np.mean([probs[c, tta] for c in combo], axis=0)
            acc = float(np.mean(mean.argmax(1) == y))
            secs = sum(seconds[c, tta] for c in combo)
            rows.append(f"| {' + '.join(combo)} | {tta} | {acc:.4f} | {secs:.1f} |")
            print(rows[-1], flush=True)
    table = "\n".join(["$ python bench/val_accuracy.py " + " ".join(sys.argv[1:]),
                       f"validation split: {len(va)} faces of train (stratified, seed {seed})", "",
                       "| models | TTA | val accuracy | seconds to predict |", "|---|---|---:|---:|", *rows])
    with open(args.results, "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
