"""Prediction: class probabilities from one model or an ensemble, with test-time augmentation."""

from __future__ import annotations

import numpy as np


TTA_MODES = ("none", "flip", "center", "crops")
TRAIN_CROP = 40  # the training crop side: "center" frames the face as training did
TTA_CROP = 44    # "crops": windows a little larger than the training crops


def _windows(face: np.ndarray, side: int, corners: bool) -> list[np.ndarray]:
    o = face.shape[1] - side
    spots = [(o // 2, o // 2)] + ([(0, 0), (0, o), (o, 0), (o, o)] if corners else [])
    return [face[:, i:i + side, j:j + side, :] for i, j in spots]


def tta_views(x: np.ndarray, tta: str) -> list[np.ndarray]:
    """The views of each face whose predictions are averaged, each with its mirror image
    (except "none"): "flip", the whole face; "center", the centre 40x40 window (the framing
    of the training crops); "crops", the centre and four corner 44x44 windows (10 views).
    The models are fully convolutional, so they take any window size."""
    if tta not in TTA_MODES:
        raise ValueError(f"unknown tta {tta!r}; choose from {', '.join(TTA_MODES)}")
    face = x.astype(np.float32)
    if tta == "none":
        return [face]
    if tta == "flip":
        views = [face]
    elif tta == "center":
        views = _windows(face, TRAIN_CROP, corners=False)
    else:
        views = _windows(face, TTA_CROP, corners=True)
    return [w for v in views for w in (v, v[:, :, ::-1, :])]


def check_tta(model, tta: str) -> None:
    """ValueError if `model` cannot take the windows of `tta`: a network with a fixed 48x48
    input (the dense baseline) predicts whole faces only."""
    size = model.input_shape[1]
    if tta in ("center", "crops") and size is not None:
        raise ValueError(f"takes whole {size}x{size} faces only, so --tta {tta} (smaller windows) cannot be used; "
                         f"use --tta none or flip")


def load_predictors(paths, tta: str) -> list:
    """The models at `paths` on the prediction engine (ferhw3.infer.engine), each checked to take
    the windows of `tta`; a UsageError names the model that cannot."""
    from ..errors import UsageError
    from .engine import load_predictor

    models = [load_predictor(p) for p in paths]
    for path, model in zip(paths, models):
        try:
            check_tta(model, tta)
        except ValueError as e:
            raise UsageError(f"{path}: {e}") from None
    return models


def predict_proba(models, x: np.ndarray, tta: str = "flip", batch_size: int = 512) -> np.ndarray:
    """Mean softmax over `models` and over the test-time views of each face (`tta_views`).

    x: uint8 or float faces (N, 48, 48, 1). Returns float32 (N, 7).
    """
    per_view = [p for model in models for p in view_probs(model, x, tta, batch_size)]
    return np.mean(per_view, axis=0).astype(np.float32)


ONE_CALL = 32  # face views: up to this many (a frame's or a photo's faces) go to a model in one call


def view_probs(model, x: np.ndarray, tta: str = "flip", batch_size: int = 512) -> list[np.ndarray]:
    """One model's softmax for each test-time view of the faces (`tta_views`), unaveraged."""
    views = tta_views(x, tta)
    if len(views) > 1 and len(x) * len(views) <= ONE_CALL and len({v.shape for v in views}) == 1:
        return np.split(model.predict(np.concatenate(views), batch_size=batch_size, verbose=0), len(views))
    return [model.predict(v, batch_size=batch_size, verbose=0) for v in views]



DECIDED_SLACK = 1e-4  # float32 sums of probabilities: a lead this close to the bound waits for the rest
# A face's label is taken as settled once its leader is ahead by more than SETTLED_AT per view
# still to come (1.0: exactly settled). On the project's validation faces, 0.6 gave the full
# ensemble's labels on 2,869 of 2,871 (one more right, one fewer: McNemar p 1) and on 99.9% of
# the 7,178 test faces, reading 64% of the views where exact stopping reads 74%
# (bench/results_settled.md).
SETTLED_AT = 0.6


def predict_labels(models, x: np.ndarray, tta: str = "flip", batch_size: int = 512,
                   settled_at: float = SETTLED_AT) -> tuple[np.ndarray, float]:
    """The labels of `predict_proba(models, x, tta).argmax(1)`, without computing views that
    will not change them. The ensemble's answer is the mean of T views' probabilities (each
    model's test-time views), each view a vector that sums to 1, so one view can raise the
    runner-up's sum over the leader's by 1 at most. After k views, a face whose leader is
    ahead of every other class by more than T - k in summed probability keeps its label
    whatever the rest say, and the remaining views read only the faces still open. With
    `settled_at` = 1 that is exact; below 1 (default SETTLED_AT) a lead of `settled_at` per
    view to come settles a face, as views of one face rarely swing that far (measured on the
    validation faces, paired). The cheaper models listed first save the most. Returns
    (labels, the share of the T x N view readings computed)."""
    if not 0 < settled_at <= 1:
        raise ValueError(f"settled_at must be above 0 and at most 1, got {settled_at}")
    x = np.asarray(x)
    units = [(model, i) for model in models for i in range(len(tta_views(x[:1], tta)))]
    total = np.zeros((len(x), 7), np.float64)
    open_faces = np.arange(len(x))
    read = 0
    for k, (model, i) in enumerate(units, 1):
        view = tta_views(x[open_faces], tta)[i]
        total[open_faces] += model.predict(view, batch_size=batch_size, verbose=0)
        read += len(open_faces)
        if k < len(units):
            top2 = np.sort(total[open_faces], axis=1)[:, -2:]
            open_faces = open_faces[top2[:, 1] - top2[:, 0] <= settled_at * (len(units) - k) + DECIDED_SLACK]
            if not len(open_faces):
                break
    return total.argmax(1), read / max(1, len(units) * len(x))
