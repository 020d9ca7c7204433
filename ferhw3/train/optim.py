"""The optimiser and its learning-rate schedule."""

from __future__ import annotations

import math

import keras

from .config import Config


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
    # with the plateau schedule a callback (ReduceLROnPlateau) lowers a constant rate
    lr = (WarmupCosine(cfg.lr, cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch)
          if cfg.schedule == "cosine" else cfg.lr)
    wd = cfg.weight_decay or None
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay or 1e-4)


def compile_model(model: keras.Model, cfg: Config, steps_per_epoch: int, jit_compile="auto") -> keras.Model:
    model.compile(optimizer=make_optimizer(cfg, steps_per_epoch), loss="categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model
