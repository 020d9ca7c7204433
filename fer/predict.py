"""Prediction: class probabilities from one model or an ensemble, with test-time augmentation."""

from __future__ import annotations

import numpy as np

from .data import write_csv_atomic

TTA_MODES = ("none", "flip")


def predict_proba(models, x: np.ndarray, tta: str = "flip", batch_size: int = 512) -> np.ndarray:
    """Mean softmax over `models` (and over the mirrored face when tta == "flip").

    x: uint8 or float faces (N, 48, 48, 1). Returns float32 (N, 7).
    """
    if tta not in TTA_MODES:
        raise ValueError(f"unknown tta {tta!r}; choose from {', '.join(TTA_MODES)}")
    views = [x.astype(np.float32)]
    if tta == "flip":
        views.append(views[0][:, :, ::-1, :])
    total = None
    for model in models:
        for v in views:
            p = model.predict(v, batch_size=batch_size, verbose=0)
            total = p if total is None else total + p
    return (total / (len(models) * len(views))).astype(np.float32)


def write_submission(path: str, ids: np.ndarray, labels: np.ndarray) -> None:
    """The Kaggle `id,label` CSV, in the given id order, written atomically."""
    write_csv_atomic(path, "id,label", (f"{i},{l}" for i, l in zip(ids.tolist(), labels.tolist())))
