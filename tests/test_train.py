import json
import os

import keras
import numpy as np
import pandas as pd

from fer.data import load_csv
from fer.models import build_cnn
from fer.predict import predict_proba
from fer.train import Config, WarmupCosine, fit


def tiny_config(**kw):
    base = dict(epochs=1, batch_size=16, val_size=14, crop=40, patience=5, warmup_epochs=1)
    base.update(kw)
    return Config(**base)


def test_fit_writes_model_history_and_checkpoint(tmp_path, tiny_train):
    path, x, y = tiny_train
    out = str(tmp_path / "m" / "cnn.h5")
    res = fit(lambda: build_cnn("vgg-bn"), load_csv(path), tiny_config(epochs=2), out, verbose=0)
    assert res.n_train == 56 and res.n_val == 14 and res.epochs_run == 2
    assert 0 <= res.val_accuracy <= 1
    for f in ("cnn.h5", "cnn.history.csv", "cnn.last.keras", "cnn.last.json"):
        assert os.path.exists(tmp_path / "m" / f), f
    hist = pd.read_csv(tmp_path / "m" / "cnn.history.csv")
    assert list(hist["epoch"]) == [0, 1] and {"accuracy", "val_accuracy", "loss", "val_loss"} <= set(hist)
    # The saved model is the one whose accuracy fit reports.
    model = keras.models.load_model(out, compile=False)
    assert model.input_shape[1:] == (None, None, 1)


def test_resume_continues_from_last_epoch_with_optimizer_state(tmp_path, tiny_train):
    path, _, _ = tiny_train
    out = str(tmp_path / "cnn.h5")
    faces = load_csv(path)
    fit(lambda: build_cnn("vgg-bn"), faces, tiny_config(epochs=2), out, verbose=0)
    assert json.load(open(tmp_path / "cnn.last.json"))["epoch"] == 2
    saved = keras.models.load_model(tmp_path / "cnn.last.keras", compile=False).get_weights()

    seen = {}

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["step"] = int(self.model.optimizer.iterations.numpy())
            seen["optimizer"] = type(self.model.optimizer).__name__
            seen["weights"] = self.model.get_weights()

    import fer.train as T
    orig = T.ResumableCheckpoint
    T.ResumableCheckpoint = lambda stem, cfg: _Both(orig(stem, cfg), Spy())
    try:
        res = fit(lambda: build_cnn("vgg-bn"), faces, tiny_config(epochs=3), out, resume=True, verbose=0)
    finally:
        T.ResumableCheckpoint = orig
    assert seen["optimizer"] == "SGD" and seen["step"] == 2 * (56 // 16)
    for a, b in zip(saved, seen["weights"]):
        np.testing.assert_array_equal(a, b)
    hist = pd.read_csv(tmp_path / "cnn.history.csv")
    assert list(hist["epoch"]) == [0, 1, 2]  # one more epoch, appended
    assert res.epochs_run == 3


class _Both(keras.callbacks.Callback):
    def __init__(self, *cbs):
        super().__init__()
        self.cbs = cbs

    def set_model(self, model):
        for c in self.cbs:
            c.set_model(model)

    def on_train_begin(self, logs=None):
        for c in self.cbs:
            c.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        for c in self.cbs:
            c.on_epoch_end(epoch, logs)


def test_warmup_cosine_schedule_shape():
    s = WarmupCosine(0.1, total=100, warmup=10)
    lrs = np.array([float(s(i)) for i in range(100)])
    assert lrs[:10].argmax() == 9 and abs(lrs[9] - 0.1) < 1e-6
    assert np.all(np.diff(lrs[10:]) <= 1e-9) and lrs[-1] < 1e-3


def test_training_learns_a_separable_problem(tmp_path):
    """Bright faces are class 3, dark ones class 0: a model that trains must beat chance."""
    rng = np.random.default_rng(0)
    y = np.array([0, 3] * 80)
    x = np.where(y[:, None, None, None] == 3, rng.integers(150, 256, (160, 48, 48, 1)),
                 rng.integers(0, 100, (160, 48, 48, 1))).astype(np.uint8)
    from fer.data import Faces
    res = fit(lambda: build_cnn("vgg-bn"), Faces(x=x, labels=y),
              tiny_config(epochs=4, val_size=40, lr=0.02, label_smoothing=0.0), str(tmp_path / "s.h5"), verbose=0)
    assert res.val_accuracy >= 0.9


def test_flip_tta_and_ensemble_average(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (6, 48, 48, 1)).astype(np.uint8)
    a, b = build_cnn("vgg-bn"), build_cnn("vgg-bn")
    pa = predict_proba([a], x, tta="none")
    pb = predict_proba([b], x, tta="none")
    np.testing.assert_allclose(predict_proba([a, b], x, tta="none"), (pa + pb) / 2, rtol=1e-5, atol=1e-6)
    flipped = predict_proba([a], x[:, :, ::-1], tta="none")
    np.testing.assert_allclose(predict_proba([a], x, tta="flip"), (pa + flipped) / 2, rtol=1e-5, atol=1e-6)
