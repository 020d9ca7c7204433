"""tf.data input pipelines and the augmentation layers.

Augmentation runs on whole batches inside tf.data (Keras preprocessing layers), not in the
model, so the saved model is a plain classifier and `predict` never pays for it. Under the
JAX backend (a GPU machine without TensorFlow) `ferhw3.train.fit` runs the same augmentation layers
inside a training-only wrapper model instead, so only `augmenter` and `smoothed_onehot` are
needed there.
"""

from __future__ import annotations

import numpy as np

try:
    import tensorflow as tf
except ImportError:  # the JAX backend trains from arrays (ferhw3.train.fit) and needs no tf.data
    tf = None
import keras
from keras import layers, Sequential

from .affine import RandomAffine
from .read import NUM_CLASSES


class RandomWindow(layers.Layer):
    """A random `side` x `side` window of the batch (one offset per batch, as RandomCrop
    draws), cut with a slice of static size at a random start; outside training the faces
    pass through whole. For in-model augmentation under JAX, where RandomCrop's slicing
    trained about 100x slower on an H100 than no crop at all."""

    def __init__(self, side: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.side, self.seed = side, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training:
            return x
        h, w = x.shape[1], x.shape[2]
        i = keras.random.randint((), 0, h - self.side + 1, seed=self.seed_generator)
        j = keras.random.randint((), 0, w - self.side + 1, seed=self.seed_generator)
        # the batch size: a static int under JAX, a tensor in a TensorFlow graph
        return keras.ops.slice(x, (0, i, j, 0), (keras.ops.shape(x)[0], self.side, self.side, x.shape[3]))

    def get_config(self):
        return {**super().get_config(), "side": self.side, "seed": self.seed}


def augmenter(crop: int, rotation_deg: float = 10.0, zoom: float = 0.1, shift: float = 0.1,
              seed: int = 0, erase: float = 0.0, in_model: bool = False, side: int = 48) -> Sequential:
    """Horizontal flip, small rotation, zoom and shift (each left out when its strength is 0),
    then a random `crop` x `crop` window (a crop of 0 or 48 means no cropping), then, with
    probability `erase`, random erasing: a patch of 2-25% of the face replaced by noise, so
    the network cannot lean on one region (a mouth, an eye) alone. in_model: the layers run
    inside a training model (the JAX path): flips, rotation, zoom, shift and crop are then one
    `RandomAffine` (a batched gather; Keras's resampling is ~200x slower there), or, with
    no rotation, zoom or shift, a flip and a `RandomWindow`."""
    if in_model and (rotation_deg or zoom or shift):
        steps = [RandomAffine(crop or side, rotation_deg, zoom, shift, seed=seed)]
    else:
        steps = _keras_steps(crop, rotation_deg, zoom, shift, seed, in_model)
    if erase:
        steps.append(_erasing(erase, seed))
    return Sequential(steps, name="augment")


def eraser(erase: float, seed: int = 0) -> Sequential:
    """Random erasing alone (`augmenter`'s last step), for a stream that cuts its own windows."""
    return Sequential([_erasing(erase, seed)], name="augment")


def _erasing(erase: float, seed: int):
    # factor (p, p): Keras draws each image's erasing probability from that range
    return layers.RandomErasing(factor=(erase, erase), scale=(0.02, 0.25), value_range=(0, 255), seed=seed + 5)


def _keras_steps(crop, rotation_deg, zoom, shift, seed, in_model) -> list:
    steps = [layers.RandomFlip("horizontal", seed=seed)]
    if rotation_deg:
        steps.append(layers.RandomRotation(rotation_deg / 360.0, fill_mode="nearest", seed=seed + 1))
    if zoom:
        steps.append(layers.RandomZoom(zoom, fill_mode="nearest", seed=seed + 2))
    if shift:
        steps.append(layers.RandomTranslation(shift, shift, fill_mode="nearest", seed=seed + 3))
    if crop:
        steps.append(RandomWindow(crop, seed=seed + 4) if in_model else layers.RandomCrop(crop, crop, seed=seed + 4))
    return steps


def smoothed_onehot(y: np.ndarray, label_smoothing: float = 0.0) -> np.ndarray:
    """One-hot rows with `label_smoothing` of the mass spread evenly over the 7 classes."""
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[y]
    return onehot * (1 - label_smoothing) + label_smoothing / NUM_CLASSES if label_smoothing else onehot


def mix_batch(images, targets, alpha: float, seed: int, counter):
    """Mixup (Zhang et al. 2018) within a batch: each face blended with another face of the
    batch, and its target with that face's target, by a weight drawn from Beta(alpha, alpha)
    and folded above 0.5 (each face stays mostly itself). The draws are functions of
    (seed, counter) alone, so a resumed run mixes as an uninterrupted one does."""
    n = tf.shape(images)[0]
    s = tf.cast(counter, tf.int32)
    g1 = tf.random.stateless_gamma([n, 1], seed=tf.stack([seed + 7, s]), alpha=alpha)
    g2 = tf.random.stateless_gamma([n, 1], seed=tf.stack([seed + 8, s]), alpha=alpha)
    lam = g1 / tf.maximum(g1 + g2, 1e-12)
    lam = tf.maximum(lam, 1.0 - lam)
    partner = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([seed + 9, s]))
    w = tf.cast(lam[:, :, None, None], images.dtype)  # augmentation under mixed_bfloat16 gives bfloat16 faces
    mixed = w * images + (1.0 - w) * tf.gather(images, partner)
    return mixed, lam * targets + (1.0 - lam) * tf.gather(targets, partner)


def window_grid(side: int, crop: int, grid: int) -> list[int]:
    """The offsets of `grid` evenly spaced `crop`-pixel windows along a `side`-pixel face."""
    room = side - crop
    return [round(k * room / (grid - 1)) for k in range(grid)]


def window_batch(images, crop: int, grid: int, seed: int, counter):
    """A random `crop` x `crop` window of the batch (one offset per batch, as RandomCrop
    draws), each face mirrored with probability 1/2, and for each face the index of the
    nearest of the `grid` x `grid` windows and its mirror, in the order of
    `ferhw3.train.distill.window_views`: (row, column, mirrored). Functions of (seed,
    counter) alone, so a resumed run cuts as an uninterrupted one does."""
    side = int(images.shape[1])
    room = side - crop
    s = tf.cast(counter, tf.int32)
    ij = tf.random.stateless_uniform([2], seed=tf.stack([seed + 4, s]), minval=0, maxval=room + 1, dtype=tf.int32)
    window = tf.ensure_shape(images[:, ij[0]:ij[0] + crop, ij[1]:ij[1] + crop, :],
                             [None, crop, crop, images.shape[3]])
    mirrored = tf.random.stateless_uniform([tf.shape(images)[0]], seed=tf.stack([seed + 6, s])) < 0.5
    window = tf.where(mirrored[:, None, None, None], tf.reverse(window, [2]), window)
    nearest = tf.cast(tf.round(tf.cast(ij, tf.float32) * (grid - 1) / room), tf.int32)
    view = (nearest[0] * grid + nearest[1]) * 2 + tf.cast(mirrored, tf.int32)
    return window, view


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, aug: Sequential | None, seed: int = 0,
                  epochs: range = range(1), mixup: float = 0.0,
                  windows: tuple[int, int] | None = None) -> tf.data.Dataset:
    """Shuffled, augmented batches of faces and targets for the epochs in `epochs`
    (a range: a resumed run's stream begins at its next epoch), one stream of
    `len(x) // batch_size` batches per epoch (pass that as `steps_per_epoch`).

    y: labels (N,), turned into one-hot targets, or ready targets (N, 7) (class
    probabilities: smoothed labels, a teacher's), used as they are.
    mixup: > 0 blends faces and targets within each batch (`mix_batch`).
    windows: (crop, grid): y holds targets per window (N, 2 x grid x grid, 7), e.g. teachers'
    answers on each of the windows `ferhw3.train.distill.window_views` cuts; each batch is cut
    and mirrored here (`window_batch`), each face takes the targets of its nearest window,
    and `aug` follows (it should neither flip nor crop).

    Every random draw is a function of (seed, epoch, batch) alone: the epoch's order comes
    from a stateless shuffle, and the augmentation layers are reseeded before each batch.
    So a run resumed at epoch k sees exactly the batches an uninterrupted run sees from k.
    The uint8 faces stay uint8 in memory (28k faces = 66 MB) and are cast per batch.
    """
    n = len(x)
    steps = n // batch_size
    targets = np.asarray(y, np.float32) if np.ndim(y) >= 2 else smoothed_onehot(y)
    if windows and (targets.ndim != 3 or targets.shape[1] != 2 * windows[1] ** 2):
        raise ValueError(f"targets of shape {targets.shape} for a grid of {windows[1]} x {windows[1]} windows "
                         f"and their mirrors")
    tables = [tf.constant(x), tf.constant(targets)]

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([seed, epoch]))
        batches = tf.reshape(order[: steps * batch_size], [steps, batch_size])
        return tf.data.Dataset.from_tensor_slices((batches, epoch * steps + tf.range(steps, dtype=tf.int64)))

    generators = seed_generators(aug) if aug is not None else []

    def prepare(idx, counter):
        images = tf.cast(tf.gather(tables[0], idx), tf.float32)
        rest = tuple(tf.gather(t, idx) for t in tables[1:])
        if windows:
            images, view = window_batch(images, *windows, seed, counter)
            rest = (tf.gather(rest[0], view, batch_dims=1),) + rest[1:]
        if aug is not None:
            reseed(generators, counter)
            images = aug(images, training=True)
        if mixup:
            images, mixed = mix_batch(images, rest[0], mixup, seed, counter)
            rest = (mixed,) + rest[1:]
        return (images,) + rest

    ds = tf.data.Dataset.range(epochs.start, max(epochs.stop, epochs.start)).flat_map(epoch_batches)
    # One map call at a time: reseeding and drawing must not interleave between batches.
    return ds.map(prepare, num_parallel_calls=1).prefetch(tf.data.AUTOTUNE)


def seed_generators(layer) -> list:
    """(generator, its base seed) for every random generator inside `layer`, read eagerly."""
    gens = []
    for sub in [layer, *layer._flatten_layers(include_self=False)]:
        gens += [(g, int(g.state.numpy()[0])) for g in getattr(sub, "_seed_generators", [])]
    return gens


def reseed(generators, counter) -> None:
    """Set each generator to (its base seed, `counter`): the draws that follow depend on the
    counter only, not on how many draws came before (works eagerly and inside tf.data)."""
    for gen, base in generators:
        gen.state.assign(tf.stack([tf.constant(base, gen.state.dtype),
                                   tf.cast(counter, gen.state.dtype) * 1024]))


def eval_dataset(x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 256) -> tf.data.Dataset:
    onehot = None if y is None else np.eye(NUM_CLASSES, dtype=np.float32)[y]
    parts = x if onehot is None else (x, onehot)
    ds = tf.data.Dataset.from_tensor_slices(parts).batch(batch_size)
    if onehot is None:
        return ds.map(lambda a: tf.cast(a, tf.float32)).prefetch(tf.data.AUTOTUNE)
    return ds.map(lambda a, b: (tf.cast(a, tf.float32), b)).prefetch(tf.data.AUTOTUNE)
