"""Train the dense baseline: an MLP with about as many parameters as a CNN (within 5%).

    ferhw3 train-dnn train.csv --out runs/dnn.h5 --match vgg-bn

The recipe `dnn` (ferhw3/train/recipes.py): the same split, optimiser and callbacks as the CNN
recipes, whole faces (a dense layer needs all 48x48 pixels) shifted instead of cropped,
so the comparison isolates the convolutions.
"""

import argparse

from ferhw3 import cli


def parse_args(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_csv", help="training CSV (label,feature), plain or .gz")
    p.add_argument("--out", default="runs/dnn.h5", help="the best model (default runs/dnn.h5)")
    p.add_argument("--match", default="vgg-bn", help="CNN architecture whose parameter count the DNN matches")
    p.add_argument("--depth", type=int, default=3, help="hidden layers")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a recipe field")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the split, shuffling and augmentation")
    p.add_argument("--val-size", type=float, metavar="N", help="faces held out for validation (or a fraction)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--limit", type=int, default=0, help="use only the first N faces (quick checks)")
    return p.parse_args(argv)


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    flags = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "seed", "val_size")}
    cfg, record = cli.config_from("dnn", args.set, flags)
    cfg.arch = "dnn"
    if cli.already_finished(args.out, cfg, None, args.resume, dict(match=args.match, depth=args.depth)):
        return
    cli.quiet_tensorflow()
    from ferhw3.data.read import load_faces, take_faces
    from ferhw3.train.fit import Extras, fit
    from ferhw3.train.models import ARCHITECTURES, matched_dnn

    if args.match not in ARCHITECTURES:
        raise cli.UsageError(f"--match {args.match}: must be one of {', '.join(ARCHITECTURES)}")
    record.update(match=args.match, depth=args.depth)
    cli.check_run_output(args.out, inputs=[args.train_csv])
    faces = take_faces(load_faces(args.train_csv, expect="train"), args.limit, cfg, args.train_csv)
    builder, n_dnn, n_cnn, width = matched_dnn(args.match, args.depth, cfg.dropout)
    print(f"DNN {args.depth}x{width}: {n_dnn:,} parameters; CNN {args.match}: {n_cnn:,} "
          f"({100 * (n_dnn - n_cnn) / n_cnn:+.2f}%)")
    res = fit(builder, faces, cfg, args.out, Extras(resume=args.resume, record=record))
    print(f"train {res.n_train} / validation {res.n_val} faces (stratified, seed {cfg.validation_seed})")
    print(f"DONE {args.out}: val_accuracy={res.val_accuracy:.4f} epochs={res.epochs_run} "
          f"time={res.seconds / 60:.1f} min")

