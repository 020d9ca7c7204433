"""tf.data input pipelines and the augmentation layers.

Augmentation runs on whole batches inside tf.data (Keras preprocessing layers), not in the
model, so the saved model is a plain classifier and `predict` never pays for it.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import layers, Sequential

from .data import NUM_CLASSES


def augmenter(crop: int, rotation_deg: float = 10.0, zoom: float = 0.1, shift: float = 0.1,
              seed: int = 0) -> Sequential:
    """Horizontal flip, small rotation, zoom and shift, then a random `crop` x `crop` window
    (a crop of 48 means no cropping)."""
    steps = [
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(rotation_deg / 360.0, fill_mode="nearest", seed=seed + 1),
        layers.RandomZoom(zoom, fill_mode="nearest", seed=seed + 2),
        layers.RandomTranslation(shift, shift, fill_mode="nearest", seed=seed + 3),
    ]
    if crop:
        steps.append(layers.RandomCrop(crop, crop, seed=seed + 4))
    return Sequential(steps, name="augment")


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, aug: Sequential | None,
                  seed: int = 0, label_smoothing: float = 0.0, sample_weight=None) -> tf.data.Dataset:
    """Shuffled, augmented, one-hot (optionally smoothed) batches, prefetched.

    The uint8 faces stay uint8 in memory (28k faces = 66 MB) and are cast per batch.
    """
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[y]
    if label_smoothing:
        onehot = onehot * (1 - label_smoothing) + label_smoothing / NUM_CLASSES
    parts = (x, onehot) if sample_weight is None else (x, onehot, sample_weight.astype(np.float32))
    ds = tf.data.Dataset.from_tensor_slices(parts)
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size, drop_remainder=True)

    def prepare(*batch):
        images = tf.cast(batch[0], tf.float32)
        if aug is not None:
            images = aug(images, training=True)
        return (images,) + batch[1:]

    # One map call at a time: the augmentation layers draw from a seeded random state, and
    # parallel calls would draw from it in a different order each run.
    return ds.map(prepare, num_parallel_calls=1).prefetch(tf.data.AUTOTUNE)


def eval_dataset(x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 256) -> tf.data.Dataset:
    onehot = None if y is None else np.eye(NUM_CLASSES, dtype=np.float32)[y]
    parts = x if onehot is None else (x, onehot)
    ds = tf.data.Dataset.from_tensor_slices(parts).batch(batch_size)
    if onehot is None:
        return ds.map(lambda a: tf.cast(a, tf.float32)).prefetch(tf.data.AUTOTUNE)
    return ds.map(lambda a, b: (tf.cast(a, tf.float32), b)).prefetch(tf.data.AUTOTUNE)
