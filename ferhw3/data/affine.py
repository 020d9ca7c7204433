"""Random affine augmentation as one batched bilinear gather, for training on an accelerator.

Keras's RandomRotation and RandomZoom resample through `affine_transform`, which under JAX
trained about 200x slower on an H100 than flips and crops alone
(bench/results_aug_speed_jax.md). `RandomAffine` draws, per face, a mirror, a rotation, a
scale and a shift, folds the random crop into the same map, and reads each output pixel
from its four source neighbours with one `take` over the flattened batch: a few
elementwise operations and a gather, which XLA runs at about the speed of the crop.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops


class RandomAffine(layers.Layer):
    """Per face: a horizontal mirror (p 0.5), a rotation of up to `rotation` degrees, a scale
    within 1 +- `zoom` (above 1 magnifies), a shift of up to `shift` of the side, and an
    `out` x `out` window at a random place (the crop), resampled bilinearly; a source point
    off the face reads the nearest edge pixel (Keras's fill_mode="nearest"). Outside
    training the faces pass through whole, so a model that holds the layer predicts on
    48x48 faces as the saved classifier does.

    The geometry runs in float32 whatever the precision policy: coordinates in bfloat16
    would be a pixel off at the far side of a 48-pixel face."""

    def __init__(self, out: int, rotation: float = 10.0, zoom: float = 0.2, shift: float = 0.1,
                 flip: bool = True, seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.out, self.rotation, self.zoom, self.shift, self.flip, self.seed = out, rotation, zoom, shift, flip, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def sample_params(self, n):
        """(mirror +-1, angle in radians, scale, shift_y, shift_x in pixels) for n faces."""
        def u(lo, hi):
            return keras.random.uniform((n,), lo, hi, seed=self.seed_generator)

        mirror = ops.where(u(0.0, 1.0) < 0.5, -1.0, 1.0) if self.flip else ops.ones((n,))
        angle = u(-1.0, 1.0) * (self.rotation * math.pi / 180.0)
        scale = u(1.0 - self.zoom, 1.0 + self.zoom)
        return mirror, angle, scale, u(-1.0, 1.0), u(-1.0, 1.0)

    def call(self, x, training=False):
        if not training:
            return x
        n = ops.shape(x)[0]
        mirror, angle, scale, ry, rx = self.sample_params(n)
        return self.transform(x, mirror, angle, scale, ry, rx)

    def transform(self, x, mirror, angle, scale, ry, rx):
        """The faces `x` (N, H, W, C) mapped with the given per-face parameters; ry, rx in
        [-1, 1] place the window: 1 is the farthest the crop slack plus `shift` allows."""
        x = ops.cast(x, "float32")
        n = ops.shape(x)[0]
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        reach_y = (h - self.out) / 2 + self.shift * h
        reach_x = (w - self.out) / 2 + self.shift * w
        grid = ops.arange(self.out, dtype="float32") - (self.out - 1) / 2
        gy, gx = grid[None, :, None], grid[None, None, :]  # (1, out, 1), (1, 1, out)

        def per_face(v):
            return ops.reshape(v, (-1, 1, 1))

        cos, sin = per_face(ops.cos(angle) / scale), per_face(ops.sin(angle) / scale)
        mx = gx * per_face(mirror)
        sx = cos * mx - sin * gy + ((w - 1) / 2 + per_face(rx) * reach_x)
        sy = sin * mx + cos * gy + ((h - 1) / 2 + per_face(ry) * reach_y)
        sx, sy = ops.clip(sx, 0.0, w - 1.0), ops.clip(sy, 0.0, h - 1.0)
        x0, y0 = ops.floor(sx), ops.floor(sy)
        wx, wy = (sx - x0)[..., None], (sy - y0)[..., None]
        x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
        x1, y1 = ops.minimum(x0 + 1, w - 1), ops.minimum(y0 + 1, h - 1)

        flat = ops.reshape(x, (-1, c))
        base = ops.reshape(ops.arange(n, dtype="int32") * (h * w), (-1, 1, 1))

        def read(yy, xx):
            return ops.take(flat, base + yy * w + xx, axis=0)  # (N, out, out, C)

        top = read(y0, x0) * (1 - wx) + read(y0, x1) * wx
        bottom = read(y1, x0) * (1 - wx) + read(y1, x1) * wx
        return top * (1 - wy) + bottom * wy

    def compute_output_shape(self, input_shape):
        return input_shape  # outside training; in training (N, out, out, C)

    def get_config(self):
        return {**super().get_config(), "out": self.out, "rotation": self.rotation, "zoom": self.zoom,
                "shift": self.shift, "flip": self.flip, "seed": self.seed}
