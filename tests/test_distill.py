"""Knowledge distillation: the targets mix the label with a teacher's probabilities, and the
teacher is only ever asked about training faces."""

import json
import re

import numpy as np
import pytest

from conftest import random_faces
from test_cli import PY, run

from ferhw3.data.pipeline import smoothed_onehot, train_dataset
from ferhw3.data.read import Faces
from ferhw3.train.config import Config
from ferhw3.train.fit import Extras, fit, split
from ferhw3.train.models import build_cnn


def test_targets_are_smoothed_labels_or_given_probabilities():
    n = 32
    x = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 48, 48, 1), np.uint8)  # face i is all i
    y = np.arange(n) % 7
    soft = np.random.default_rng(0).dirichlet(np.ones(7), n).astype(np.float32)
    for given, expected in ((y, smoothed_onehot(y)), (smoothed_onehot(y, 0.1), smoothed_onehot(y, 0.1)), (soft, soft)):
        seen = []
        for images, targets in train_dataset(x, given, 8, None):
            rows = images.numpy()[:, 0, 0, 0].astype(int)
            np.testing.assert_allclose(targets.numpy(), expected[rows], atol=1e-6)
            seen += rows.tolist()
        assert sorted(seen) == list(range(n))
    np.testing.assert_allclose(smoothed_onehot(np.array([2]), 0.1), [[0.1 / 7] * 2 + [0.9 + 0.1 / 7] + [0.1 / 7] * 4])


def test_teacher_sees_training_faces_only(tmp_path):
    x, y = random_faces(70)
    x[:, 0, 0, 0] = np.arange(70)  # a face's first pixel names its row
    faces = Faces(x=x, labels=y)
    cfg = Config(epochs=1, batch_size=16, val_size=14, patience=5, warmup_epochs=1, distill=0.5)
    asked = []

    def teacher(batch):
        asked.append(batch[:, 0, 0, 0].astype(int))
        return np.full((len(batch), 7), 1 / 7, np.float32)

    res = fit(lambda: build_cnn("vgg-bn"), faces, cfg, str(tmp_path / "s.h5"), Extras(teacher=teacher), verbose=0)
    tr, va = split(faces, cfg)
    rows = np.concatenate(asked)
    assert sorted(rows.tolist()) == sorted(tr.tolist()) and not set(rows) & set(va.tolist())
    assert res.n_val == 14 and res.n_train == 56


@pytest.mark.slow
def test_train_cnn_with_a_teacher_ensemble(tmp_path, tiny_train, tiny_test):
    path = tiny_train[0]
    args = ["--epochs", "1", "--batch-size", "16", "--val-size", "14"]
    teacher = tmp_path / "t.h5"
    assert run([PY, "train_cnn.py", path, "--out", str(teacher), *args]).returncode == 0
    out = tmp_path / "s.h5"
    r = run([PY, "train_cnn.py", path, "--out", str(out), "--set", f"teachers={teacher},{teacher}",
             "--set", "distill=0.7", *args])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "distillation: teacher probabilities for the 56 training faces (teacher accuracy on the 56 labelled" in r.stdout
    assert "warning" not in r.stderr  # same split as the teacher
    cfg = json.load(open(tmp_path / "s.config.json"))
    assert cfg["config"]["distill"] == 0.7 and cfg["config"]["teachers"] == [str(teacher)] * 2
    assert cfg["overrides"]["teachers"] == [str(teacher)] * 2 and cfg["recipe"] == "vgg-bn"
    # Consistent distillation: the teachers answer on 3 x 3 windows and their mirrors, for the
    # training faces and the unlabelled ones, once; a resumed run reads their answers back.
    windows = ["--set", f"teachers={teacher}", "--set", "teacher_windows=3", "--set", f"unlabelled={tiny_test[0]}",
               "--set", "rotation=0", "--set", "zoom=0", "--set", "erase=0.5", *args[2:]]
    r = run([PY, "train_cnn.py", path, "--out", str(tmp_path / "w.h5"), "--epochs", "1", *windows])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "answers on window 18 of 18 for 56 faces" in r.stdout and "window 18 of 18 for 20 faces" in r.stdout
    assert len(list(tmp_path.glob("w.windows-*.npz"))) == 2
    r = run([PY, "train_cnn.py", path, "--out", str(tmp_path / "w.h5"), "--epochs", "2", "--resume", *windows])
    assert r.returncode == 0 and "answers on window" not in r.stdout and "after epoch 1" in r.stdout
    assert json.load(open(tmp_path / "w.config.json"))["epochs_run"] == 2
    # A teacher trained on another split may have seen this run's validation faces: warned.
    r = run([PY, "train_cnn.py", path, "--out", str(tmp_path / "o.h5"), "--set", f"teachers={teacher}",
             *args[:4], "--val-size", "21"])
    assert r.returncode == 0 and "trained with another validation split" in r.stderr
    # Bad teacher or weight: one line, exit 2, before any training.
    r = run([PY, "train_cnn.py", path, "--set", f"teachers={tmp_path / 'none.h5'}"])
    assert r.returncode == 2 and r.stderr.strip() == f"error: {tmp_path / 'none.h5'}: model file not found"
    r = run([PY, "train_cnn.py", path, "--set", f"teachers={teacher}", "--set", "distill=1.5"])
    assert r.returncode == 2 and "distill=1.5: must be in [0, 1]" in r.stderr
    r = run([PY, "train_cnn.py", path, "--set", f"unlabelled={path}"])
    assert r.returncode == 2 and "unlabelled=" in r.stderr and "used with teachers" in r.stderr


def _find_window(image, face, crop):
    """(row, column, mirrored) of the window of `face` that `image` is, or None."""
    room = face.shape[0] - crop
    for i in range(room + 1):
        for j in range(room + 1):
            w = face[i:i + crop, j:j + crop]
            for mirrored, v in ((0, w), (1, w[:, ::-1])):
                if np.array_equal(v, image):
                    return i, j, mirrored
    return None


@pytest.mark.parametrize("grid", [9, 3])
def test_window_targets_follow_the_crop(grid):
    """Each cut face trains towards the targets of its own window (grid 9: every offset of a
    40-pixel crop in 48) or of the nearest window of the grid (grid 3: offsets 0, 4, 8)."""
    from ferhw3.train.distill import window_views

    n, crop = 16, 40
    x = np.random.default_rng(1).integers(0, 255, (n, 48, 48, 1)).astype(np.uint8)
    views = list(window_views(x, crop, grid))
    assert len(views) == 2 * grid * grid and views[0].shape == (n, crop, crop, 1)
    targets = np.zeros((n, len(views), 7), np.float32)
    targets[..., 0] = np.arange(n)[:, None]
    targets[..., 1] = np.arange(len(views))[None, :]
    batches = [(im.numpy(), t.numpy()) for im, t in
               train_dataset(x, targets, 8, None, seed=2, epochs=range(3), windows=(crop, grid))]
    mirrors = 0
    for images, t in batches:
        for image, (face, view) in zip(images, t[:, :2].astype(int)):
            i, j, mirrored = _find_window(image[..., 0], x[face, ..., 0].astype(np.float32), crop)
            step = 8 / (grid - 1)
            assert view == (round(i / step) * grid + round(j / step)) * 2 + mirrored
            if grid == 9:
                np.testing.assert_array_equal(image, views[view][face])
            mirrors += mirrored
    assert 0 < mirrors < len(batches) * 8
    resumed = [t.numpy() for _, t in train_dataset(x, targets, 8, None, seed=2, epochs=range(2, 3),
                                                    windows=(crop, grid))]
    np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate([t for _, t in batches[4:]]))
    with pytest.raises(ValueError, match="grid of 3 x 3 windows"):
        train_dataset(x, targets[:, :4], 8, None, windows=(crop, 3))


class _CountingTeacher:
    """A model whose answer on a window is one-hot at (the window's pixel sum mod 7)."""

    def __init__(self):
        self.calls = 0

    def predict(self, x, batch_size=None, verbose=0):
        self.calls += 1
        return np.eye(7, dtype=np.float32)[x.reshape(len(x), -1).sum(1).astype(int) % 7]


def test_window_teacher_answers_per_window_and_keeps_them(tmp_path):
    from ferhw3.train.distill import window_teacher, window_views

    x = np.random.default_rng(2).integers(0, 255, (10, 48, 48, 1)).astype(np.uint8)
    path = tmp_path / "t.h5"
    path.write_bytes(b"weights")
    model = _CountingTeacher()
    teacher = window_teacher([model], [str(path)], 40, 3, cache_stem=str(tmp_path / "s"))
    probs = teacher(x)
    assert probs.shape == (10, 18, 7) and model.calls == 18 and teacher.windows == 3
    expected = [np.eye(7)[v.reshape(10, -1).sum(1).astype(int) % 7] for v in window_views(x, 40, 3)]
    np.testing.assert_allclose(probs, np.stack(expected, 1))
    assert len(list(tmp_path.glob("s.windows-*.npz"))) == 1
    np.testing.assert_array_equal(teacher(x), probs)  # read back, not asked again
    assert model.calls == 18
    teacher(x[:5])  # other faces: asked again, kept apart
    assert model.calls == 36 and len(list(tmp_path.glob("s.windows-*.npz"))) == 2


def test_fit_with_a_window_teacher(tmp_path):
    from ferhw3.train.distill import window_teacher

    x, y = random_faces(70)
    path = tmp_path / "t.h5"
    path.write_bytes(b"weights")
    model = _CountingTeacher()
    cfg = Config(epochs=1, batch_size=16, val_size=14, patience=5, warmup_epochs=1, rotation=0, zoom=0,
                 erase=0.5, teachers=(str(path),), teacher_windows=3)
    teacher = window_teacher([model], [str(path)], cfg.crop, 3)
    res = fit(lambda: build_cnn("vgg-bn"), Faces(x=x, labels=y), cfg, str(tmp_path / "s.h5"), Extras(teacher=teacher),
              verbose=0)
    assert model.calls == 18 and res.n_train == 56 and res.epochs_run == 1
    for bad, words in ((dict(teacher_windows=3), "used with teachers"),
                       (dict(teacher_windows=1, teachers=("t",)), "0 (off) or >= 2"),
                       (dict(teacher_windows=3, teachers=("t",), rotation=10), "without rotation"),
                       (dict(teacher_windows=10, teachers=("t",), rotation=0, zoom=0), "at most 49 - crop")):
        with pytest.raises(ValueError, match=re.escape(words)):
            Config(**bad).check()
