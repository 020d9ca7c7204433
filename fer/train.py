"""Training: the recipe (optimiser, schedule, callbacks) shared by the CNN and DNN scripts.

Files written for `--out models/cnn.h5`:
    models/cnn.h5               the best epoch's model (by validation accuracy)
    models/cnn.history.csv      one row per epoch (CSVLogger)
    models/cnn.last.keras       the latest epoch with optimizer state, for --resume
    models/cnn.last.json        that checkpoint's epoch, seed and config
    models/cnn.config.json      the run's config, command and result (the split to evaluate on)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import keras
import numpy as np

from .data import Faces, stratified_split
from .pipeline import augmenter, eval_dataset, reseed, seed_generators, smoothed_onehot, train_dataset


@dataclass
class Config:
    """Every hyper-parameter of a run; each one is a command-line option of the scripts."""

    arch: str = "vgg-bn"
    epochs: int = 60
    batch_size: int = 128
    val_size: float = 2871.0        # faces held out (10%), or a fraction below 1
    seed: int = 0
    optimizer: str = "sgd"          # sgd (Nesterov) | adam | adamw
    lr: float = 0.05
    schedule: str = "cosine"        # cosine (with warm-up) | plateau (ReduceLROnPlateau)
    warmup_epochs: int = 2
    weight_decay: float = 0.0       # decoupled, in the optimiser (models carry their own L2)
    label_smoothing: float = 0.1
    crop: int = 40                  # random crop side for training; 0 or 48: none
    augment: bool = True
    rotation: float = 10.0          # augmentation: max rotation, degrees
    zoom: float = 0.1               # augmentation: max zoom, fraction
    shift: float = 0.0              # augmentation: max shift, fraction of the side (on top of the crop)
    erase: float = 0.0              # augmentation: probability of random erasing (a noise patch)
    dropout: float = 0.5            # multiplies the architecture's dropout rates
    patience: int = 15              # early stopping on validation accuracy
    precision: str = "float32"      # float32 | mixed_bfloat16
    distill: float = 0.5            # with a teacher: its probabilities' share of each target
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        """Raise ValueError naming the first option whose value cannot work."""
        rules = [
            ("epochs", self.epochs >= 0, ">= 0"), ("batch_size", self.batch_size >= 1, ">= 1"),
            ("val_size", self.val_size >= 0, ">= 0 (a count, or a fraction below 1)"),
            ("optimizer", self.optimizer in ("sgd", "adam", "adamw"), "sgd, adam or adamw"),
            ("lr", self.lr > 0, "> 0"), ("schedule", self.schedule in ("cosine", "plateau"), "cosine or plateau"),
            ("warmup_epochs", self.warmup_epochs >= 0, ">= 0"), ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("crop", self.crop == 0 or 8 <= self.crop <= 48, "0 (none) or 8-48 pixels"),
            ("rotation", self.rotation >= 0, ">= 0"), ("zoom", 0 <= self.zoom < 1, "in [0, 1)"),
            ("shift", 0 <= self.shift < 1, "in [0, 1)"), ("erase", 0 <= self.erase <= 1, "a probability in [0, 1]"),
            ("dropout", self.dropout >= 0, ">= 0"), ("patience", self.patience >= 0, ">= 0"),
            ("precision", self.precision in ("float32", "mixed_bfloat16"), "float32 or mixed_bfloat16"),
            ("distill", 0 <= self.distill <= 1, "in [0, 1]"),
        ]
        for name, ok, want in rules:
            if not ok:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be {want}")


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then cosine decay to zero at `total` steps.

    Driven by the optimiser's own step counter, so a resumed run continues the schedule
    exactly where the checkpoint left it.
    """

    def __init__(self, peak, total, warmup):
        self.peak, self.total, self.warmup = float(peak), int(total), int(warmup)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * (step + 1) / max(self.warmup, 1)
        progress = keras.ops.clip((step - self.warmup) / max(self.total - self.warmup, 1), 0.0, 1.0)
        cosine = 0.5 * self.peak * (1 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < self.warmup, warm, cosine)

    def get_config(self):
        return {"peak": self.peak, "total": self.total, "warmup": self.warmup}


def make_optimizer(cfg: Config, steps_per_epoch: int):
    if cfg.schedule == "cosine":
        lr = WarmupCosine(cfg.lr, cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch)
    elif cfg.schedule == "plateau":
        lr = cfg.lr
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r}")
    wd = cfg.weight_decay or None
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay or 1e-4)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def compile_model(model: keras.Model, cfg: Config, steps_per_epoch: int, jit_compile="auto") -> keras.Model:
    model.compile(optimizer=make_optimizer(cfg, steps_per_epoch), loss="categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


def recipe_augmenter(cfg: Config, side: int, in_model: bool = False):
    """The run's augmentation layers for faces of `side` pixels, or None with --augment false
    (a crop as large as the face is no crop)."""
    if not cfg.augment:
        return None
    crop = cfg.crop if cfg.crop and cfg.crop < side else 0
    return augmenter(crop, cfg.rotation, cfg.zoom, cfg.shift, seed=cfg.seed, erase=cfg.erase, in_model=in_model)


# What a validation face costs, in training faces: predicting it, plus each epoch's two
# checkpoint saves spread over the 2,871 faces (the session-4 one-hour run, models/cnn4:
# its epochs took 1.08x the time of their training steps alone).
VALIDATION_COST = 0.7


class _BatchClock(keras.callbacks.Callback):
    """The time at the end of each training batch."""

    def on_train_begin(self, logs=None):
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def training_speed(model_fn, faces: Faces, cfg: Config, steps: int = 30, warmup: int = 10) -> float:
    """Training images/s of this recipe on this machine: its model, optimiser, precision and
    tf.data augmentation on real training faces, timed over `steps` batches that follow
    `warmup` untimed ones (tracing, filling the pipeline) within one `fit`, as in a long run."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError("a training-time budget is measured on the tf.data pipeline: TensorFlow backend only")
    keras.mixed_precision.set_global_policy(cfg.precision)
    keras.utils.set_random_seed(cfg.seed)
    tr, _ = split(faces, cfg)
    x, y = faces.x[tr][:4096], faces.labels[tr][:4096]
    aug = recipe_augmenter(cfg, faces.x.shape[1])
    model = compile_model(model_fn(), cfg, steps_per_epoch=100)
    ds = train_dataset(x, smoothed_onehot(y, cfg.label_smoothing), cfg.batch_size, aug, seed=cfg.seed, epochs=1000)
    clock = _BatchClock()
    model.fit(ds, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[clock], shuffle=False)
    speed = steps * cfg.batch_size / (clock.ends[-1] - clock.ends[warmup - 1])
    keras.backend.clear_session()  # the run proper then builds its model as if this had not happened
    return speed


def epochs_for_minutes(minutes: float, images_per_second: float, n_train: int, n_val: int = 0,
                       spent_seconds: float = 0.0) -> int:
    """How many epochs (training on `n_train` faces, validating on `n_val`) fit in `minutes`
    at the measured training speed, less the seconds already spent measuring it; at least 1.
    The learning-rate schedule is sized to these epochs, so it ends, as a cosine should,
    when the budget does."""
    seconds = max(minutes * 60 - spent_seconds, 0.0)
    return max(1, int(seconds * images_per_second / (n_train + VALIDATION_COST * n_val)))


class ElapsedMinutes(keras.callbacks.Callback):
    """Adds `minutes` (wall-clock since this run started) to each epoch's logs, so the
    history CSV records accuracy against training time."""

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.offset = offset

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["minutes"] = self.offset + (time.time() - self.start) / 60


class Deadline(keras.callbacks.Callback):
    """Ends training at a time budget: after each epoch, if one more epoch as long as the last
    would end past `deadline` (a time.time() value), it stops there. A budget sized from a
    speed probe can run a few percent long when the machine slows down mid-run; the epochs cut
    are the last of the cosine, at a learning rate near zero, so they cost little."""

    def __init__(self, deadline: float, clock=time.time, verbose: int = 1):
        super().__init__()
        self.deadline, self.clock, self.verbose = deadline, clock, verbose
        self.stopped_after = None

    def on_train_begin(self, logs=None):
        self.last_end = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        took, self.last_end = now - self.last_end, now
        if epoch + 1 < self.params.get("epochs", 0) and now + took > self.deadline:
            self.model.stop_training = True
            self.stopped_after = epoch + 1
            if self.verbose:
                print(f"\nbudget: stopping after epoch {epoch + 1} of {self.params['epochs']}: another one "
                      f"({took:.0f} s) would end {now + took - self.deadline:.0f} s past the budget")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping (on a metric to maximise) that a resumed run continues: it starts from
    the best value so far and the epochs since it, read from the history, instead of
    granting a fresh `patience` at every resume."""

    def __init__(self, past=(), **kwargs):
        super().__init__(mode="max", **kwargs)
        self.past = [float(v) for v in past]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.past:
            i = int(np.argmax(self.past))
            self.best, self.best_epoch, self.wait = self.past[i], i, len(self.past) - 1 - i


class ReseedDropout(keras.callbacks.Callback):
    """Dropout draws its masks from generators whose state a checkpoint does not keep; set
    them from the epoch number, so a resumed epoch draws the masks an uninterrupted one does."""

    def on_train_begin(self, logs=None):
        self.generators = seed_generators(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        reseed(self.generators, epoch)


class BestModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that saves `model` (the classifier) whichever model fit() trains, e.g.
    a wrapper that augments before it (the JAX path), so the .h5 is a plain classifier."""

    def __init__(self, model, filepath, **kwargs):
        super().__init__(filepath, **kwargs)
        self.classifier = model

    @property
    def model(self):
        super().model  # on JAX this writes the training state back into the shared variables
        return self.classifier


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves the latest epoch (weights + optimizer state) as .keras plus a JSON of the run
    state, each through a temporary file and an atomic rename, so a kill never leaves a
    half-written checkpoint."""

    def __init__(self, stem: str, cfg: Config):
        super().__init__()
        self.stem, self.cfg = stem, cfg

    def on_epoch_end(self, epoch, logs=None):
        tmp = f"{self.stem}.last.tmp.keras"
        self.model.save(tmp)
        os.replace(tmp, f"{self.stem}.last.keras")
        state = {"epoch": epoch + 1, "config": asdict(self.cfg), "logs": {k: float(v) for k, v in (logs or {}).items()}}
        with open(f"{self.stem}.last.json.tmp", "w") as f:
            json.dump(state, f, indent=1)
        os.replace(f"{self.stem}.last.json.tmp", f"{self.stem}.last.json")


def _read_history(history_csv: str):
    """The per-epoch history written so far, or None (resume bookkeeping)."""
    import pandas as pd

    try:
        return pd.read_csv(history_csv)
    except (OSError, ValueError):
        return None


def minutes_spent(history_csv: str) -> float:
    """Training minutes a run has spent so far: the last `minutes` its history recorded (0
    without one). A resumed run continues its clock, and its time budget, from there."""
    h = _read_history(history_csv)
    return float(h["minutes"].iloc[-1]) if h is not None and len(h) and "minutes" in h else 0.0


def _truncate_history(history_csv: str, epochs: int) -> None:
    """Drop history rows past the checkpoint (a kill can land between the two writes)."""
    h = _read_history(history_csv)
    if h is not None:
        h[h["epoch"] < epochs].to_csv(history_csv, index=False)


@contextlib.contextmanager
def _stop_on_ctrl_c(model, stem: str):
    """Ctrl-C asks Keras to stop after the current step; the epoch-end callbacks then save
    the checkpoint, and only then do we stop. A second Ctrl-C stops at once."""
    interrupted = []

    def on_sigint(signum, frame):
        if interrupted:
            raise KeyboardInterrupt
        interrupted.append(True)
        model.stop_training = True
        print("\nCtrl-C: stopping after this step and saving a checkpoint (again to quit now)", file=sys.stderr)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        yield
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    if interrupted:
        done = json.load(open(f"{stem}.last.json"))["epoch"] if os.path.exists(f"{stem}.last.json") else 0
        raise KeyboardInterrupt(f"stopped; {done} epochs saved in {stem}.last.keras, continue with --resume")


def _deterministic_ops() -> None:
    """Same seed, same result: ask TensorFlow for deterministic kernels (it raises if an op
    has none). Must run before any op is executed, so it is skipped when that is too late."""
    import tensorflow as tf

    try:
        tf.config.experimental.enable_op_determinism()
    except RuntimeError:
        pass


def stem_of(out: str) -> str:
    return out[:-3] if out.endswith(".h5") else out


@dataclass
class Result:
    model: keras.Model
    val_accuracy: float
    epochs_run: int
    seconds: float
    n_train: int
    n_val: int
    history_path: str
    images_per_second: float = 0.0


def split(faces: Faces, cfg: Config):
    tr, va = stratified_split(faces.labels, cfg.val_size, cfg.seed)
    return tr, va


def fit(model_fn, faces: Faces, cfg: Config, out: str, resume: bool = False, init: str | None = None,
        extra_train: tuple[np.ndarray, np.ndarray] | None = None, verbose: int = 1,
        strategy=None, callbacks: tuple = (), train_subset: np.ndarray | None = None,
        teacher=None, feed: str = "auto") -> Result:
    """Train `model_fn()` on `faces` with the recipe in `cfg`; save the best model to `out`.

    extra_train: (x, y) added to the training part only (e.g. pseudo-labelled faces),
    never to validation; y holds labels (N,) or soft targets (N, 7).
    callbacks: more Keras callbacks, run after the recipe's own.
    train_subset: positions within the training part to train on (the rest go unused, e.g.
    faces whose labels an experiment hides); validation is unchanged.
    teacher: a function from faces to class probabilities (e.g. an ensemble's); it is asked
    about the training faces only, and each target becomes (1 - cfg.distill) x the smoothed
    label + cfg.distill x the teacher's probabilities (knowledge distillation).
    feed: "tf.data" (batches augmented in a tf.data pipeline, resume-exact), "arrays" (Keras
    shuffles the arrays; augmentation layers run in a training wrapper around the model, on
    the accelerator), or "auto": tf.data on TensorFlow, arrays on the other backends (JAX on
    a GPU machine, which has no TensorFlow).
    """
    keras.utils.set_random_seed(cfg.seed)
    # TensorFlow feeds batches through tf.data; other backends (JAX on a GPU machine, which
    # has no TensorFlow) train from arrays, with the augmentation inside a wrapper model.
    on_tf = keras.backend.backend() == "tensorflow"
    if feed not in ("auto", "tf.data", "arrays") or (feed == "tf.data" and not on_tf):
        raise ValueError(f"feed {feed!r}: must be auto, arrays, or tf.data (TensorFlow backend only)")
    arrays = feed == "arrays" or (feed == "auto" and not on_tf)
    if on_tf:
        _deterministic_ops()
    # every run sets it: a float32 run after a bfloat16 one in the same process stays float32
    keras.mixed_precision.set_global_policy(cfg.precision)
    stem = stem_of(out)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

    tr, va = split(faces, cfg)
    if train_subset is not None:
        tr = tr[train_subset]
    x_tr, y_tr = faces.x[tr], faces.labels[tr]
    n_train = len(x_tr) + (len(extra_train[0]) if extra_train is not None else 0)
    x_va, y_va = faces.x[va], faces.labels[va]
    # arrays end each epoch with a partial batch; the tf.data stream drops it
    steps = math.ceil(n_train / cfg.batch_size) if arrays else n_train // cfg.batch_size
    if n_train < cfg.batch_size:
        raise ValueError(f"batch size {cfg.batch_size} is larger than the {n_train} training faces")

    initial_epoch = 0
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = model_fn()
        if init:
            model.set_weights(keras.models.load_model(init, compile=False).get_weights())
        aug = recipe_augmenter(cfg, faces.x.shape[1], in_model=arrays)
        # What fit() trains: the model itself, or (fed arrays) the augmentation layers then
        # the model (they pass faces through unchanged outside training, so validation sees
        # whole faces either way); the best and the final saved models are always `model`.
        trainer = model if not arrays or aug is None else keras.Sequential(
            [keras.Input(faces.x.shape[1:], name="face"), aug, model], name="augment_then_model")
        compile_model(trainer, cfg, steps)
        if resume and os.path.exists(f"{stem}.last.keras"):
            # A .keras file's compile config has no optimizer in Keras 3.15 (load_model would
            # silently compile RMSprop), so rebuild ours and load weights + optimizer state into it.
            trainer.optimizer.build(trainer.trainable_variables)
            trainer.load_weights(f"{stem}.last.keras")
            with open(f"{stem}.last.json") as f:
                initial_epoch = json.load(f)["epoch"]
            _truncate_history(f"{stem}.history.csv", initial_epoch)
            if verbose:
                print(f"Resuming from {stem}.last.keras after epoch {initial_epoch} "
                      f"(optimizer step {int(trainer.optimizer.iterations.numpy())})")
    # Shuffle order and augmentation are functions of (seed, epoch, batch), so a resumed run
    # sees the same batches from `initial_epoch` on as an uninterrupted one.
    targets = smoothed_onehot(y_tr, cfg.label_smoothing)
    if extra_train is not None:  # soft pseudo-labels (rows of probabilities) are used as they are
        ex = extra_train[1]
        targets = np.concatenate([targets, ex if np.ndim(ex) == 2 else smoothed_onehot(ex, cfg.label_smoothing)])
    x_tr = np.concatenate([x_tr, extra_train[0]]) if extra_train is not None else x_tr
    if teacher is not None:
        soft = teacher(x_tr)
        if verbose:
            print(f"distillation: teacher probabilities for the {len(x_tr):,} training faces (teacher accuracy "
                  f"on the {len(y_tr):,} labelled ones {np.mean(soft[:len(y_tr)].argmax(1) == y_tr):.4f}), "
                  f"weight {cfg.distill}")
        targets = (1 - cfg.distill) * targets + cfg.distill * soft
    if not arrays:
        ds_tr = train_dataset(x_tr, targets, cfg.batch_size, aug, seed=cfg.seed, first_epoch=initial_epoch,
                              epochs=cfg.epochs)
        ds_va = eval_dataset(x_va, y_va) if len(va) else None
        feed = dict(x=ds_tr, steps_per_epoch=steps, shuffle=False)
    else:  # seeded shuffle by Keras; augmentation draws inside the model (not resume-exact)
        ds_va = (x_va.astype(np.float32), smoothed_onehot(y_va)) if len(va) else None
        feed = dict(x=x_tr.astype(np.float32), y=targets.astype(np.float32), batch_size=cfg.batch_size,
                    shuffle=True, validation_batch_size=256)
    monitor = "val_accuracy" if ds_va is not None else "accuracy"

    # On resume: continue the clock, and keep the best model unless a later epoch beats it.
    past = _read_history(f"{stem}.history.csv") if initial_epoch else None
    past = past if past is not None and len(past) else None
    callbacks = [
        ElapsedMinutes(minutes_spent(f"{stem}.history.csv") if initial_epoch else 0.0),
        BestModelCheckpoint(model, out, monitor=monitor, mode="max", save_best_only=True, verbose=0,
                                        initial_value_threshold=float(past[monitor].max())
                                        if past is not None and monitor in past else None),
        keras.callbacks.CSVLogger(f"{stem}.history.csv", append=resume and initial_epoch > 0),
        ResumableEarlyStopping(past=past[monitor] if past is not None and monitor in past else (),
                               monitor=monitor, patience=cfg.patience, verbose=verbose),
        ResumableCheckpoint(stem, cfg),
        *([ReseedDropout()] if on_tf else []),
        *callbacks,
    ]
    if cfg.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.5,
                                                           patience=max(cfg.patience // 3, 2), verbose=verbose))
    start = time.time()
    history = {}
    with _stop_on_ctrl_c(trainer, stem):
        if cfg.epochs > initial_epoch:
            history = trainer.fit(**feed, validation_data=ds_va, epochs=cfg.epochs, initial_epoch=initial_epoch,
                                  callbacks=callbacks, verbose=verbose).history
        elif not (resume and os.path.exists(out)):  # nothing to train (e.g. --epochs 0 --init M): M as it is
            model.save(out)                           # (a finished run resumed keeps its best model)
    seconds = time.time() - start
    best = keras.models.load_model(out, compile=False) if os.path.exists(out) else model
    best.save(out)  # again without the optimizer state: half the size, same predictions
    val_acc = float("nan")
    if ds_va is not None:
        probs = best.predict(x_va.astype(np.float32), batch_size=256, verbose=0)
        val_acc = float(np.mean(np.argmax(probs, 1) == y_va))
    epochs_run = len(history.get("loss", [])) + initial_epoch
    with open(f"{stem}.config.json", "w") as f:  # what visualize.py needs to rebuild the split
        json.dump({"config": asdict(cfg), "command": " ".join(sys.argv), "init": init, "n_faces": len(faces),
                   "n_train": n_train, "n_val": len(x_va), "val_accuracy": val_acc, "epochs_run": epochs_run,
                   "seconds_this_run": round(seconds, 1)}, f, indent=1)
    speed = steps * cfg.batch_size * (epochs_run - initial_epoch) / max(seconds, 1e-9)
    return Result(best, val_acc, epochs_run, seconds, n_train, len(x_va), f"{stem}.history.csv", speed)
