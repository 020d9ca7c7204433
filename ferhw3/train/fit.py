"""fit(): train a model on FER2013 faces with a recipe's config; resumable and repeatable."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np

from ..data.pipeline import eval_dataset, smoothed_onehot, train_dataset
from ..data.read import Faces, stratified_split
from ..errors import SettingError, UsageError
from ..runfiles import RunFiles, save_model
from . import distill
from .callbacks import ElapsedMinutes, HistoryCSV, ReseedDropout, ResumableCheckpoint, ResumableEarlyStopping, \
    SaveBest, stop_on_ctrl_c
from .config import Config
from .step import Step, build_step, feeds_arrays


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


@dataclass
class Extras:
    """What a run adds to its recipe and faces (all optional).

    resume: continue from the checkpoint beside `out`; init: start from this saved model's
    weights (a new schedule); extra_train: (x, y) added to the training part only (e.g.
    pseudo-labelled faces), y labels (N,) or soft targets (N, 7); train_subset: positions
    within the training part to train on (validation unchanged); teacher: faces -> class
    probabilities, asked about the training faces only, its share of each target
    cfg.distill (knowledge distillation); callbacks: more Keras callbacks; record: more
    fields for the run record (recipe, overrides, command)."""

    resume: bool = False
    init: str | None = None
    extra_train: tuple | None = None
    train_subset: np.ndarray | None = None
    teacher: object = None
    callbacks: tuple = ()
    record: dict | None = None


def split(faces: Faces, cfg: Config):
    """(training, validation) positions of the recipe's stratified split."""
    return stratified_split(faces.labels, cfg.val_size, cfg.validation_seed)


def _init_from(model, init: str, arch: str) -> None:
    """Start `model` from the weights of the model saved at `init` (same architecture)."""
    from ..infer.modelfile import load_model

    start = load_model(init)
    try:
        model.set_weights(start.get_weights())
    except ValueError:
        raise UsageError(f"{init}: --init model is a {start.name} whose weights do not fit {arch}; "
                         f"give --arch its architecture") from None


def _targets(y, extra, teacher, x, weight, label_smoothing, verbose):
    """Training targets: smoothed one-hot labels, then the extra faces' targets (labels, or
    probability rows used as they are), then with a teacher its share mixed in. A teacher
    that answers per window (`distill.window_teacher`) is asked about the labelled faces
    only, and the extra faces come with its answers on their windows, used as they are."""
    targets = smoothed_onehot(y, label_smoothing)
    if getattr(teacher, "windows", 0):
        soft = teacher(x[:len(y)])
        _say_teacher(soft.mean(axis=1), y, len(soft), weight, verbose)
        targets = distill.mix(targets, soft, weight)
        if extra is None:
            return targets
        if np.ndim(extra[1]) != 3:
            raise ValueError("the extra faces of a run whose teacher answers per window need its answers per window")
        return np.concatenate([targets, extra[1]])
    if extra is not None:
        ex = extra[1]
        targets = np.concatenate([targets, ex if np.ndim(ex) == 2 else smoothed_onehot(ex, label_smoothing)])
    if teacher is None:
        return targets
    soft = teacher(x)
    _say_teacher(soft, y, len(x), weight, verbose)
    return distill.mix(targets, soft, weight)


def _say_teacher(soft, y, n, weight, verbose):
    if verbose:
        print(f"distillation: teacher probabilities for the {n:,} training faces (teacher accuracy on the "
              f"{len(y):,} labelled ones {np.mean(soft[:len(y)].argmax(1) == y):.4f}), weight {weight}")


def _restore(trainer, files: RunFiles, cfg: Config, verbose: int) -> int:
    """Load the checkpoint's weights and optimizer state into `trainer`; the epochs it holds.
    (A .keras file's compile config has no optimizer in Keras 3.15 and load_model would
    silently compile RMSprop, so ours is rebuilt and the state loaded into it.)"""
    saved = (files.state() or {}).get("config", {})
    for key in ("arch", "batch_size"):
        if key in saved and saved[key] != getattr(cfg, key):
            raise UsageError(f"{files.checkpoint}: --resume of a run with {key}={saved[key]}, not "
                             f"{getattr(cfg, key)}; resume with the same settings, or choose another --out")
    if verbose and saved.get("precision", cfg.precision) != cfg.precision:
        # both keep float32 weights, so the checkpoint loads as it is (a run begun where the CPU
        # has bfloat16 instructions continues in float32 where it has none: ferhw3.train.step)
        print(f"Resuming a {saved['precision']} run in {cfg.precision}")
    trainer.optimizer.build(trainer.trainable_variables)
    try:
        trainer.load_weights(files.checkpoint)
    except (ValueError, OSError) as e:
        raise UsageError(f"{files.checkpoint}: cannot resume from this checkpoint ({str(e).splitlines()[0][:100]})") from None
    epoch = files.checkpoint_epoch()
    files.truncate_history(epoch)
    if verbose:
        print(f"Resuming from {files.checkpoint} after epoch {epoch} "
              f"(optimizer step {int(trainer.optimizer.iterations.numpy())})")
    return epoch


def _feed(step: Step, x_tr, targets, x_va, y_va, cfg: Config, steps: int, initial_epoch: int) -> dict:
    """fit()'s data arguments: a tf.data stream whose order and augmentation are functions of
    (seed, epoch, batch), so resume-exact; or arrays that Keras shuffles (seeded), augmented
    inside the model (not resume-exact)."""
    if not step.arrays:
        windows = (cfg.crop, cfg.teacher_windows) if targets.ndim == 3 else None
        return dict(x=train_dataset(x_tr, targets, cfg.batch_size, step.aug, seed=cfg.seed, mixup=cfg.mixup,
                                    epochs=range(initial_epoch, cfg.epochs), windows=windows),
                    steps_per_epoch=steps, shuffle=False,
                    validation_data=eval_dataset(x_va, y_va) if len(x_va) else None)
    if targets.ndim == 3:
        raise UsageError("teacher_windows needs the tf.data feed (TensorFlow): fed arrays, the crops are cut "
                         "inside the model, where the teachers' answers per window cannot follow them")
    return dict(x=x_tr.astype(np.float32), y=targets, batch_size=cfg.batch_size, shuffle=True,
                validation_batch_size=256,
                validation_data=(x_va.astype(np.float32), smoothed_onehot(y_va)) if len(x_va) else None)


def _callbacks(model, files: RunFiles, cfg: Config, monitor: str, initial_epoch: int, on_tf: bool,
               verbose: int) -> list:
    """The run's callbacks; on resume the clock, early stopping and the best model continue
    from the history."""
    past = files.read_history() if initial_epoch else None
    past = past[monitor] if past is not None and monitor in past else ()
    return [
        ElapsedMinutes(files.minutes_spent() if initial_epoch else 0.0),
        SaveBest(model, files.out, monitor, best=float(max(past)) if len(past) else None),
        HistoryCSV(files, append=initial_epoch > 0),
        ResumableEarlyStopping(past=past, monitor=monitor, patience=cfg.patience, verbose=verbose),
        ResumableCheckpoint(files, cfg.to_dict()),
        *([ReseedDropout()] if on_tf else []),
        *([keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.5,
                                             patience=max(cfg.patience // 3, 2), verbose=verbose)]
          if cfg.schedule == "plateau" else []),
    ]


def fit(model_fn, faces: Faces, cfg: Config, out: str, extras: Extras | None = None, strategy=None,
        feed: str = "auto", verbose: int = 1) -> Result:
    """Train `model_fn()` on `faces` with `cfg` (and what `extras` adds); save the best model
    to `out` (run files: `ferhw3.runfiles`). feed: see ferhw3.train.step.feeds_arrays; strategy: a
    tf.distribute strategy. A second training with the same `out` is refused while this one
    runs (RunFiles.lock, taken here and only here)."""
    x = extras or Extras()
    files = RunFiles(out)
    with files.lock():
        return _fit(model_fn, faces, cfg, files, x, strategy, feed, verbose)


def _fit(model_fn, faces: Faces, cfg: Config, files: RunFiles, x: Extras, strategy, feed: str, verbose: int) -> Result:
    out = files.out
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tr, va = split(faces, cfg)
    tr = tr if x.train_subset is None else tr[x.train_subset]
    x_tr = faces.x[tr] if x.extra_train is None else np.concatenate([faces.x[tr], x.extra_train[0]])
    x_va, y_va = faces.x[va], faces.labels[va]
    if len(x_tr) < cfg.batch_size:
        raise SettingError("", "batch_size", cfg.batch_size, f"is larger than the {len(x_tr)} training faces")
    try:
        arrays = feeds_arrays(feed)
        # arrays end each epoch with a partial batch; the tf.data stream drops it
        steps = math.ceil(len(x_tr) / cfg.batch_size) if arrays else len(x_tr) // cfg.batch_size
        step = build_step(model_fn, cfg, faces.x.shape[1], steps, feed, strategy,
                          start=(lambda m: _init_from(m, x.init, cfg.arch)) if x.init else None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    initial_epoch = 0
    if x.resume and files.has_checkpoint():
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            initial_epoch = _restore(step.trainer, files, cfg, verbose)
    model, trainer = step.model, step.trainer
    targets = _targets(faces.labels[tr], x.extra_train, x.teacher, x_tr, cfg.distill, cfg.label_smoothing, verbose)

    data = _feed(step, x_tr, targets, x_va, y_va, cfg, steps, initial_epoch)
    monitor = "val_accuracy" if len(va) else "accuracy"
    callbacks = _callbacks(model, files, cfg, monitor, initial_epoch, step.on_tf, verbose) + list(x.callbacks)
    start, history = time.time(), {}
    with stop_on_ctrl_c(files) as at_epoch_end:
        if cfg.epochs > initial_epoch:
            history = trainer.fit(**data, epochs=cfg.epochs, initial_epoch=initial_epoch,
                                  callbacks=callbacks + [at_epoch_end], verbose=verbose).history
        elif not (x.resume and os.path.exists(out)):  # nothing to train (--epochs 0 --init M): M as it is
            with files.saving("the model"):           # (a finished run resumed keeps its best model)
                save_model(model, out)
    seconds = time.time() - start
    best = keras.models.load_model(out, compile=False) if os.path.exists(out) else model
    if cfg.epochs > initial_epoch or not os.path.exists(out):
        with files.saving("the best model"):
            save_model(best, out)  # again without the optimizer state: half the size, same predictions
    val_acc = float(np.mean(best.predict(x_va.astype(np.float32), batch_size=256, verbose=0).argmax(1) == y_va)) \
        if len(va) else float("nan")
    epochs_run = len(history.get("loss", [])) + initial_epoch
    files.write_record({**(x.record or {}), "command": " ".join(sys.argv), "config": cfg.to_dict(), "init": x.init,
                        "n_faces": len(faces), "n_train": len(x_tr), "n_val": len(x_va), "val_accuracy": val_acc,
                        "epochs_run": epochs_run, "seconds_this_run": round(seconds, 1)})
    speed = steps * cfg.batch_size * (epochs_run - initial_epoch) / max(seconds, 1e-9)
    return Result(best, val_acc, epochs_run, seconds, len(x_tr), len(x_va), files.history, speed)
