#!/usr/bin/env python3
"""Which ensemble to ship: greedy forward selection of (model, TTA) members on the
validation faces, each member's contribution tested by McNemar, and the cost in seconds.

    python bench/ensemble.py MODEL.h5 [...] [--tta none,center,crops] [--select-tta center] \
        [--base MODEL.h5:TTA:COUNT] \
        [--results studies/results_ensemble.md]

Every model must have held the project's split out (ferhw3.infer.evaluate.split_of refuses one
that trained on it). A member is one model with one TTA mode (its views averaged); the
ensemble is the mean of its members' probabilities. Selection starts from the best member
and adds, one at a time, the member (of a model not yet in) that raises the accuracy most,
until none raises it. The faces it is measured on are the faces it was chosen on, so the
chosen ensemble's figure is optimistic; the McNemar tests (each member against the ensemble
without it; the chosen models with each TTA mode for all) are paired on those faces too.

Seconds are the prediction engine's (OpenVINO unless FERHW3_ENGINE=keras) for the
validation faces, scaled to the 7,178 test faces; they include nothing else of a
`hw3_test.sh` run (start-up, reading the CSV), and move with whatever else runs: a cached
member keeps the seconds of the run that first computed it, so compare a column's rows only
when one run computed them all (`--cache ''`).
"""

import argparse
import os
import sys
import time

import numpy as np

from ferhw3.infer.manifest import ROOT

TEST_FACES = 7178


def member_probs(paths, x, modes, cache=None):
    """{(path, tta): (probabilities, seconds)} for every model and TTA mode; with `cache` (a
    folder), kept there per model file (name, size, modification time) and mode, and reused."""
    from ferhw3.infer.predict import load_predictors, predict_proba

    out = {}
    for path in paths:
        for tta in modes:
            st = os.stat(path)
            saved = cache and os.path.join(cache, f"{os.path.basename(path)}.{st.st_size}.{int(st.st_mtime)}.{tta}.npz")
            if saved and os.path.exists(saved):
                with np.load(saved) as f:
                    out[path, tta] = f["probs"], float(f["seconds"])
                continue
            try:
                model = load_predictors([path], tta)[0]
            except Exception as e:  # a whole-face-only model cannot take window TTA
                print(f"skip {os.path.basename(path)} {tta}: {e}", flush=True)
                continue
            predict_proba([model], x[:64], tta=tta)  # the first call compiles: not part of the cost
            start = time.perf_counter()
            out[path, tta] = predict_proba([model], x, tta=tta), time.perf_counter() - start
            print(f"{os.path.basename(path)} {tta}: {out[path, tta][1]:.1f} s", flush=True)
            if saved:
                os.makedirs(cache, exist_ok=True)
                np.savez(saved + ".tmp.npz", probs=out[path, tta][0], seconds=out[path, tta][1])
                os.replace(saved + ".tmp.npz", saved)
    return out


def greedy(probs, y, base=None, count=0, modes=None):
    """Forward selection: [(member, accuracy of the ensemble with it)], one model at most once,
    starting from `base` (a member standing for `count` equal members) when given, among
    members with a TTA mode in `modes` (all when None)."""
    total = count * probs[base][0] if base else 0
    used = {base[0]} if base else set()
    trail, best = [], np.mean(total.argmax(1) == y) if base else -1.0
    while True:
        scores = {k: np.mean((total + probs[k][0]).argmax(1) == y) for k in probs
                  if k[0] not in used and (modes is None or k[1] in modes)}
        if not scores:
            return trail
        k = max(scores, key=scores.get)
        if scores[k] <= best:
            return trail
        total, best = total + probs[k][0], scores[k]
        used.add(k[0])
        trail.append((k, float(best)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz"))
    p.add_argument("--tta", default="none,center,crops", help="TTA modes a member may use (comma-separated)")
    p.add_argument("--select-tta", help="choose only members with these TTA modes (comma-separated; default: "
                   "any of --tta); the others are still measured (hw3_test.sh uses one mode for all its models)")
    p.add_argument("--base", help="MODEL.h5:TTA:COUNT, a member standing for COUNT equal members already in the "
                   "ensemble (for the shipped networks, whose split-trained twins are not kept: the model distilled "
                   "from them); selection adds to it, and the ensemble is tested against it")
    p.add_argument("--results", help="also write the tables to this file")
    p.add_argument("--cache", default=os.path.join(ROOT, "runs", "ensemble_probs"),
                   help="folder keeping each member's probabilities for the next run ('' for none)")
    args = p.parse_args()

    from ferhw3.infer.evaluate import paired, split_of, validation_faces

    x, y, va, split = validation_faces(args.data, args.models[0])
    seed = split[0]
    for m in args.models[1:]:
        if split_of(m) != split:  # its validation faces are not these: it trained on most of them
            sys.exit(f"{m}: held out another split (seed {split_of(m)[0]}) than {args.models[0]} (seed {seed}); "
                     f"members are compared on one split")
    modes = args.tta.split(",")
    base, count = None, 0
    if args.base:
        path, tta, n = args.base.rsplit(":", 2)
        if split_of(path) != split:
            sys.exit(f"{path}: held out another split (seed {split_of(path)[0]}) than {args.models[0]} (seed {seed})")
        base, count = (path, tta), int(n)
    paths = args.models + ([base[0]] if base and base[0] not in args.models else [])
    probs = member_probs(paths, x, sorted(set(modes) | ({base[1]} if base else set())), args.cache)
    name = lambda k: f"{os.path.basename(k[0])} ({k[1]})"  # noqa: E731
    scale = TEST_FACES / len(y)

    lines = [f"$ python bench/ensemble.py {' '.join(sys.argv[1:])}",
             f"validation split: {len(va)} faces of train (stratified, seed {seed}); seconds scaled to "
             f"{TEST_FACES} faces" + (", each when first computed (cached)" if args.cache else ""),
             "", "Every member alone:", "",
             "| member | accuracy | s per 7,178 faces |", "|---|---:|---:|"]
    for k, (pr, sec) in sorted(probs.items(), key=lambda kv: -np.mean(kv[1][0].argmax(1) == y)):
        lines.append(f"| {name(k)} | {np.mean(pr.argmax(1) == y):.4f} | {sec * scale:.1f} |")

    trail = greedy(probs, y, base, count, args.select_tta.split(",") if args.select_tta else None)
    chosen = [k for k, _ in trail]
    total = count * probs[base][0] if base else 0
    total = total + sum(probs[k][0] for k in chosen)
    right = total.argmax(1) == y
    lines += ["", "Greedy forward selection (chosen on these faces: optimistic):", "",
              "| step | adds | ensemble accuracy | s per 7,178 faces (sum) |", "|---:|---|---:|---:|"]
    spent = 0.0
    if base:
        spent = count * probs[base][1] * scale
        lines.append(f"| 0 | {name(base)} standing for {count} | {np.mean(probs[base][0].argmax(1) == y):.4f} "
                     f"| {spent:.1f} |")
    for i, (k, acc) in enumerate(trail, 1):
        spent += probs[k][1] * scale
        lines.append(f"| {i} | {name(k)} | {acc:.4f} | {spent:.1f} |")

    lines += ["", "Each member against the chosen ensemble without it (McNemar, exact):", "",
              "| member | without it | with it | right only with | right only without | p |",
              "|---|---:|---:|---:|---:|---:|"]
    members = ([base] if base else []) + chosen
    for k in members if len(members) > 1 else []:
        rest = (total - (count if k == base else 1) * probs[k][0]).argmax(1) == y
        a, b, pv = paired(right, rest)
        lines.append(f"| {name(k)} | {rest.mean():.4f} | {right.mean():.4f} | {a} | {b} | {pv:.3g} |")
    lines += ["", "The chosen models with one TTA mode for all, against the chosen ensemble (McNemar, exact):", "",
              "| TTA | accuracy | chosen ensemble | right only with this | right only with the chosen | p |",
              "|---|---:|---:|---:|---:|---:|"]
    for mode in modes:
        keys = [(path, mode) for path, _ in members]
        if not all(k in probs for k in keys):
            continue
        weights = [count if k == base else 1 for k in members]
        other = sum(w * probs[k][0] for w, k in zip(weights, keys)).argmax(1) == y
        a, b, pv = paired(other, right)
        lines.append(f"| {mode} | {other.mean():.4f} | {right.mean():.4f} | {a} | {b} | {pv:.3g} |")
    if base:
        a, b, pv = paired(right, probs[base][0].argmax(1) == y)
        lines += ["", f"The chosen ensemble against {name(base)} alone: right only with the ensemble {a}, only "
                      f"without it {b}, McNemar p {pv:.3g}"]
    lines += ["", "Each model with another TTA mode against its centre window (McNemar, exact):", "",
              "| model | TTA | accuracy | centre | right only with this | right only with centre | p |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for path in paths:
        if (path, "center") not in probs:
            continue
        centre = probs[path, "center"][0].argmax(1) == y
        for mode in (m for m in modes if m != "center" and (path, m) in probs):
            other = probs[path, mode][0].argmax(1) == y
            a, b, pv = paired(other, centre)
            lines.append(f"| {os.path.basename(path)} | {mode} | {other.mean():.4f} | {centre.mean():.4f} | {a} | {b} "
                         f"| {pv:.3g} |")
    table = "\n".join(lines)
    print(table)
    if args.results:
        from ferhw3.runfiles import write_text

        write_text(args.results, table + "\n")


if __name__ == "__main__":
    main()
