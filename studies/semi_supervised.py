#!/usr/bin/env python3
"""The homework's semi-supervised bonus: keep 10%, 25%, 50% of the labels, self-train on the rest.

    python studies/semi_supervised.py TRAIN_CSV [--fractions 0.1,0.25,0.5] [--epochs 12]
        [--self-train-epochs 5] [--threshold 0.7] [--cap prior] [--limit N]

For each fraction f: a stratified, seeded subset of the training part keeps its labels and
the rest of the training part becomes unlabelled. The same vgg-bn recipe then trains

  * supervised: on the labelled subset only, for --epochs / f epochs: every fraction gets
    the same number of optimiser steps, as many as --epochs epochs on all the labels;
  * self-trained: from that supervised model, --rounds rounds of pseudo-labelling the
    unlabelled faces (threshold and per-class cap) and fine-tuning on labelled +
    pseudo-labelled faces for as many images as --self-train-epochs epochs of the whole
    training part (again the same compute whatever f);

  * control: the same fine-tuning from the supervised model, with no pseudo-labels (so
    a gain of self-training over it is the pseudo-labels' doing, not the extra steps);

plus one supervised run on all the labels (f = 1), the ceiling. Validation is the same
held-out labelled split for every run (10% of TRAIN_CSV, stratified, seed 0), never
pseudo-labelled. Prints and writes a markdown table (studies/results_semi_supervised.md) and
a plot (reports/semi_supervised.png).

Resumable: each finished arm is stored in OUT/results.json and skipped on the next start,
and an interrupted supervised arm continues from its checkpoint. Run it in the background:

    nohup python studies/semi_supervised.py TRAIN_CSV > runs/semi.log 2>&1 &
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import time

from ferhw3.infer.manifest import ROOT  # noqa: E402

HERE = os.path.join(ROOT, "studies")

from ferhw3 import cli  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_csv")
    p.add_argument("--fractions", default="0.1,0.25,0.5", help="label fractions to keep (comma-separated)")
    p.add_argument("--epochs", type=int, default=12, help="supervised budget, in epochs of all the labels")
    p.add_argument("--self-train-epochs", type=int, default=5,
                   help="fine-tuning budget per round, in epochs of the whole training part")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--threshold", type=float, default=0.7)
    p.add_argument("--cap", default="prior", help="per-class cap: a number x labelled count, 0, or 'prior'")
    p.add_argument("--soft", action="store_true",
                   help="soft pseudo-labels: aligned probability vectors instead of capped hard labels")
    p.add_argument("--agree", action="store_true",
                   help="consistency filtering: only faces whose ten test-time views agree are pseudo-labelled")
    p.add_argument("--mean-teacher", type=float, default=0, metavar="WEIGHT",
                   help="instead of pseudo-labels: mean-teacher fine-tuning with this consistency weight "
                        "(ferhw3/train/meanteacher.py; same steps and labelled batches as the control)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N faces of TRAIN_CSV (a cheaper budget)")
    p.add_argument("--out", default=os.path.join(ROOT, "runs", "semi"))
    p.add_argument("--results", default=os.path.join(HERE, "results_semi_supervised.md"))
    p.add_argument("--plot", default=os.path.join(ROOT, "reports", "semi_supervised.png"))
    return p.parse_args()


def label_subset(y_train, fraction: float, seed: int = 0):
    """Positions (within the training part) that keep their labels: stratified, seeded."""
    import numpy as np

    from ferhw3.data.read import stratified_split

    if fraction >= 1:
        return np.arange(len(y_train))
    _, keep = stratified_split(y_train, fraction, seed)
    return keep


def main():
    args = parse_args()
    cli.quiet_tensorflow()
    import dataclasses
    import shutil

    import keras
    import numpy as np

    from ferhw3.data.read import CLASS_NAMES, load_faces
    from ferhw3.train.config import Config
    from ferhw3.train.fit import Extras, Result, fit, split
    from ferhw3.train.models import build_cnn
    from ferhw3.train.selftrain import parse_cap, self_train

    cap = parse_cap(args.cap)
    faces = load_faces(args.train_csv, expect="train")
    if args.limit:
        faces.x, faces.labels = faces.x[: args.limit], faces.labels[: args.limit]
    cfg = Config(epochs=args.epochs, warmup_epochs=1, val_size=0.1 if args.limit else Config.val_size)
    tr, va = split(faces, cfg)
    os.makedirs(args.out, exist_ok=True)
    store = os.path.join(args.out, "results.json")
    done = json.load(open(store)) if os.path.exists(store) else {}
    print(f"{len(faces)} faces: {len(tr)} training, {len(va)} validation (stratified, seed {cfg.seed}); "
          f"{args.epochs} supervised epochs, threshold {args.threshold}, cap {cap}", flush=True)

    def save(key, value):
        done[key] = value
        with open(store + ".tmp", "w") as f:
            json.dump(done, f, indent=1)
        os.replace(store + ".tmp", store)

    def model_fn():
        return build_cnn(cfg.arch, cfg.dropout)

    fractions = [float(f) for f in args.fractions.split(",")]
    for f in sorted(set(fractions + [1.0])):
        keep = label_subset(faces.labels[tr], f, cfg.seed)
        name = f"{round(f * 100)}pct"
        sup_out = os.path.join(args.out, f"{name}_supervised.h5")
        if f"{name}/supervised" not in done:
            sup_cfg = dataclasses.replace(cfg, epochs=max(1, round(args.epochs / f)))
            print(f"\n== {name}: supervised on {len(keep)} labelled faces, {sup_cfg.epochs} epochs", flush=True)
            res = fit(model_fn, faces, sup_cfg, sup_out, Extras(resume=True, train_subset=keep), verbose=2)
            save(f"{name}/supervised", {"fraction": f, "labelled": len(keep), "val_accuracy": res.val_accuracy,
                                        "minutes": res.seconds / 60})
        if f >= 1:
            continue
        unlabelled = np.setdiff1d(np.arange(len(tr)), keep)
        hidden = faces.labels[tr][unlabelled]
        for arm, threshold in (("self-trained", args.threshold), ("control", 2.0)):
            if f"{name}/{arm}" in done:
                continue
            print(f"\n== {name}: {arm}, {len(unlabelled)} unlabelled faces", flush=True)
            arm_out = os.path.join(args.out, f"{name}_{arm}.h5")
            shutil.copy(sup_out, arm_out)
            sup = Result(keras.models.load_model(sup_out, compile=False), done[f"{name}/supervised"]["val_accuracy"],
                         args.epochs, done[f"{name}/supervised"]["minutes"] * 60, len(keep), len(va), "")
            t = time.time()
            if arm == "self-trained" and args.mean_teacher:
                save(f"{name}/{arm}", run_mean_teacher(args, model_fn, faces, cfg, faces.x[tr][unlabelled], sup_out,
                                                       arm_out, keep, len(tr), f))
                continue
            arm_cfg = dataclasses.replace(cfg, rounds=args.rounds, threshold=threshold, cap=str(cap),
                                          soft=args.soft and arm == "self-trained", agree=args.agree)
            best, log = self_train(model_fn, faces, arm_cfg, faces.x[tr][unlabelled], sup, arm_out, train_subset=keep,
                                   images_per_round=args.self_train_epochs * len(tr))
            for r in log:  # how often the pseudo-labels were right (the hidden labels, for reporting only)
                index, labels = r.pop("index"), r.pop("labels")
                r["pseudo_label_accuracy"] = float(np.mean(hidden[index] == labels)) if len(index) else float("nan")
            # the last round's model, kept or not: what the fine-tuning itself reached
            save(f"{name}/{arm}", {"fraction": f, "labelled": len(keep), "unlabelled": len(unlabelled),
                                   "val_accuracy": best.val_accuracy, "last_round_val_accuracy": log[-1]["val_accuracy"],
                                   "rounds": log, "minutes": (time.time() - t) / 60})
    write_results(args, done, fractions, CLASS_NAMES)


def run_mean_teacher(args, model_fn, faces, cfg, x_unlabelled, sup_out, arm_out, keep, n_train, f):
    """The self-training arm's place, taken by mean-teacher fine-tuning: as many optimiser
    steps on labelled batches as the control takes, each with an unlabelled batch too."""
    from ferhw3.train.meanteacher import mean_teacher

    passes = max(1, round(args.self_train_epochs * n_train / len(keep)))
    steps = passes * (len(keep) // cfg.batch_size)
    print(f"mean teacher: {steps} steps, consistency weight {args.mean_teacher}, on all {len(x_unlabelled)} "
          f"unlabelled faces", flush=True)
    res = mean_teacher(model_fn, faces, dataclasses.replace(cfg, mean_teacher=args.mean_teacher), x_unlabelled,
                       sup_out, arm_out, steps, train_subset=keep)
    round_log = {"round": 1, "pseudo_labels": len(x_unlabelled), "per_class": None, "epochs": res.epochs_run,
                 "val_accuracy": res.val_accuracy, "seconds": res.seconds, "pseudo_label_accuracy": float("nan")}
    return {"fraction": f, "labelled": len(keep), "unlabelled": len(x_unlabelled), "val_accuracy": res.val_accuracy,
            "last_round_val_accuracy": res.val_accuracy, "rounds": [round_log], "minutes": res.seconds / 60,
            "mean_teacher": args.mean_teacher}


def write_results(args, done, fractions, class_names):
    full = done["100pct/supervised"]["val_accuracy"]
    rows = []
    points = []
    for f in fractions:
        name = f"{round(f * 100)}pct"
        sup, st, ctl = (done.get(f"{name}/{arm}") for arm in ("supervised", "self-trained", "control"))
        # the fine-tuned model's own accuracy, not max(before, after): no selection on validation
        acc_st = st["rounds"][-1]["val_accuracy"]
        acc_ctl = ctl["rounds"][-1]["val_accuracy"] if ctl else float("nan")
        gap = full - sup["val_accuracy"]
        closed = (acc_st - sup["val_accuracy"]) / gap if gap > 0 else float("nan")
        pl = st["rounds"][0]
        if st.get("mean_teacher"):
            per = "none: consistency targets on all of them"
        else:
            per = ", ".join(f"{n[:3]} {c}" for n, c in zip(class_names, pl["per_class"]))
        pl_acc = "—" if math.isnan(pl["pseudo_label_accuracy"]) else f"{pl['pseudo_label_accuracy']:.2f}"
        minutes = sup["minutes"] + st["minutes"] + (ctl["minutes"] if ctl else 0)
        rows.append(f"| {f:.0%} | {sup['labelled']} | {sup['val_accuracy']:.4f} | {acc_ctl:.4f} | {acc_st:.4f} | "
                    f"{100 * (acc_st - sup['val_accuracy']):+.1f} | {100 * (acc_st - acc_ctl):+.1f} | {closed:+.0%} | "
                    f"{pl['pseudo_labels']} ({per}) | {pl_acc} | {minutes:.1f} |")
        points.append((f, sup["val_accuracy"], acc_st, acc_ctl))
    cmd = "$ python studies/semi_supervised.py TRAIN_CSV " + " ".join(sys.argv[2:])
    table = "\n".join([
        cmd,
        f"vgg-bn; supervised: {args.epochs} epochs / fraction; "
        + (f"mean teacher (consistency weight {args.mean_teacher}, EMA 0.99) for the control's steps; "
           if args.mean_teacher else
           f"self-training: {args.rounds} round(s) of {args.self_train_epochs} epochs' worth of images, "
           f"threshold {args.threshold}, "
           + ("soft targets aligned to the labelled class shares; " if args.soft else f"cap {args.cap}; ")
           + ("all ten views agreeing; " if args.agree else ""))
        + (f"first {args.limit} faces of train, validation = 10% of them" if args.limit
           else "validation = 2,871 faces of train") + " (stratified, seed 0)",
        f"supervised on 100% of the labels: {full:.4f} "
        f"({done['100pct/supervised']['labelled']} faces, {done['100pct/supervised']['minutes']:.1f} min)",
        "",
        "| labels kept | labelled faces | supervised | + fine-tuning alone (control) | "
        + ("+ mean teacher " if args.mean_teacher else "+ self-training ") +
        "| gain vs supervised (points) | gain vs control | share of gap to 100% closed "
        "| pseudo-labels (round 1) | their accuracy | minutes |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        *rows,
    ])
    with open(args.results, "w") as fh:
        fh.write(table + "\n")
    print(table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = [p[0] * 100 for p in points]
    ax.plot(xs, [p[1] for p in points], "o-", label="supervised only")
    ax.plot(xs, [p[3] for p in points], "^:", label="+ fine-tuning alone (control)")
    ax.plot(xs, [p[2] for p in points], "s-", label="+ mean teacher" if args.mean_teacher else "+ self-training")
    ax.axhline(full, color="grey", ls="--", label="supervised, 100% labels")
    ax.set_xlabel("labels kept (%)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(("Mean teacher" if args.mean_teacher else "Self-training") + " with part of the labels")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
