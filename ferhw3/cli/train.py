"""Train a CNN on FER2013 faces (`label,feature` CSV) with a named recipe.

    ferhw3 train train.csv                                # recipe vgg-bn -> runs/vgg-bn.h5
    ferhw3 train train.csv --recipe one-hour              # what hw3_train.sh runs
    ferhw3 train train.csv --recipe seed-vgg --epochs 30  # the seed report's VGG
    ferhw3 train train.csv --set erase=0.5 --set rotation=0
    ferhw3 train train.csv --self-train test.csv          # then self-training (bonus)
    ferhw3 train --recipe list                            # the recipes and every field

Besides OUT the run writes its history, a checkpoint for --resume and a record of recipe,
overrides and result.
"""

import argparse
import os

from ferhw3 import cli


def parse_args(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_csv", nargs="?", help="training CSV (label,feature), plain or .gz")
    p.add_argument("--recipe", default="vgg-bn", help="a named recipe, or 'list' (default vgg-bn)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change any recipe field (repeatable)")
    p.add_argument("--out", help="the best model (.h5 or .keras); default runs/RECIPE.h5")
    p.add_argument("--resume", action="store_true", help="continue from OUT's checkpoint")
    p.add_argument("--init", help="start from this saved model's weights (a new schedule)")
    g = p.add_argument_group("common recipe fields (each also a --set key)")
    g.add_argument("--arch", help="network (ferhw3/train/models.py: vgg-report, vgg-bn, vgg-bn-deep-wide, ...)")
    g.add_argument("--epochs", type=int, metavar="N", help="epochs (wins over a recipe's time budget)")
    g.add_argument("--minutes", type=float, metavar="M", help="size the epochs to this training time on this machine")
    g.add_argument("--batch-size", type=int, metavar="N")
    g.add_argument("--lr", type=float, help="peak learning rate")
    g.add_argument("--seed", type=int, metavar="N", help="seed of the split, shuffling and augmentation")
    g.add_argument("--val-size", type=float, metavar="N", help="faces held out for validation (or a fraction)")
    g.add_argument("--precision", metavar="P", help="float32 or mixed_bfloat16")
    g.add_argument("--self-train", metavar="UNLABELLED_CSV", help="then self-train on these id,feature faces")
    g.add_argument("--threshold", type=float, metavar="P", help="self-training: least top probability kept")
    h = p.add_argument_group("run")
    h.add_argument("--distribute", action="store_true", help="data-parallel over all GPUs (MirroredStrategy)")
    h.add_argument("--devices", type=int, default=0, metavar="N", help="with --distribute: split the CPU into N devices")
    h.add_argument("--limit", type=int, default=0, metavar="N", help="use only the first N faces (quick checks)")
    args = p.parse_args(argv)
    if args.recipe != "list" and not args.train_csv:
        p.error("the training CSV is required (or --recipe list)")
    return args


FLAGS = ("arch", "epochs", "minutes", "batch_size", "lr", "seed", "val_size", "precision", "self_train", "threshold")


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    if args.recipe == "list":
        from ferhw3.train.config import FIELDS
        from ferhw3.train.recipes import table

        print(table())
        print(f"\nfields (--set KEY=VALUE; each is documented in ferhw3/train/config.py): {', '.join(FIELDS)}")
        return
    cfg, record = cli.config_from(args.recipe, args.set, {k: getattr(args, k) for k in FLAGS})
    out = args.out or f"runs/{args.recipe}.h5"
    if cli.already_finished(out, cfg, args.init, args.resume):  # before TensorFlow loads
        return
    cli.quiet_tensorflow()
    from ferhw3.train.models import ARCHITECTURES, build_cnn, trainable_params
    from ferhw3.train.run import make_strategy, model_path, train_cnn

    if cfg.arch not in ARCHITECTURES:
        raise cli.UsageError(f"arch={cfg.arch}: must be one of {', '.join(ARCHITECTURES)}")
    if args.init and not os.path.exists(args.init):
        raise cli.UsageError(f"{args.init}: --init model file not found")
    cli.check_run_output(out, inputs=[args.train_csv, args.init, *map(model_path, cfg.teachers), cfg.unlabelled,
                                      cfg.self_train])
    strategy = make_strategy(args.devices) if args.distribute else None
    print(f"recipe {args.recipe}{''.join(f' {k}={v}' for k, v in record['overrides'].items())}: {cfg.arch}, "
          f"{trainable_params(build_cnn(cfg.arch, cfg.dropout)):,} trainable parameters")
    res = train_cnn(args.train_csv, cfg, out, resume=args.resume, init=args.init, strategy=strategy,
                    limit=args.limit, record=record)
    # a fine-tune kept from before self-training has no supervised epochs to give a speed for
    speed = f" ({res.images_per_second:.0f} img/s incl. validation)" if res.images_per_second else ""
    print(f"DONE {out}: val_accuracy={res.val_accuracy:.4f} epochs={res.epochs_run} "
          f"time={res.seconds / 60:.1f} min{speed}")

