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


# The teacher's view of a face: the centre 40x40 window (as the training crops frame it) and
# its mirror, the most accurate of the cheap test-time views (REPORT section 6).
TEACHER_TTA = "center"


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
    p.add_argument("--devices", type=int, default=0,
                   help="split the CPU into N logical devices (tries --distribute on a machine without GPUs)")
    p.add_argument("--teacher", action="append", metavar="MODEL",
                   help="distil from this saved model (repeat for an ensemble): its probabilities on the "
                        "training faces (centre-crop TTA) are mixed into the targets, --distill sets the share")
    p.add_argument("--unlabelled", metavar="CSV",
                   help="with --teacher: also train on these unlabelled faces (id,feature CSV, e.g. the test file), "
                        "with the teacher's probabilities as their targets")
    p.add_argument("--limit", type=int, default=0, help="use only the first N faces (quick checks)")
    p.add_argument("--minutes", type=float, default=0, metavar="M",
                   help="a training-time budget: measure this recipe's speed on this machine (30 batches) and "
                        "set --epochs so that training, and its cosine schedule, ends after about M minutes; "
                        "should the machine slow down, it stops before an epoch that would end past them "
                        "(an explicit --epochs wins; a --resume keeps the interrupted run's epochs and budget)")
    st = p.add_argument_group("self-training on unlabelled faces")
    st.add_argument("--self-train", metavar="UNLABELLED_CSV",
                    help="id,feature CSV of unlabelled faces (e.g. the test file) to pseudo-label")
    st.add_argument("--threshold", type=float, default=0.87, help="minimum top probability (default 0.87)")
    st.add_argument("--rounds", type=int, default=1, help="pseudo-label / retrain rounds (default 1)")
    st.add_argument("--self-train-epochs", type=int, default=15, help="epochs per round (default 15)")
    st.add_argument("--cap", default="1",
                    help="class c gets at most CAP x its labelled count of pseudo-labels (default 1; 0: no cap; "
                         "'prior': no class above its labelled share of the faces that pass the threshold)")
    st.add_argument("--soft", action="store_true",
                    help="soft pseudo-labels: each kept face's whole probability vector, aligned to the labelled "
                         "class shares (replaces --cap; use with a low --threshold, e.g. 0)")
    st.add_argument("--agree", action="store_true",
                    help="consistency filtering: keep only faces whose ten test-time views (44px crops and "
                         "mirrors) all predict the same class")
    st.add_argument("--mean-teacher", type=float, default=0, metavar="WEIGHT",
                    help="instead of pseudo-labels: fine-tune --self-train-epochs epochs with a mean teacher "
                         "(each step adds a batch of unlabelled faces whose prediction is pulled towards an "
                         "EMA teacher's on another view, with this weight, e.g. 10)")
    cli.add_run_options(p, Config())
    args = p.parse_args(argv)
    if args.arch not in ARCHITECTURES:
        p.error(f"--arch must be one of {', '.join(ARCHITECTURES)}")
    return args


def warn_if_other_split(teacher_path: str, cfg, n_faces: int) -> None:
    """A teacher trained on another split has seen some of this run's validation faces, and
    its targets would leak them: say so (its .config.json records the split)."""
    import json

    from fer.train import stem_of

    try:
        with open(f"{stem_of(teacher_path)}.config.json") as f:
            theirs = json.load(f)
    except (OSError, ValueError):
        print(f"warning: {teacher_path}: no .config.json, so its validation split is unknown", file=sys.stderr)
        return
    t = theirs.get("config", {})
    their_faces = theirs.get("n_faces", theirs.get("n_train", 0) + theirs.get("n_val", 0))
    if (t.get("seed"), t.get("val_size"), their_faces) != (cfg.seed, cfg.val_size, n_faces):
        print(f"warning: {teacher_path} was trained with another validation split (seed {t.get('seed')}, "
              f"val-size {t.get('val_size')}); validation accuracy here may be optimistic", file=sys.stderr)


def size_to_budget(args, cfg, faces, n_extra: int = 0) -> float:
    """--minutes: set cfg.epochs from the measured speed of this recipe on this machine, and
    return the deadline (a time.time() value) at which the budget runs out."""
    import json
    import time

    from fer.models import build_cnn
    from fer.train import epochs_for_minutes, minutes_spent, split, stem_of, training_speed

    stem = stem_of(args.out)
    if args.resume and os.path.exists(f"{stem}.last.json"):  # the schedule was sized when the run began
        with open(f"{stem}.last.json") as f:
            saved = json.load(f)["config"]
        cfg.epochs, cfg.extra = saved["epochs"], {**saved.get("extra", {}), **cfg.extra}
        minutes = cfg.extra.get("minutes", args.minutes)
        spent = minutes_spent(f"{stem}.history.csv")
        print(f"budget: resuming a {minutes:g}-minute run of {cfg.epochs} epochs ({spent:.1f} minutes spent)")
        return time.time() + (minutes - spent) * 60
    deadline = time.time() + args.minutes * 60
    start = time.perf_counter()
    speed = training_speed(lambda: build_cnn(cfg.arch, cfg.dropout), faces, cfg)
    tr, va = split(faces, cfg)
    n_train = len(tr) + n_extra
    cfg.epochs = epochs_for_minutes(args.minutes, speed, n_train, len(va), time.perf_counter() - start)
    cfg.extra.update(minutes=args.minutes, measured_images_per_second=round(speed))
    print(f"budget: {args.minutes:g} min at {speed:.0f} training images/s (measured here) -> {cfg.epochs} epochs "
          f"of {n_train:,} faces")
    return deadline


def make_strategy(cpu_devices: int = 0):
    """MirroredStrategy over all GPUs, or over `cpu_devices` logical CPUs when asked."""
    import tensorflow as tf

    devices = None
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices=devices)
    print(f"Distributing over {strategy.num_replicas_in_sync} devices: "
          f"{', '.join(strategy.extended.worker_devices)}")
    return strategy


def fine_tune_with_mean_teacher(args, cfg, faces, unlabelled, res):
    """Mean-teacher fine-tuning from the supervised model; OUT keeps the better of the two."""
    import shutil

    from fer.meanteacher import mean_teacher
    from fer.models import build_cnn
    from fer.train import stem_of

    mt_out = f"{stem_of(args.out)}.meanteacher.h5"
    steps = args.self_train_epochs * (res.n_train // cfg.batch_size)
    print(f"mean teacher: {steps} steps on {res.n_train:,} labelled + {len(unlabelled):,} unlabelled faces, "
          f"consistency weight {args.mean_teacher}", flush=True)
    mt = mean_teacher(lambda: build_cnn(cfg.arch, cfg.dropout), faces, cfg, unlabelled.x, args.out, mt_out, steps,
                      weight=args.mean_teacher, verbose=1)
    print(f"mean teacher: val_accuracy {mt.val_accuracy:.4f} (before: {res.val_accuracy:.4f})", flush=True)
    mt.seconds += res.seconds
    if mt.val_accuracy > res.val_accuracy:
        shutil.copy(mt_out, args.out)
        return mt
    res.seconds = mt.seconds
    return res


def main(argv=None):
    args = parse_args(argv)
    cli.quiet_tensorflow()
    from fer.data import load_faces
    from fer.models import build_cnn, trainable_params
    from fer.train import Config, fit

    cfg = cli.config_from(args, Config)
    strategy = make_strategy(args.devices) if args.distribute else None
    cli.check_output_path(args.out)
    if args.init and not os.path.exists(args.init):
        raise cli.UsageError(f"{args.init}: --init model file not found")
    if args.mean_teacher and not args.self_train:
        raise cli.UsageError("--mean-teacher needs --self-train UNLABELLED_CSV (the faces it learns from)")
    if args.mean_teacher < 0:
        raise cli.UsageError(f"--mean-teacher {args.mean_teacher}: must be >= 0")
    if args.minutes < 0:
        raise cli.UsageError(f"--minutes {args.minutes}: must be > 0 (0: no budget, use --epochs)")
    # an explicit --epochs wins over a --minutes budget (e.g. `hw3_train.sh train.csv --epochs 5`)
    given = sys.argv[1:] if argv is None else argv
    if args.minutes and any(a == "--epochs" or a.startswith("--epochs=") for a in given):
        print(f"--epochs {args.epochs} given: the --minutes {args.minutes:g} budget is not used")
        args.minutes = 0
    if args.self_train and not 0 <= args.threshold <= 1:
        raise cli.UsageError(f"--threshold {args.threshold}: must be in [0, 1]")
    from fer.selftrain import parse_cap
    try:
        args.cap = parse_cap(args.cap)
    except ValueError:
        raise cli.UsageError(f"--cap {args.cap}: must be a number >= 0 or 'prior'") from None
    teachers = [cli.load_model(t) for t in args.teacher or []]  # a bad model fails before the data loads
    if args.unlabelled and not teachers:
        raise cli.UsageError("--unlabelled needs --teacher (the teacher labels those faces)")
    faces = load_faces(args.train_csv, expect="train")
    faces = cli.take_faces(faces, args.limit, cfg, args.train_csv)
    unlabelled = load_faces(args.self_train) if args.self_train else None  # a bad file fails before training
    distil_on = load_faces(args.unlabelled) if args.unlabelled else None

    teacher = None
    if teachers:
        from fer.predict import predict_proba

        cfg.extra["teachers"] = args.teacher
        for path in args.teacher:
            warn_if_other_split(path, cfg, len(faces))
        teacher = lambda x: predict_proba(teachers, x, tta=TEACHER_TTA)  # noqa: E731
    extra = None
    if distil_on is not None:  # their target is the teacher's alone: (1 - w) x teacher + w x teacher
        cfg.extra["unlabelled"] = args.unlabelled
        extra = (distil_on.x, teacher(distil_on.x))
        print(f"distillation: {len(distil_on):,} unlabelled faces from {args.unlabelled} join the training part")
    budget = ()
    if args.minutes:
        from fer.train import Deadline

        budget = (Deadline(size_to_budget(args, cfg, faces, n_extra=len(distil_on) if distil_on is not None else 0)),)
    model = build_cnn(cfg.arch, cfg.dropout)
    print(f"{cfg.arch}: {trainable_params(model):,} trainable parameters; {len(faces):,} labelled faces")
    res = fit(lambda: build_cnn(cfg.arch, cfg.dropout), faces, cfg, args.out, resume=args.resume, init=args.init,
              strategy=strategy, teacher=teacher, extra_train=extra, callbacks=budget)
    print(f"train {res.n_train} / validation {res.n_val} faces (stratified, seed {cfg.seed})")
    if args.self_train and args.mean_teacher:
        res = fine_tune_with_mean_teacher(args, cfg, faces, unlabelled, res)
    elif args.self_train:
        from fer.selftrain import self_train

        res, _ = self_train(lambda: build_cnn(cfg.arch, cfg.dropout), faces, cfg, unlabelled.x, res, args.out,
                            rounds=args.rounds, threshold=args.threshold, cap=args.cap,
                            epochs=args.self_train_epochs, soft=args.soft, agree=args.agree)
    # a fine-tune kept from before self-training has no supervised epochs to give a speed for
    speed = f" ({res.images_per_second:.0f} img/s incl. validation)" if res.images_per_second else ""
    print(f"DONE {args.out}: val_accuracy={res.val_accuracy:.4f} epochs={res.epochs_run} "
          f"time={res.seconds / 60:.1f} min{speed}")


if __name__ == "__main__":
    cli.main_guard(main)
