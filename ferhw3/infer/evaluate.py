"""Measuring a model on the validation split it was chosen on."""

from __future__ import annotations

import numpy as np

from ..data.read import load_faces, stratified_split
from ..runfiles import RunFiles

DEFAULT_SPLIT = (0, 2871.0)  # seed, faces held out: the project's split


class SeenFaces(ValueError):
    """The model trained on the faces it would be measured on."""


def split_of(model_path: str, default=DEFAULT_SPLIT) -> tuple[int, float]:
    """(seed, val_size) of the validation split recorded beside `model_path` (or `default`),
    without reading any faces. Raises SeenFaces for a shipped model whose manifest entry says
    it trained on those faces, and for any run that held none out: its figures there would
    mean nothing."""
    from . import manifest

    if manifest.saw_validation_faces(model_path):
        raise SeenFaces(f"{model_path}: trained on the validation faces (models/manifest.json), so it cannot "
                        f"be measured on them")
    seed, val_size = RunFiles(model_path).split() or default
    if val_size == 0:
        raise SeenFaces(f"{model_path}: trained on all the labelled faces (val_size=0 in its run record), so it "
                        f"has no validation faces to be measured on")
    return seed, val_size


def validation_faces(data_csv: str, model_path: str, default=DEFAULT_SPLIT):
    """(x, y, CSV row numbers, (seed, val_size)) of `model_path`'s validation split
    (`split_of`, which raises SeenFaces for a model that trained on those faces)."""
    seed, val_size = split_of(model_path, default)
    faces = load_faces(data_csv, expect="train")
    _, va = stratified_split(faces.labels, val_size, seed)
    return faces.x[va], faces.labels[va], va, (seed, val_size)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar test: under no difference each discordant face is a coin flip."""
    from scipy.stats import binomtest

    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(only_a, n, 0.5).pvalue)


def paired(a_right, b_right) -> tuple[int, int, float]:
    """Two readings of the same faces compared (boolean arrays, True where right): the faces
    only A gets right, those only B gets right, and McNemar's p."""
    only_a, only_b = int(np.sum(a_right & ~b_right)), int(np.sum(b_right & ~a_right))
    return only_a, only_b, mcnemar_p(only_a, only_b)


def accuracy(models, x: np.ndarray, y: np.ndarray, tta: str = "none") -> float:
    from .predict import predict_proba

    return float(np.mean(predict_proba(models, x, tta=tta).argmax(1) == y))
