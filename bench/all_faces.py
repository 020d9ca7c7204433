#!/usr/bin/env python3
"""What training on all the labelled faces does, measured by twins on the split.

    python bench/all_faces.py --split runs/shipped --twins runs/all [--results bench/results_all_faces.md]

The shipped members are continued for a few epochs on all 28,709 faces (train_shipped.sh,
stages 7-11), so they cannot be measured on the 2,871 validation faces. Each has a twin:
the same continuation of the same split-trained start on the 25,838 training faces only.
The twin against its start shows what the continuation's epochs do by themselves; what
the 2,871 faces add on top of that cannot be measured on the split, only on the test set.

For each member: start and twin accuracy (no TTA and centre TTA, from float16 copies, as
shipped) and the exact McNemar p-value of twin against start; then the ensembles of the
starts and of the twins (centre TTA, as hw3_test.sh predicts), each ensemble without each
member, and the distilled single models: the split one (taught by the starts) and its
twin (taught by the twins).
"""

import argparse
import os
import sys
import tempfile

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

MEMBERS = ("vgg-bn-deep-wide_300ep-erase", "vgg-bn-deep-wide_300ep", "vgg-bn_60ep", "vgg-bn_60ep_continued40")
DISTILLED = "vgg-bn-deep-wide_300ep-erase_distilled"
TWIN = "{}_twin8.h5"          # the twins' names in --twins
TWIN_DISTILLED = "distilled_twin8.h5"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default=os.path.join(ROOT, "runs", "shipped"),
                   help="folder of the split-trained models (train_shipped.sh stages 1-5)")
    p.add_argument("--twins", default=os.path.join(ROOT, "runs", "all"), help="folder of the twins")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz"))
    p.add_argument("--results", help="also write the tables to this file")
    p.add_argument("--json", help="also write the accuracies to this file (for models/manifest.json)")
    args = p.parse_args()
    cli.quiet_tensorflow()
    import numpy as np

    from ferhw3.infer.compact import halve_h5
    from ferhw3.infer.evaluate import paired as paired_counts, validation_faces
    from ferhw3.infer.predict import predict_proba

    starts = {m: os.path.join(args.split, m + ".h5") for m in MEMBERS + (DISTILLED,)}
    twins = {m: os.path.join(args.twins, TWIN.format(m)) for m in MEMBERS}
    twins[DISTILLED] = os.path.join(args.twins, TWIN_DISTILLED)
    x, y, va, (seed, _) = validation_faces(args.data, starts[MEMBERS[0]])
    probs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, paths in (("start", starts), ("twin", twins)):
            for m, path in paths.items():
                half = os.path.join(tmp, f"{kind}_{m}.h5")
                halve_h5(path, half)  # measured as shipped: float16 weights
                model = cli.load_model(half)
                probs[kind, m] = {tta: predict_proba([model], x, tta=tta) for tta in ("none", "flip", "center")}
                print(f"{kind} {m}: {np.mean(probs[kind, m]['none'].argmax(1) == y):.4f}", flush=True)

    def right(p):
        return p.argmax(1) == y

    def paired(a, b):
        only_b, only_a, p = paired_counts(b, a)
        return f"{100 * (b.mean() - a.mean()):+.2f} | {only_b} / {only_a} | {p:.3f}"

    lines = ["$ python bench/all_faces.py " + " ".join(sys.argv[1:]),
             f"validation split: {len(va)} faces of train (stratified, seed {seed}); float16 weights, as shipped; "
             "twin = 8 epochs continued on the training part (the all-faces members' schedule)", "",
             "| model | start | twin | start, centre TTA | twin, centre TTA | twin - start (centre) "
             "| right only in twin / only in start | McNemar p |", "|---|---:|---:|---:|---:|---:|---|---:|"]
    for m in MEMBERS + (DISTILLED,):
        s, t = probs["start", m], probs["twin", m]
        lines.append(f"| {m} | {right(s['none']).mean():.4f} | {right(t['none']).mean():.4f} | "
                     f"{right(s['center']).mean():.4f} | {right(t['center']).mean():.4f} | "
                     f"{paired(right(s['center']), right(t['center']))} |")
    lines += ["", "Ensembles (mean probabilities, centre TTA, as hw3_test.sh):", "",
              "| ensemble | starts | twins | twins - starts | right only in twins / only in starts | McNemar p |",
              "|---|---:|---:|---:|---|---:|"]

    def ensemble(kind, members):
        return right(np.mean([probs[kind, m]["center"] for m in members], axis=0))

    full = {k: ensemble(k, MEMBERS) for k in ("start", "twin")}
    lines.append(f"| all four | {full['start'].mean():.4f} | {full['twin'].mean():.4f} | "
                 f"{paired(full['start'], full['twin'])} |")
    for m in MEMBERS:
        rest = [o for o in MEMBERS if o != m]
        a, b = ensemble("start", rest), ensemble("twin", rest)
        lines.append(f"| without {m} | {a.mean():.4f} | {b.mean():.4f} | {paired(a, b)} |")
    lines += ["", "What each part adds (twins, centre TTA; p: McNemar of the row against the column named):", "",
              "| step | accuracy | against | points | right only in row / only in the other | McNemar p |",
              "|---|---:|---|---:|---|---:|"]
    best = max(MEMBERS, key=lambda m: right(probs["twin", m]["center"]).mean())
    best_right = right(probs["twin", best]["center"])
    lines.append(f"| ensemble of the four twins | {full['twin'].mean():.4f} | best twin ({best}) | "
                 f"{paired(best_right, full['twin'])} |")
    for m in MEMBERS:
        rest = ensemble("twin", [o for o in MEMBERS if o != m])
        lines.append(f"| adding {m} to the other three | {full['twin'].mean():.4f} | the other three | "
                     f"{paired(rest, full['twin'])} |")
    kd = right(probs["twin", DISTILLED]["center"])
    lines.append(f"| distilled twin (one network) | {kd.mean():.4f} | its start, the twin of "
                 f"{MEMBERS[0]} | {paired(right(probs['twin', MEMBERS[0]]['center']), kd)} |")
    lines.append(f"| distilled twin (one network) | {kd.mean():.4f} | ensemble of the four twins | "
                 f"{paired(full['twin'], kd)} |")
    table = "\n".join(lines)
    print(table)
    if args.json:
        import json

        figures = {f"{kind}:{m}": {tta: round(float(right(p).mean()), 4) for tta, p in by_tta.items()}
                   for (kind, m), by_tta in probs.items()}
        figures["ensemble"] = {k: round(float(v.mean()), 4) for k, v in full.items()}
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    if args.results:
        with open(args.results, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
