"""Knowledge distillation: a teacher ensemble's probabilities as (part of) the targets."""

from __future__ import annotations

import sys

import numpy as np

from ..runfiles import RunFiles

# The teacher's view of a face: the centre 40x40 window (as the training crops frame it) and
# its mirror, the most accurate of the cheap test-time views.
TEACHER_TTA = "center"


def ensemble_teacher(models, tta: str = TEACHER_TTA):
    """A function from faces to the models' mean class probabilities over the `tta` views."""
    from ..infer.predict import predict_proba

    return lambda x: predict_proba(models, x, tta=tta)


def mix(targets: np.ndarray, teacher_probs: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) x the given targets + weight x the teacher's probabilities."""
    return ((1 - weight) * targets + weight * teacher_probs).astype(np.float32)


def warn_if_other_split(teacher_path: str, seed: int, val_size: float, n_faces: int) -> None:
    """A teacher chosen on another split has seen some of this run's validation faces, and
    its targets would leak them: say so (its run record names its split)."""
    run = RunFiles(teacher_path)
    theirs = run.split()
    if theirs is None:
        print(f"warning: {teacher_path}: no run record, so its validation split is unknown", file=sys.stderr)
        return
    their_faces = run.faces_seen()
    if theirs != (seed, float(val_size)) or (their_faces is not None and their_faces != n_faces):
        print(f"warning: {teacher_path} was trained with another validation split (seed {theirs[0]}, "
              f"val-size {theirs[1]:g}); validation accuracy here may be optimistic", file=sys.stderr)
