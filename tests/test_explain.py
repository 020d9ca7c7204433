"""Figures and explanation maths on tiny models."""

import os

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferhw3.train.models import build_cnn
from ferhw3.viz import explain


def tiny_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.MaxPooling2D(4)(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="tanh", name="c2")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    return keras.Model(inp, out)


def not_blank(path):
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert img.std() > 10, f"{path} looks blank"


def test_saliency_matches_finite_differences():
    model = tiny_cnn()
    rng = np.random.default_rng(0)
    face = rng.uniform(0, 255, (1, 48, 48, 1)).astype(np.float64)
    cls = np.array([2])
    sal = explain.gradient_saliency(model, face, cls)[0]
    h = 0.5
    for (r, c) in [(10, 10), (24, 30), (40, 5), (0, 47)]:
        up, down = face.copy(), face.copy()
        up[0, r, c, 0] += h
        down[0, r, c, 0] -= h
        fd = (model.predict(up.astype(np.float32), verbose=0)[0, 2]
              - model.predict(down.astype(np.float32), verbose=0)[0, 2]) / (2 * h)
        assert abs(abs(fd) - sal[r, c]) <= 0.05 * sal.max() + 1e-7, (r, c, fd, sal[r, c])


def test_grad_cam_is_normalised_heat_map():
    model = tiny_cnn()
    faces = np.random.default_rng(1).uniform(0, 255, (3, 48, 48, 1)).astype(np.float32)
    cam = explain.grad_cam(model, faces, np.array([0, 1, 2]), layer="c2")
    assert cam.shape == (3, 48, 48) and cam.min() >= 0 and cam.max() <= 1 + 1e-6


def test_gradient_ascent_raises_every_filter_activation():
    keras.utils.set_random_seed(0)
    model = build_cnn("vgg-bn")
    layer = explain.conv_layers(model)[1]
    images, start, final = explain.gradient_ascent(model, layer, filters=list(range(8)), steps=30)
    assert images.shape == (8, 48, 48)
    assert np.all(final > start)
    # "well above": the gain is several times the spread of the activations on noise
    assert (final - start).mean() > 3 * start.std(), (start, final)


def test_confusion_rows_sum_to_class_counts(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 200)
    pred = np.where(rng.random(200) < 0.6, y, rng.integers(0, 7, 200))
    cm, report = explain.confusion(y, pred, str(tmp_path / "cm.png"))
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y, minlength=7))
    assert np.trace(cm) == np.sum(y == pred)
    assert "Disgust" in report and "precision" in report
    not_blank(tmp_path / "cm.png")


def test_every_figure_is_produced_and_not_blank(tmp_path):
    model = build_cnn("vgg-bn")
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (14, 48, 48, 1)).astype(np.uint8)
    y = np.arange(14) % 7
    hist = tmp_path / "m.history.csv"
    pd.DataFrame({"epoch": [0, 1, 2], "accuracy": [.3, .4, .5], "loss": [1.8, 1.6, 1.4],
                  "val_accuracy": [.3, .35, .45], "val_loss": [1.9, 1.7, 1.6]}).to_csv(hist, index=False)
    paths = [
        explain.plot_curves({"cnn": str(hist), "dnn": str(hist)}, str(tmp_path / "curves.png")),
        explain.plot_saliency(model, faces, y, [0, 3], str(tmp_path / "sal.png")),
    ]
    imgs, s, f = explain.gradient_ascent(model, "conv1_1", steps=5)
    assert len(imgs) == 32  # all filters of the layer by default
    paths.append(explain.plot_gradient_ascent(imgs, s, f, "conv1_1", str(tmp_path / "ga.png")))
    maps = explain.feature_maps(model, "conv1_1", faces[0])
    paths.append(explain.plot_feature_maps(maps, faces[0], "conv1_1", 0, "Angry", str(tmp_path / "fm.png")))
    for p in paths:
        assert os.path.getsize(p) > 1000
        not_blank(p)
        assert Image.open(p).mode == "RGB"  # opaque: no alpha channel to store
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]
    md = explain.summary_markdown(model)
    assert "conv4_2" in md and "total trainable" in md
    assert "Total params" in explain.summary_text(model)


def test_pick_faces_one_right_one_wrong_per_class():
    y = np.repeat(np.arange(7), 4)
    pred = y.copy()
    pred[::4] = (pred[::4] + 1) % 7  # one wrong per class
    picks = explain.pick_faces(y, pred)
    assert len(picks) == 14
    assert sorted(y[picks].tolist()) == sorted(list(range(7)) * 2)


def test_curves_of_a_continued_run_follow_the_run_it_started_from(tmp_path):
    import json

    from ferhw3.runfiles import init_chain

    def run(name, epochs, init=None):
        pd.DataFrame({"epoch": range(epochs), "accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.5,
                      "val_loss": 1.0}).to_csv(tmp_path / f"{name}.history.csv", index=False)
        json.dump({"command": "train_cnn.py", "init": init}, open(tmp_path / f"{name}.config.json", "w"))
        return str(tmp_path / f"{name}.h5")

    first = run("a", 6)
    second = run("b", 4, init=first)
    third = run("c", 3, init=second)
    assert init_chain(third) == [("a", str(tmp_path / "a.history.csv"), 0),
                                           ("b", str(tmp_path / "b.history.csv"), 6),
                                           ("c", str(tmp_path / "c.history.csv"), 10)]
    loop = run("d", 2, init=str(tmp_path / "d.h5"))  # a run that names itself stops the chain
    assert [label for label, _, _ in init_chain(loop)] == ["d"]
    path = explain.plot_curves({"a": str(tmp_path / "a.history.csv"), "b": str(tmp_path / "b.history.csv")},
                               str(tmp_path / "curves.png"), {"b": 6})
    assert os.path.getsize(path) > 10_000
