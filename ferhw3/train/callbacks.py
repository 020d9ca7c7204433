"""The Keras callbacks of a training run, and Ctrl-C handling.

Each one carries a run across a kill and a --resume: the best model and the checkpoint are
written atomically, early stopping and the clock continue from the history, and dropout
draws the masks an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time

import keras
import numpy as np

from ..data.pipeline import reseed, seed_generators
from ..runfiles import RunFiles, replace_atomically, save_model


class ElapsedMinutes(keras.callbacks.Callback):
    """Adds `minutes` (wall-clock since the run began, `offset` before this process) to each
    epoch's logs, so the history records accuracy against training time."""

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.offset = offset

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["minutes"] = self.offset + (time.time() - self.start) / 60


class HistoryCSV(keras.callbacks.Callback):
    """The per-epoch history as CSV (the columns of Keras's CSVLogger: epoch, then the logs
    sorted by name), rewritten whole through a temporary file after every epoch, so a kill
    never leaves half a row. A resumed run starts from the rows already there."""

    def __init__(self, files: RunFiles, append: bool):
        super().__init__()
        self.files = files
        past = files.read_history() if append else None
        self.rows = [] if past is None else past.to_dict("records")

    def on_epoch_end(self, epoch, logs=None):
        import pandas as pd

        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        table = pd.DataFrame(self.rows)
        table = table[["epoch"] + sorted(c for c in table.columns if c != "epoch")]
        with self.files.saving("the history"):
            replace_atomically(self.files.history, lambda tmp: table.to_csv(tmp, index=False))


class SaveBest(keras.callbacks.Callback):
    """Saves `classifier` to `path` (through a temporary file) whenever `monitor` beats the
    best so far (`best`: the best of a resumed run's history). `classifier` may differ from
    the model fit() trains, e.g. a wrapper that augments before it (the JAX path), so the
    saved file is always the plain classifier."""

    def __init__(self, classifier, path: str, monitor: str, best: float | None = None):
        super().__init__()
        self.classifier, self.path, self.monitor, self.best = classifier, path, monitor, best
        self.files = RunFiles(path)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or (self.best is not None and float(value) <= self.best):
            return
        self.best = float(value)
        self.model  # on JAX, reading the property writes the training state back into the variables
        with self.files.saving("the best model"):
            save_model(self.classifier, self.path)


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


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves the latest epoch (weights + optimizer state) and the run state after each epoch."""

    def __init__(self, files: RunFiles, config: dict):
        super().__init__()
        self.files, self.config = files, config

    def on_epoch_end(self, epoch, logs=None):
        self.files.save_checkpoint(self.model, epoch + 1, self.config, logs)


class StopAtEpochEnd(keras.callbacks.Callback):
    """Stops training at the end of the epoch in which `requested` became true, after the
    other epoch-end callbacks have saved it."""

    def __init__(self, requested: list):
        super().__init__()
        self.requested = requested

    def on_epoch_end(self, epoch, logs=None):
        if self.requested:
            self.model.stop_training = True


@contextlib.contextmanager
def stop_on_ctrl_c(files: RunFiles):
    """Ctrl-C lets the current epoch finish, its checkpoint be saved, and then stops: a
    stopped epoch is never saved as a whole one, so --resume goes on exactly as a run that
    was never stopped. A second Ctrl-C stops at once (the last finished epoch is kept).
    Yields the callback that stops at the epoch's end, for fit()."""
    interrupted = []

    def on_sigint(signum, frame):
        if interrupted:
            raise KeyboardInterrupt
        interrupted.append(True)
        print("\nCtrl-C: stopping at the end of this epoch, once its checkpoint is saved (again to quit now, "
              "keeping the last finished epoch)", file=sys.stderr)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        yield StopAtEpochEnd(interrupted)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt(f"stopped; {files.checkpoint_epoch()} epochs saved in {files.checkpoint}, "
                                f"continue with --resume")
