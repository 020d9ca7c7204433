"""Half-size model files: store a saved .h5 model's float32 weights as float16.

    python -m ferhw3 compact MODEL.h5 [OUT.h5]      (in place without OUT)

Keras loads such a file into the usual float32 model (each weight is cast when it is
assigned), so nothing that reads the models changes. It is how the shipped models fit the
repository's size limit: a 2.9M-parameter network takes 5.6 MiB instead of 11.3, and its
probabilities move by about 1e-3 (float16 keeps 11 significant bits; the models were
trained in bfloat16, which keeps 8). Validation accuracies in the README are measured on
the compacted files.
"""

from __future__ import annotations

import h5py
import numpy as np


def _copy(src: h5py.Group, dst: h5py.Group) -> int:
    """Copy groups, datasets and attributes, float32 datasets as float16; returns how many."""
    for key, value in src.attrs.items():
        dst.attrs[key] = value
    halved = 0
    for name, obj in src.items():
        if isinstance(obj, h5py.Group):
            halved += _copy(obj, dst.create_group(name))
            continue
        data = obj[()]
        if isinstance(data, np.ndarray) and data.dtype == np.float32:
            data, halved = data.astype(np.float16), halved + 1
        out = dst.create_dataset(name, data=data)
        for key, value in obj.attrs.items():
            out.attrs[key] = value
    return halved


def halve_h5(src: str, dst: str | None = None) -> int:
    """Write `src` (a Keras .h5 model) to `dst` (default: over `src`) with float16 weights.

    Written to a temporary file first and renamed, so a failure leaves no half-written
    model. Returns the number of weight arrays halved."""
    from ..runfiles import replace_atomically

    halved = []

    def write(tmp):
        with h5py.File(src, "r") as a, h5py.File(tmp, "w") as b:
            if "model_weights" not in a:
                raise ValueError(f"{src}: not a Keras .h5 model (no model_weights group)")
            halved.append(_copy(a, b))

    replace_atomically(dst or src, write, suffix=".h5")
    return halved[0]
