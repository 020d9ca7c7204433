"""Every input layout a user downloads, and interrupted training."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import ROOT, random_faces, write_csv
from ferhw3.data.read import DataError, load_csv, load_faces

PY = sys.executable


def kaggle_csv(path, x, y, usage, eol="\n"):
    lines = ["emotion,pixels,Usage"] + [f"{l},{' '.join(map(str, f.ravel()))},{u}" for l, f, u in zip(y, x, usage)]
    with open(path, "w", newline="") as f:
        f.write(eol.join(lines) + eol)
    return str(path)


@pytest.fixture
def kaggle(tmp_path):
    x, y = random_faces(21)
    usage = ["Training"] * 12 + ["PublicTest"] * 5 + ["PrivateTest"] * 4
    return kaggle_csv(tmp_path / "fer2013.csv", x, y, usage, eol="\r\n"), x, y


def test_kaggle_csv_for_training_and_prediction(kaggle):
    path, x, y = kaggle
    train = load_faces(path, expect="train")
    np.testing.assert_array_equal(train.x, x[:12])
    np.testing.assert_array_equal(train.labels, y[:12])
    test = load_faces(path)
    np.testing.assert_array_equal(test.x, x[12:])
    np.testing.assert_array_equal(test.ids, np.arange(9))
    np.testing.assert_array_equal(test.labels, y[12:])


def test_kaggle_bad_usage(tmp_path):
    x, y = random_faces(3)
    path = kaggle_csv(tmp_path / "k.csv", x, y, ["Training", "Validation", "Training"])
    with pytest.raises(DataError, match=r"line 3: Usage 'Validation' is not one of"):
        load_csv(path)


def test_converter_writes_course_files(tmp_path, kaggle):
    path, x, y = kaggle
    out = tmp_path / "course"
    r = subprocess.run([PY, "convert_fer2013.py", path, str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    train, test = load_csv(str(out / "train.csv")), load_csv(str(out / "test.csv"))
    np.testing.assert_array_equal(train.x, x[:12])
    np.testing.assert_array_equal(test.x, x[12:])
    answers = pd.read_csv(out / "test_answers.csv")
    assert list(answers["id"]) == list(test.ids) and list(answers["label"]) == list(y[12:])


def save_image(path, size, colour, seed):
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if colour else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def test_image_class_folders_case_insensitive(tmp_path):
    names = {"Angry": 0, "disgusted": 1, "FEARFUL": 2, "happy": 3, "sad": 4, "Surprise": 5, "neutral": 6}
    for k, (name, _) in enumerate(names.items()):
        os.makedirs(tmp_path / "train" / name)
        save_image(tmp_path / "train" / name / "a.png", (48, 48), False, k)
        save_image(tmp_path / "train" / name / "b.jpg", (100, 60), True, k + 10)
    faces = load_faces(str(tmp_path / "train"), expect="train")
    assert faces.x.shape == (14, 48, 48, 1) and faces.x.dtype == np.uint8
    assert sorted(faces.labels.tolist()) == sorted([v for v in names.values()] * 2)
    # a 48x48 grey PNG comes back unchanged
    i = faces.names.index(os.path.join("Angry", "a.png"))
    np.testing.assert_array_equal(faces.x[i, ..., 0], np.asarray(Image.open(tmp_path / "train" / "Angry" / "a.png")))


def test_unknown_class_folder_and_bad_image(tmp_path):
    os.makedirs(tmp_path / "t" / "happy")
    os.makedirs(tmp_path / "t" / "bored")
    with pytest.raises(DataError, match="bored: folder name is not an expression class"):
        load_faces(str(tmp_path / "t"))
    os.makedirs(tmp_path / "u")
    (tmp_path / "u" / "x.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"x.png: not a readable image"):
        load_faces(str(tmp_path / "u"))


def test_predict_on_image_files(tmp_path):
    from ferhw3.train.models import build_cnn

    model = tmp_path / "m.h5"
    build_cnn("vgg-bn").save(model)
    os.makedirs(tmp_path / "imgs")
    save_image(tmp_path / "imgs" / "one.png", (200, 150), True, 1)
    save_image(tmp_path / "imgs" / "two.jpg", (30, 30), False, 2)
    out = tmp_path / "pred.csv"
    r = subprocess.run([PY, "predict.py", str(tmp_path / "imgs"), str(out), "--model", str(model)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    df = pd.read_csv(out)
    assert list(df.columns) == ["file", "label", "probabilities"]
    assert list(df["file"]) == ["one.png", "two.jpg"]
    probs = np.array([list(map(float, s.split())) for s in df["probabilities"]])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1, atol=1e-3)
    # the label is the most probable class; written rounded, a near-tie may print equal or swapped
    step = 10.0 ** -len(df["probabilities"][0].split()[0].partition(".")[2])
    assert all(p[label] >= p.max() - step for p, label in zip(probs, df["label"]))


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    x, y = random_faces(300)
    train = write_csv(tmp_path / "train.csv", x, y)
    epochs = 12

    def cmd(name):
        return [PY, "train_cnn.py", train, "--out", str(tmp_path / name), "--batch-size", "16", "--val-size", "50",
                "--set", "crop=0", "--epochs", str(epochs)]

    proc = subprocess.Popen(cmd("k.h5"), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "k.last.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.exists() and json.load(open(state))["epoch"] >= 2):
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.load(open(state))["epoch"]
    assert 2 <= done < epochs
    r = subprocess.run(cmd("k.h5") + ["--resume"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"after epoch {done}" in r.stdout
    hist = pd.read_csv(tmp_path / "k.history.csv")
    # every finished epoch is kept once; at most the one in progress was lost
    assert list(hist["epoch"]) == list(range(epochs))
    assert json.load(open(state))["epoch"] == epochs
    # and the resumed run ends where an uninterrupted one with the same seed ends
    r = subprocess.run(cmd("u.h5"), cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    resumed, whole = (json.load(open(tmp_path / f"{n}.config.json"))["val_accuracy"] for n in ("k", "u"))
    assert resumed == whole
    np.testing.assert_allclose(hist["loss"], pd.read_csv(tmp_path / "u.history.csv")["loss"], rtol=1e-5)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_after_saving(tmp_path):
    x, y = random_faces(300)
    train = write_csv(tmp_path / "train.csv", x, y)
    out = tmp_path / "c.h5"
    proc = subprocess.Popen([PY, "train_cnn.py", train, "--out", str(out), "--batch-size", "16", "--val-size", "50",
                             "--set", "crop=0", "--epochs", "30"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    state = tmp_path / "c.last.json"
    deadline = time.time() + 300
    while time.time() < deadline and not state.exists():
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert lines[-1].startswith("interrupted: stopped;") and "--resume" in lines[-1]
    assert "Traceback" not in err
    epochs = json.load(open(state))["epoch"]
    assert (tmp_path / "c.last.keras").exists() and epochs >= 1
    # the epoch Ctrl-C landed in was finished before saving: every saved epoch is whole
    r = subprocess.run([PY, "train_cnn.py", train, "--out", str(out), "--batch-size", "16", "--val-size", "50",
                        "--set", "crop=0", "--epochs", str(epochs + 1), "--resume"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"after epoch {epochs} (optimizer step {epochs * (250 // 16)})" in r.stdout
