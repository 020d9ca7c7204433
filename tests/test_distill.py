"""Knowledge distillation: the targets mix the label with a teacher's probabilities, and the
teacher is only ever asked about training faces."""

import json

import numpy as np
import pytest

from conftest import random_faces, write_csv
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
    for given, expected in ((y, smoothed_onehot(y, 0.1)), (soft, soft)):
        seen = []
        for images, targets in train_dataset(x, given, 8, None, label_smoothing=0.1):
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
def test_train_cnn_with_a_teacher_ensemble(tmp_path, tiny_train):
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
