"""Knowledge distillation: a teacher ensemble's probabilities as (part of) the targets."""

from __future__ import annotations

import hashlib
import os
import sys
import time

import numpy as np

from ..runfiles import RunFiles

# The teacher's view of a face: the centre 40x40 window (as the training crops frame it) and
# its mirror, the most accurate of the cheap test-time views.
TEACHER_TTA = "center"


def ensemble_teacher(models, tta: str = TEACHER_TTA):
    """A function from faces to the models' mean class probabilities over the `tta` views."""
    from ..infer.predict import predict_proba

    return lambda x: predict_proba(models, x, tta=tta)


def window_views(x: np.ndarray, crop: int, grid: int):
    """The `grid` x `grid` evenly spaced `crop`-pixel windows of each face and their mirrors,
    one (N, crop, crop, 1) float32 array at a time, row by row, each window then its mirror:
    the order in which `ferhw3.data.pipeline.window_batch` indexes them."""
    from ..data.pipeline import window_grid

    spots = window_grid(x.shape[1], crop, grid)
    for i in spots:
        for j in spots:
            window = x[:, i:i + crop, j:j + crop, :].astype(np.float32)
            yield window
            yield window[:, :, ::-1, :]


def window_teacher(models, paths, crop: int, grid: int, cache_stem: str | None = None, batch_size: int = 512):
    """A function from faces (N, 48, 48, 1) to the models' mean class probabilities on each
    of their `window_views`, (N, 2 x grid x grid, 7): consistent distillation (Beyer et al.
    2022), where each training crop learns the teachers' answer on that crop (its nearest
    window) rather than one answer per face. The answers take the teachers a while (18
    windows of 33,000 faces are 600,000 predictions per teacher), so with `cache_stem` they
    are kept in `{cache_stem}.windows-{key}.npz`, the key naming the faces, the teachers and
    the grid, and a resumed run reads them back."""
    n_views = 2 * grid * grid

    def probs(x: np.ndarray) -> np.ndarray:
        key = _windows_key(x, paths, crop, grid)
        cache = f"{cache_stem}.windows-{key}.npz" if cache_stem else None
        if cache and os.path.exists(cache):
            return np.load(cache)["probs"]
        out = np.empty((len(x), n_views, 7), np.float32)
        start = time.time()
        for v, view in enumerate(window_views(x, crop, grid)):
            out[:, v] = np.mean([m.predict(view, batch_size=batch_size, verbose=0) for m in models], axis=0)
            print(f"distillation: the teachers' answers on window {v + 1} of {n_views} for {len(x):,} faces "
                  f"({time.time() - start:.0f} s)", flush=True)
        if cache:
            from ..runfiles import replace_atomically

            replace_atomically(cache, lambda tmp: np.savez(tmp, probs=out), suffix=".npz")
        return out

    probs.windows = grid
    return probs


def _windows_key(x: np.ndarray, paths, crop: int, grid: int) -> str:
    h = hashlib.sha1(np.ascontiguousarray(x).tobytes())
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}:{st.st_size}:{int(st.st_mtime)}".encode())
    h.update(f"{crop}:{grid}".encode())
    return h.hexdigest()[:12]


def mix(targets: np.ndarray, teacher_probs: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) x the given targets + weight x the teacher's probabilities (targets of
    one face broadcast over a teacher's answers on its windows)."""
    if teacher_probs.ndim == 3 and targets.ndim == 2:
        targets = targets[:, None, :]
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
