import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, random_faces, write_csv
from ferhw3.train.selftrain import align_distribution, pseudo_label, select_pseudo_labels


def test_threshold_is_honoured_and_cap_holds():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7) * 0.3, size=2000).astype(np.float32)
    probs[:800, 3] += 5  # a dominant "Happy" class, as on FER2013
    probs /= probs.sum(1, keepdims=True)
    labelled = np.array([50, 5, 50, 100, 60, 40, 60])
    pl = select_pseudo_labels(probs, 0.87, labelled, cap=1.0)
    assert np.all(probs[pl.index].max(1) >= 0.87)
    assert np.all(pl.labels == probs[pl.index].argmax(1))
    assert np.all(pl.per_class() <= labelled)
    assert pl.above_threshold[3] > labelled[3]  # the cap actually bit on the majority class
    # without the cap every face above the threshold is kept
    free = select_pseudo_labels(probs, 0.87, labelled, cap=0)
    assert len(free.index) == int((probs.max(1) >= 0.87).sum())
    # the kept ones are the most confident of their class
    kept3 = pl.confidence[pl.labels == 3].min()
    dropped3 = np.setdiff1d(free.index[free.labels == 3], pl.index)
    assert probs[dropped3].max(1).max() <= kept3


class LeftRightModel:
    """A stand-in model, sure of itself: Angry when the left half of the window is brighter
    than the right, Happy otherwise; so its answer for a lopsided face flips with the mirror."""

    def predict(self, x, batch_size=None, verbose=0):
        half = x.shape[2] // 2
        left = x[:, :, :half].mean(axis=(1, 2, 3))
        right = x[:, :, -half:].mean(axis=(1, 2, 3))
        probs = np.full((len(x), 7), 0.01, np.float32)
        probs[np.arange(len(x)), np.where(left > right + 1, 0, 3)] = 0.94
        return probs


def test_agree_drops_faces_whose_views_disagree():
    faces = np.full((6, 48, 48, 1), 100, np.uint8)
    faces[3:, :, :24] = 200  # lopsided: the plain views say Angry, the mirrored ones Happy
    labelled = np.array([10, 10, 10, 10, 10, 10, 10])
    plain, _ = pseudo_label(LeftRightModel(), faces, 0.9, labelled, cap=0, tta="none")
    assert sorted(plain.index) == [0, 1, 2, 3, 4, 5]  # confident everywhere without the check
    pl, targets = pseudo_label(LeftRightModel(), faces, 0.9, labelled, cap=0, agree=True)
    assert sorted(pl.index) == [0, 1, 2] and np.all(targets == 3)
    soft, _ = pseudo_label(LeftRightModel(), faces, 0.0, labelled, soft=True, agree=True)
    assert sorted(soft.index) == [0, 1, 2]


def test_prior_cap_keeps_the_labelled_class_balance():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(7) * 0.3, size=3000).astype(np.float32)
    probs[:1500, 3] += 5  # Happy: far more confident faces than any other class
    probs /= probs.sum(1, keepdims=True)
    labelled = np.array([100, 10, 100, 180, 120, 80, 120])
    pl = select_pseudo_labels(probs, 0.8, labelled, cap="prior")
    share = labelled / labelled.sum()
    assert np.all(pl.per_class() <= np.floor(share * pl.above_threshold.sum()))
    assert pl.per_class()[3] < pl.above_threshold[3]  # Happy was cut back ...
    assert np.all(pl.per_class()[[0, 2, 4]] == pl.above_threshold[[0, 2, 4]])  # ... the scarce classes were not
    free = select_pseudo_labels(probs, 0.8, labelled, cap=0)
    skew = lambda counts: np.abs(counts / counts.sum() - share).sum()
    assert skew(pl.per_class()) < skew(free.per_class())
    assert np.all(probs[pl.index].max(1) >= 0.8)


def test_aligned_soft_targets_follow_the_labelled_class_shares():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(7), size=4000).astype(np.float32)
    probs[:2000, 3] += 2  # the model leans towards Happy
    probs /= probs.sum(1, keepdims=True)
    labelled = np.array([100, 10, 100, 180, 120, 80, 120])
    share = labelled / labelled.sum()
    aligned = align_distribution(probs, labelled)
    np.testing.assert_allclose(aligned.sum(1), 1, rtol=1e-5)
    assert np.abs(aligned.mean(0) - share).sum() < 0.5 * np.abs(probs.mean(0) - share).sum()
    assert aligned[:, 3].mean() < probs[:, 3].mean()  # Happy's mass goes down, Disgust's rises toward its share
    # a face's ranking of classes changes only through the per-class scale: the same scale for every face
    ratio = aligned / probs
    np.testing.assert_allclose(ratio / ratio[:, :1], np.broadcast_to(ratio[:1] / ratio[:1, :1], ratio.shape), rtol=1e-4)


def test_bad_cap_is_a_one_line_error(tmp_path):
    x, y = random_faces(30)
    train = write_csv(tmp_path / "train.csv", x, y)
    r = subprocess.run([sys.executable, "train_cnn.py", train, "--out", str(tmp_path / "m.h5"), "--set", "cap=lots"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "cap=lots" in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "m.h5").exists()


def train_and_unlabelled(tmp_path):
    """A 70-face labelled CSV and a 40-face unlabelled (id,feature) CSV."""
    x, y = random_faces(70)
    ux, _ = random_faces(40, seed=5)
    return (write_csv(tmp_path / "train.csv", x, y),
            write_csv(tmp_path / "unl.csv", ux, np.arange(40), header="id,feature"))


@pytest.mark.slow
def test_self_training_cli_keeps_validation_labelled_only(tmp_path):
    train, unl = train_and_unlabelled(tmp_path)
    out = tmp_path / "m.h5"
    r = subprocess.run([sys.executable, "train_cnn.py", train, "--out", str(out), "--epochs", "1",
                        "--batch-size", "16", "--val-size", "14", "--self-train", unl, "--threshold", "0.0",
                        "--set", "self_train_epochs=1", "--set", "cap=0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(l for l in r.stdout.splitlines() if l.startswith("self-training round 1"))
    assert "40 of 40 unlabelled faces" in line  # threshold 0 and no cap: every face
    # The round trained on 56 labelled + 40 pseudo-labelled faces; validation stays the 14 labelled.
    assert r.stdout.count("train 56 / validation 14 faces") == 1
    import json
    cfg = json.load(open(tmp_path / "m.selftrain1.config.json"))
    assert cfg["n_train"] == 56 + 40 and cfg["n_val"] == 14
    assert os.path.exists(tmp_path / "m.supervised.h5") and out.exists()
    assert "DONE" in r.stdout.splitlines()[-1]


@pytest.mark.slow
def test_soft_self_training_cli(tmp_path):
    train, unl = train_and_unlabelled(tmp_path)
    r = subprocess.run([sys.executable, "train_cnn.py", train, "--out", str(tmp_path / "m.h5"), "--epochs", "1",
                        "--batch-size", "16", "--val-size", "14", "--self-train", unl, "--set", "soft=true",
                        "--threshold", "0", "--set", "self_train_epochs=1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(l for l in r.stdout.splitlines() if l.startswith("self-training round 1"))
    assert "40 of 40 unlabelled faces" in line and "soft, aligned" in line
    import json
    cfg = json.load(open(tmp_path / "m.selftrain1.config.json"))
    assert cfg["n_train"] == 56 + 40 and cfg["n_val"] == 14


def test_mean_teacher_is_the_students_moving_average_and_never_trains():
    import keras
    import tensorflow as tf

    from ferhw3.train.meanteacher import MeanTeacher
    from ferhw3.train.models import build_cnn

    keras.utils.set_random_seed(0)
    student, teacher = build_cnn("vgg-bn"), build_cnn("vgg-bn")
    t0 = [w.copy() for w in teacher.get_weights()]
    s0 = [w.copy() for w in student.get_weights()]
    model = MeanTeacher(student, teacher, weight=10.0, ema=0.75)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y = random_faces(8)
    u, _ = random_faces(8, seed=1)
    x, u = x.astype(np.float32), u.astype(np.float32)
    batch = ((x, np.eye(7, dtype=np.float32)[y]), (u, u[:, :, ::-1]))
    logs = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0).history
    assert logs["consistency"][0] > 0  # the two views disagree, so the target pulls
    s1 = student.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(s0, s1))  # the student took a step
    for a, b, c in zip(teacher.get_weights(), t0, s1):  # the teacher only averaged it in
        np.testing.assert_allclose(a, 0.75 * b + 0.25 * c, rtol=1e-5, atol=1e-6)
    # and the saved/predicting model is the teacher
    np.testing.assert_allclose(model.predict(u, verbose=0), teacher.predict(u, verbose=0), rtol=1e-5)


@pytest.mark.slow
def test_mean_teacher_cli_fine_tunes_and_validates_on_labelled_faces_only(tmp_path):
    train, unl = train_and_unlabelled(tmp_path)
    out = tmp_path / "m.h5"
    base = [sys.executable, "train_cnn.py", train, "--out", str(out), "--epochs", "1", "--batch-size", "16",
            "--val-size", "14"]
    r = subprocess.run(base + ["--self-train", unl, "--set", "mean_teacher=10", "--set", "self_train_epochs=2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    # 56 labelled training faces at batch 16: 3 steps an epoch, 2 epochs; validation: the 14 labelled faces
    assert "mean teacher: 6 steps on 56 labelled + 40 unlabelled faces" in r.stdout
    assert r.stdout.count("train 56 / validation 14 faces") == 1
    assert "mean teacher: val_accuracy" in r.stdout and (tmp_path / "m.meanteacher.h5").exists()
    assert "DONE" in r.stdout.splitlines()[-1]
    r = subprocess.run(base + ["--set", "mean_teacher=10"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: mean_teacher=10.0: must be used with self_train (the faces it learns from)"]
