#!/usr/bin/env python3
"""Train a VGG-style CNN on FER2013 (`label,feature` CSV) and save it as .h5.

    python train_cnn.py train.csv --out models/cnn.h5
    python train_cnn.py train.csv --arch vgg-report --optimizer adam --lr 1e-3 --schedule plateau --crop 0

Prints the validation split, Keras progress bars, and a final summary line.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fer import cli  # noqa: E402  (sets TensorFlow's environment before it loads)


def parse_args(argv=None):
    cli.quiet_tensorflow()
    from fer.models import ARCHITECTURES
    from fer.train import Config

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_csv", help="training CSV (label,feature), plain or .gz")
    p.add_argument("--out", default="models/cnn.h5", help="where to save the best model (.h5)")
    p.add_argument("--resume", action="store_true", help="continue from OUT's .last.keras checkpoint")
    p.add_argument("--init", help="start from this saved model's weights (a new schedule)")
    p.add_argument("--distribute", action="store_true",
                   help="train data-parallel on all visible GPUs/devices (tf.distribute.MirroredStrategy)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N faces (quick checks)")
    cli.add_run_options(p, Config())
    args = p.parse_args(argv)
    if args.arch not in ARCHITECTURES:
        p.error(f"--arch must be one of {', '.join(ARCHITECTURES)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    cli.quiet_tensorflow()
    from fer.data import load_csv
    from fer.models import build_cnn, trainable_params
    from fer.train import Config, fit

    cfg = cli.config_from(args, Config)
    cli.check_output_path(args.out)
    if args.init and not os.path.exists(args.init):
        raise cli.UsageError(f"{args.init}: --init model file not found")
    faces = load_csv(args.train_csv, expect="train")
    if args.limit:
        faces.x, faces.labels = faces.x[: args.limit], faces.labels[: args.limit]
    strategy = None
    if args.distribute:
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        print(f"Distributing over {strategy.num_replicas_in_sync} devices")

    model = build_cnn(cfg.arch)
    print(f"{cfg.arch}: {trainable_params(model):,} trainable parameters; {len(faces):,} labelled faces")
    res = fit(lambda: build_cnn(cfg.arch), faces, cfg, args.out, resume=args.resume, init=args.init,
              strategy=strategy)
    print(f"train {res.n_train} / validation {res.n_val} faces (stratified, seed {cfg.seed})")
    print(f"DONE {args.out}: val_accuracy={res.val_accuracy:.4f} epochs={res.epochs_run} "
          f"time={res.seconds / 60:.1f} min ({res.n_train * (res.epochs_run) / max(res.seconds, 1e-9):.0f} img/s)")


if __name__ == "__main__":
    cli.main_guard(main)
