"""Mean teacher (Tarvainen & Valpola, 2017): semi-supervised fine-tuning with a consistency
target instead of pseudo-labels.

The student trains on labelled faces as usual, plus, on every step, a batch of unlabelled
faces: its prediction for one augmented view is pulled (squared error between probability
vectors) towards the teacher's prediction for another view of the same face. The teacher
is not trained: after each step its weights (batch-norm statistics included) move to an
exponential moving average of the student's, so its targets are steadier than any single
student's and need no threshold, no cap and no hard label: every unlabelled face counts,
weighted by how much the two views disagree. Validation and the saved model are the
teacher's. Validation faces are never among the unlabelled ones.
"""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf

from ..data.pipeline import eval_dataset, smoothed_onehot, train_dataset
from ..errors import UsageError
from ..runfiles import copy_file, save_model, stem_of
from .fit import Result, split
from .optim import make_optimizer
from .step import build_step, recipe_augmenter


class MeanTeacher(keras.Model):
    """Wraps a student and its EMA teacher; `fit` on ((x, y), (u_view1, u_view2)) batches."""

    def __init__(self, student: keras.Model, teacher: keras.Model, weight: float, ema: float):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.weight, self.ema = weight, ema
        self.teacher.trainable = False

    def call(self, x, training=False):
        return self.teacher(x, training=False)

    def train_step(self, data):
        (x, y), (u1, u2) = data
        target = self.teacher(u2, training=False)
        with tf.GradientTape() as tape:
            supervised = tf.reduce_mean(keras.losses.categorical_crossentropy(y, self.student(x, training=True)))
            drift = tf.cast(self.student(u1, training=True), tf.float32) - tf.cast(target, tf.float32)
            consistency = tf.reduce_mean(tf.reduce_sum(tf.square(drift), axis=1))
            loss = supervised + self.weight * consistency + tf.add_n(self.student.losses or [0.0])
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        for t, s in zip(self.teacher.weights, self.student.weights):
            t.assign(self.ema * t + (1.0 - self.ema) * s)
        return {"loss": loss, "supervised": supervised, "consistency": consistency}


EMA = 0.99  # the teacher's weights: this share of theirs and the rest of the student's, after each step


def mean_teacher(model_fn, faces, cfg, x_unlabelled: np.ndarray, start_path: str, out: str, steps: int,
                 train_subset: np.ndarray | None = None) -> Result:
    """Fine-tune the model saved at `start_path` for `steps` optimiser steps (cfg's optimiser,
    a cosine from cfg.lr / 5, no warm-up, as self-training's rounds), each on a labelled
    batch of the training part (or its `train_subset`) and an unlabelled batch of
    `x_unlabelled`, consistency weight cfg.mean_teacher. The student is the step
    `ferhw3.train.step.build_step` makes of cfg (precision, fused batch norm, augmentation); the
    teacher is validated after every pass over the labelled faces, the best one saved to
    `out`. TensorFlow only (its train step is written with tf.GradientTape). Returns its Result."""
    if keras.backend.backend() != "tensorflow":
        raise UsageError("mean_teacher: the mean-teacher fine-tune runs on TensorFlow's backend only")
    tr, va = split(faces, cfg)
    if train_subset is not None:
        tr = tr[train_subset]
    bs = cfg.batch_size
    per_pass = max(1, len(tr) // bs)
    passes = max(1, round(steps / per_pass))
    tune = dataclasses.replace(cfg, lr=cfg.lr / 5, warmup_epochs=0, epochs=passes)
    start = keras.models.load_model(start_path, compile=False)
    step = build_step(model_fn, tune, faces.x.shape[1], per_pass, feed="tf.data",
                      start=lambda m: m.set_weights(start.get_weights()), compiled=False)
    student, teacher = step.model, model_fn()
    teacher.set_weights(start.get_weights())

    labelled = train_dataset(faces.x[tr], smoothed_onehot(faces.labels[tr], cfg.label_smoothing), bs, step.aug,
                             seed=cfg.seed, epochs=range(passes))
    # two views of the same unlabelled faces: one shuffle seed, two augmentation seeds
    n_u = per_pass * passes * bs
    reps = int(np.ceil(n_u / max(len(x_unlabelled), 1))) + 1  # whole batches only: one pass spare
    no_labels = np.zeros(len(x_unlabelled), np.int64)
    views = [train_dataset(x_unlabelled, no_labels, bs,
                           recipe_augmenter(dataclasses.replace(cfg, seed=cfg.seed + 100 * k), faces.x.shape[1]),
                           seed=cfg.seed + 1, epochs=range(reps)).map(lambda img, _: img) for k in (1, 2)]
    ds = tf.data.Dataset.zip((labelled, tf.data.Dataset.zip((views[0], views[1])))).prefetch(2)

    model = MeanTeacher(student, teacher, cfg.mean_teacher, EMA)
    model.compile(optimizer=make_optimizer(tune, per_pass))
    x_va, y_va = faces.x[va], faces.labels[va]
    val = eval_dataset(x_va)
    best = {"acc": -1.0}

    class KeepBestTeacher(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            acc = float(np.mean(teacher.predict(val, verbose=0).argmax(1) == y_va))
            logs["val_accuracy"] = acc
            if acc > best["acc"]:
                best["acc"] = acc
                save_model(teacher, out)

    t = time.time()
    model.fit(ds, epochs=passes, steps_per_epoch=per_pass, callbacks=[KeepBestTeacher()], verbose=1)
    seconds = time.time() - t
    keras.mixed_precision.set_global_policy("float32")
    return Result(keras.models.load_model(out, compile=False), best["acc"], passes, seconds, len(tr), len(va), "",
                  per_pass * passes * bs / seconds)


def fine_tune(model_fn, faces, cfg, x_unlabelled: np.ndarray, supervised: Result, out: str) -> Result:
    """Mean-teacher fine-tuning of the supervised model saved at `out` for
    cfg.self_train_epochs passes, weight cfg.mean_teacher; the teacher is saved beside it as
    STEM.meanteacher.h5, and `out` keeps the better of the two by validation accuracy."""
    mt_out = f"{stem_of(out)}.meanteacher.h5"
    steps = cfg.self_train_epochs * (supervised.n_train // cfg.batch_size)
    print(f"mean teacher: {steps} steps on {supervised.n_train:,} labelled + {len(x_unlabelled):,} unlabelled "
          f"faces, consistency weight {cfg.mean_teacher}", flush=True)
    mt = mean_teacher(model_fn, faces, cfg, x_unlabelled, out, mt_out, steps)
    print(f"mean teacher: val_accuracy {mt.val_accuracy:.4f} (before: {supervised.val_accuracy:.4f})", flush=True)
    mt.seconds += supervised.seconds
    if mt.val_accuracy > supervised.val_accuracy:
        copy_file(mt_out, out)
        return mt
    supervised.seconds = mt.seconds
    return supervised
