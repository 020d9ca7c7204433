#!/usr/bin/env python3
"""Train the dense baseline: an MLP with about as many parameters as a CNN (within 5%).

    python train_dnn.py train.csv --out models/dnn.h5 --match vgg-bn

Same data split, augmentation (without cropping: a dense layer needs the whole 48x48
face), optimiser and callbacks as train_cnn.py, so the comparison isolates the
convolutions.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fer import cli  # noqa: E402

# No crop (a dense layer needs the whole face), so the shift does the moving; dropout x1 = 0.4.
DNN_DEFAULTS = dict(crop=0, epochs=40, patience=10, lr=0.02, shift=0.1, dropout=1.0)


def parse_args(argv=None):
    cli.quiet_tensorflow()
    from fer.models import ARCHITECTURES
    from fer.train import Config

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_csv", help="training CSV (label,feature), plain or .gz")
    p.add_argument("--out", default="models/dnn.h5")
    p.add_argument("--match", default="vgg-bn", choices=list(ARCHITECTURES),
                   help="CNN architecture whose parameter count the DNN matches")
    p.add_argument("--depth", type=int, default=3, help="hidden layers")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--limit", type=int, default=0, help="use only the first N faces (quick checks)")
    cli.add_run_options(p, Config(**DNN_DEFAULTS), skip=("distill",))  # no --teacher here
    return p.parse_args(argv)


def matched_dnn(arch: str, depth: int, dropout_scale: float = 1.0):
    """(dnn builder, dnn params, cnn params) with the DNN's width fitted to the CNN."""
    from fer.models import build_cnn, dnn, dnn_params, dnn_width_for, trainable_params

    cnn_params = trainable_params(build_cnn(arch))
    width = dnn_width_for(cnn_params, depth)
    return (lambda: dnn(width, depth, dropout=min(0.4 * dropout_scale, 0.9))), dnn_params(width, depth), cnn_params, width


def main(argv=None):
    args = parse_args(argv)
    cli.quiet_tensorflow()
    from fer.data import load_faces
    from fer.train import Config, fit

    cfg = cli.config_from(args, Config)
    cfg.arch = f"dnn-matching-{args.match}"
    cli.check_output_path(args.out)
    faces = load_faces(args.train_csv, expect="train")
    faces = cli.take_faces(faces, args.limit, cfg, args.train_csv)
    builder, n_dnn, n_cnn, width = matched_dnn(args.match, args.depth, cfg.dropout)
    print(f"DNN {args.depth}x{width}: {n_dnn:,} parameters; CNN {args.match}: {n_cnn:,} "
          f"({100 * (n_dnn - n_cnn) / n_cnn:+.2f}%)")
    res = fit(builder, faces, cfg, args.out, resume=args.resume)
    print(f"train {res.n_train} / validation {res.n_val} faces (stratified, seed {cfg.seed})")
    print(f"DONE {args.out}: val_accuracy={res.val_accuracy:.4f} epochs={res.epochs_run} "
          f"time={res.seconds / 60:.1f} min")


if __name__ == "__main__":
    cli.main_guard(main)
