"""A training-time budget: measure the recipe's speed here, size the epochs to the budget,
and stop before an epoch that would end past it."""

from __future__ import annotations

import time

import keras
import numpy as np

from ..data.pipeline import smoothed_onehot, train_dataset
from ..data.read import Faces
from ..runfiles import RunFiles
from .config import Config
from .step import build_step

# What a validation face costs, in training faces: predicting it, plus each epoch's two
# checkpoint saves spread over the 2,871 faces (measured on a one-hour run: its epochs took
# 1.08x the time of their training steps alone).
VALIDATION_COST = 0.7
PROBE_STEPS, PROBE_WARMUP = 30, 10


class _BatchClock(keras.callbacks.Callback):
    """The time at the end of each training batch."""

    def on_train_begin(self, logs=None):
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def training_speed(model_fn, faces: Faces, cfg: Config, steps: int = PROBE_STEPS, warmup: int = PROBE_WARMUP) -> float:
    """Training images/s of this recipe on this machine: its model, optimiser, precision and
    augmentation on real training faces, timed over `steps` batches that follow `warmup`
    untimed ones (tracing or compiling, filling the pipeline) within one `fit`, as in a long
    run: the tf.data stream on TensorFlow, arrays through the in-model augmentation on other
    backends (as ferhw3.train.fit feeds them there)."""
    from .fit import split

    tr, _ = split(faces, cfg)
    x, y = faces.x[tr][:4096], smoothed_onehot(faces.labels[tr][:4096], cfg.label_smoothing)
    step = build_step(model_fn, cfg, faces.x.shape[1], steps_per_epoch=100)  # the step the run will take
    model = step.trainer
    clock = _BatchClock()
    if not step.arrays:
        ds = train_dataset(x, y, cfg.batch_size, step.aug, seed=cfg.seed, epochs=range(1000), mixup=cfg.mixup)
        model.fit(ds, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[clock], shuffle=False)
    else:
        reps = -(-(warmup + steps) * cfg.batch_size // len(x))  # the faces repeated to fill the probe
        xs, ys = np.tile(x.astype(np.float32), (reps, 1, 1, 1)), np.tile(y, (reps, 1))
        n = (warmup + steps) * cfg.batch_size
        model.fit(xs[:n], ys[:n], batch_size=cfg.batch_size, epochs=1, verbose=0, callbacks=[clock], shuffle=False)
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


def plan(model_fn, faces: Faces, cfg: Config, files: RunFiles, resume: bool, n_extra: int = 0) -> Deadline:
    """Size cfg.epochs to cfg.minutes from the speed measured here (recorded in cfg.extra),
    and return the Deadline callback. A resumed run keeps the epochs it was sized to and what
    is left of its budget."""
    from .fit import split

    state = files.state() if resume else None
    if state:  # the schedule was sized when the run began
        saved = state["config"]
        cfg.epochs, cfg.extra = saved["epochs"], {**saved.get("extra", {}), **cfg.extra}
        cfg.minutes = saved.get("minutes") or cfg.extra.get("minutes", cfg.minutes)
        spent = files.minutes_spent()
        print(f"budget: resuming a {cfg.minutes:g}-minute run of {cfg.epochs} epochs ({spent:.1f} minutes spent)")
        return Deadline(time.time() + (cfg.minutes - spent) * 60)
    deadline = time.time() + cfg.minutes * 60
    start = time.perf_counter()
    speed = training_speed(model_fn, faces, cfg)
    tr, va = split(faces, cfg)
    n_train = len(tr) + n_extra
    cfg.epochs = epochs_for_minutes(cfg.minutes, speed, n_train, len(va), time.perf_counter() - start)
    if cfg.max_epochs:
        cfg.epochs = min(cfg.epochs, cfg.max_epochs)
    cfg.extra.update(measured_images_per_second=round(speed))
    print(f"budget: {cfg.minutes:g} min at {speed:.0f} training images/s (measured here) -> {cfg.epochs} epochs "
          f"of {n_train:,} faces")
    return Deadline(deadline)
