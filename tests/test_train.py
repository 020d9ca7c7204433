import json
import os

import keras
import numpy as np
import pandas as pd
import pytest

from ferhw3.data.read import load_csv
from ferhw3.infer.predict import predict_proba
from ferhw3.train.callbacks import ResumableEarlyStopping
from ferhw3.train.config import Config
from ferhw3.train.fit import Extras, fit
from ferhw3.train.models import build_cnn
from ferhw3.train.optim import WarmupCosine


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
    res, seen = resume_watching(faces, tiny_config(epochs=3), out)
    assert seen["optimizer"] == "SGD" and seen["step"] == 2 * (56 // 16)
    for a, b in zip(saved, seen["weights"]):
        np.testing.assert_array_equal(a, b)
    hist = pd.read_csv(tmp_path / "cnn.history.csv")
    assert list(hist["epoch"]) == [0, 1, 2]  # one more epoch, appended
    assert res.epochs_run == 3


def resume_watching(faces, cfg, out, verbose=0):
    """fit() resumed from out's checkpoint, and what the model held as training began: its
    optimizer's class and step, its weights."""
    import ferhw3.train.fit as T

    seen = {}

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["step"] = int(self.model.optimizer.iterations.numpy())
            seen["optimizer"] = type(self.model.optimizer).__name__
            seen["weights"] = self.model.get_weights()

    orig = T.ResumableCheckpoint
    T.ResumableCheckpoint = lambda stem, cfg: _Both(orig(stem, cfg), Spy())
    try:
        res = fit(lambda: build_cnn("vgg-bn"), faces, cfg, out, Extras(resume=True), verbose=verbose)
    finally:
        T.ResumableCheckpoint = orig
    return res, seen


def test_split_seed_keeps_the_projects_split_for_another_seed(tmp_path):
    """seed draws the split too, unless split_seed is set: a member with another seed holds
    out the same faces as the others, and its run record says which split it held out."""
    from ferhw3.data.read import Faces
    from ferhw3.runfiles import RunFiles, write_json
    from ferhw3.train.fit import split

    labels = np.repeat(np.arange(7), 20)
    faces = Faces(np.zeros((len(labels), 48, 48, 1), np.uint8), labels)
    va = lambda cfg: sorted(split(faces, cfg)[1])  # noqa: E731
    assert va(Config(val_size=14, seed=2, split_seed=0)) == va(Config(val_size=14, seed=0))
    assert va(Config(val_size=14, seed=2)) != va(Config(val_size=14, seed=0))
    for cfg, held in ((Config(seed=2, split_seed=0), 0), (Config(seed=2), 2)):
        out = str(tmp_path / f"m{held}.h5")
        write_json(RunFiles(out).config_path, {"config": cfg.to_dict()})
        assert RunFiles(out).split() == (held, 2871.0)
    del (c := Config(seed=2).to_dict())["split_seed"]  # a record from before the field: seed's split
    write_json(RunFiles(str(tmp_path / "old.h5")).config_path, {"config": c})
    assert RunFiles(str(tmp_path / "old.h5")).split() == (2, 2871.0)
    with pytest.raises(ValueError, match="split_seed"):
        Config(split_seed=-2).check()


def test_a_run_counts_as_finished_only_with_its_settings_and_every_epoch(tmp_path, tiny_train):
    """What lets --resume of a finished run return at once: the same config and start, every
    epoch trained; more epochs, other settings or another start train as before."""
    from ferhw3.runfiles import RunFiles

    path, _, _ = tiny_train
    out = str(tmp_path / "cnn.h5")
    cfg = tiny_config(epochs=2)
    files = RunFiles(out)
    assert files.finished(cfg.to_dict()) is None  # nothing there yet
    fit(lambda: build_cnn("vgg-bn"), load_csv(path), cfg, out, verbose=0)
    assert files.finished(cfg.to_dict())["epochs_run"] == 2
    assert files.finished(json.loads(json.dumps(cfg.to_dict())))  # as a JSON round trip reads it
    assert files.finished(tiny_config(epochs=3).to_dict()) is None
    assert files.finished(tiny_config(epochs=2, lr=0.5).to_dict()) is None
    assert files.finished(cfg.to_dict(), init="start.h5") is None
    os.remove(out)
    assert files.finished(cfg.to_dict()) is None  # the best model is gone: train again


@pytest.mark.slow
def test_resumed_run_matches_an_uninterrupted_one(tmp_path, tiny_train):
    """Stopping after epoch 2 (as a kill just after the checkpoint would) and resuming gives
    the same weights as running all 4 epochs at once: shuffling, augmentation and dropout
    draw from (seed, epoch, batch), and the checkpoint holds the optimizer state."""
    path, _, _ = tiny_train
    faces = load_csv(path)
    cfg = tiny_config(epochs=4, label_smoothing=0.1)

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    full = fit(lambda: build_cnn("vgg-bn"), faces, cfg, str(tmp_path / "a.h5"), verbose=0)
    fit(lambda: build_cnn("vgg-bn"), faces, cfg, str(tmp_path / "b.h5"), Extras(callbacks=(StopAfterTwo(),)), verbose=0)
    assert json.load(open(tmp_path / "b.last.json"))["epoch"] == 2
    resumed = fit(lambda: build_cnn("vgg-bn"), faces, cfg, str(tmp_path / "b.h5"), Extras(resume=True), verbose=0)
    assert resumed.epochs_run == 4
    a = keras.models.load_model(tmp_path / "a.last.keras", compile=False).get_weights()
    b = keras.models.load_model(tmp_path / "b.last.keras", compile=False).get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    assert resumed.val_accuracy == full.val_accuracy
    hist_a, hist_b = pd.read_csv(tmp_path / "a.history.csv"), pd.read_csv(tmp_path / "b.history.csv")
    np.testing.assert_allclose(hist_a["loss"], hist_b["loss"], rtol=1e-5)

    # and the comparison can fail: another seed trains other weights
    other = fit(lambda: build_cnn("vgg-bn"), faces, tiny_config(epochs=4, label_smoothing=0.1, seed=1),
                str(tmp_path / "c.h5"), verbose=0)
    c = keras.models.load_model(tmp_path / "c.last.keras", compile=False).get_weights()
    assert not all(np.allclose(wa, wc) for wa, wc in zip(a, c))
    assert other.epochs_run == 4


def test_training_batches_depend_on_seed_epoch_and_batch_only():
    from ferhw3.data.pipeline import augmenter, train_dataset

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (70, 48, 48, 1), dtype=np.uint8), rng.integers(0, 7, 70)

    def batches(first, seed=0):
        ds = train_dataset(x, y, 16, augmenter(40, seed=seed), seed=seed, epochs=range(first, 3))
        return [b[0].numpy() for b in ds]

    a, resumed, again, other = batches(0), batches(2), batches(0), batches(0, seed=5)
    assert len(a) == 3 * 4 and len(resumed) == 4 and a[0].shape == (16, 40, 40, 1)
    assert all(np.array_equal(p, q) for p, q in zip(a[8:], resumed))  # epoch 2, however we got there
    assert all(np.array_equal(p, q) for p, q in zip(a, again))
    assert not np.array_equal(a[0], a[4])  # each epoch its own order and augmentation
    assert not np.array_equal(a[0], other[0])


def test_random_erasing_hits_about_the_asked_share_of_faces_and_repeats():
    from ferhw3.data.pipeline import augmenter, reseed, seed_generators

    flat = np.full((200, 48, 48, 1), 128, np.float32)  # any erased pixel stands out

    def erased(p, counter=0):
        aug = augmenter(40, rotation_deg=0, zoom=0, shift=0, erase=p)
        reseed(seed_generators(aug), counter)
        out = aug(flat, training=True).numpy()
        return out, (out != 128).reshape(len(out), -1).mean(1)

    _, none = erased(0.0)
    assert none.max() == 0
    out, frac = erased(0.5)
    hit = frac > 0
    assert 0.3 < hit.mean() < 0.7  # about half the faces
    assert frac[hit].max() <= 0.26  # a patch of at most a quarter of the 40x40 crop
    assert np.array_equal(out, erased(0.5)[0]) and not np.array_equal(out, erased(0.5, counter=1)[0])
    _, always = erased(1.0)
    assert (always > 0).mean() > 0.9


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


def test_early_stopping_counts_patience_across_a_resume():
    """Best 0.5 at epoch 1 and no gain in epochs 2-3, patience 3: one more epoch without a
    gain stops the resumed run; a fresh count (plain EarlyStopping on resume) goes on."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    resumed = ResumableEarlyStopping(past=[0.1, 0.5, 0.3, 0.2], monitor="val_accuracy", patience=3)
    fresh = ResumableEarlyStopping(monitor="val_accuracy", patience=3)
    for cb in (resumed, fresh):
        cb.set_model(model)
        model.stop_training = False
        cb.on_train_begin()
        cb.on_epoch_end(4, {"val_accuracy": 0.45})
        assert model.stop_training is (cb is resumed)
    assert resumed.best == 0.5 and resumed.best_epoch == 1
    # a new best resets the count
    model.stop_training = False
    resumed.on_train_begin()
    resumed.on_epoch_end(4, {"val_accuracy": 0.6})
    assert not model.stop_training and resumed.wait == 0 and resumed.best == 0.6


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
    from ferhw3.data.read import Faces
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
    # center: the middle 40x40 window and its mirror; crops: centre + corner 44x44 windows, mirrored
    np.testing.assert_allclose(predict_proba([a], x, tta="center"),
                               predict_proba([a], x[:, 4:44, 4:44], tta="flip"), rtol=1e-5, atol=1e-6)
    windows = [x[:, i:i + 44, j:j + 44] for i, j in ((2, 2), (0, 0), (0, 4), (4, 0), (4, 4))]
    manual = sum(predict_proba([a], w, tta="flip") for w in windows) / 5
    np.testing.assert_allclose(predict_proba([a], x, tta="crops"), manual, rtol=1e-5, atol=1e-6)


def test_random_window_cuts_a_window_in_training_and_passes_whole_faces_otherwise():
    from ferhw3.data.pipeline import RandomWindow, augmenter

    faces = np.arange(4 * 48 * 48, dtype=np.float32).reshape(4, 48, 48, 1)
    layer = RandomWindow(40, seed=3)
    assert np.array_equal(np.asarray(layer(faces, training=False)), faces)
    windows = [np.asarray(layer(faces, training=True)) for _ in range(20)]
    offsets = set()
    for w in windows:
        assert w.shape == (4, 40, 40, 1)
        i, j = divmod(int(w[0, 0, 0, 0]), 48)  # pixel values are their own positions
        assert 0 <= i <= 8 and 0 <= j <= 8
        assert np.array_equal(w, faces[:, i:i + 40, j:j + 40])  # a true window, the same for the batch
        offsets.add((i, j))
    assert len(offsets) > 5  # the offsets vary from call to call
    assert any(isinstance(l, RandomWindow) for l in augmenter(40, 0, 0, 0, in_model=True).layers)
    assert not any(isinstance(l, RandomWindow) for l in augmenter(40).layers)


def test_array_feed_augments_in_a_wrapper_but_saves_the_plain_best_model(tmp_path):
    """The JAX path (feed="arrays"), run here on TensorFlow: it learns the bright/dark
    problem, and the saved model is the bare classifier of the best epoch."""
    rng = np.random.default_rng(0)
    y = np.array([0, 3] * 80)
    x = np.where(y[:, None, None, None] == 3, rng.integers(150, 256, (160, 48, 48, 1)),
                 rng.integers(0, 100, (160, 48, 48, 1))).astype(np.uint8)
    from ferhw3.data.read import Faces
    out = str(tmp_path / "cnn.h5")
    res = fit(lambda: build_cnn("vgg-bn"), Faces(x=x, labels=y),
              tiny_config(epochs=4, val_size=40, lr=0.02, label_smoothing=0.0), out, verbose=0, feed="arrays")
    assert res.val_accuracy >= 0.9
    model = keras.models.load_model(out, compile=False)
    assert model.name == "vgg_bn" and "augment" not in [l.name for l in model.layers]
    hist = pd.read_csv(tmp_path / "cnn.history.csv")
    assert len(hist) == 4 and res.val_accuracy == pytest.approx(hist["val_accuracy"].max(), abs=1e-6)
    assert os.path.exists(tmp_path / "cnn.last.keras")


def test_epochs_for_minutes_fills_the_budget_at_the_measured_speed():
    from ferhw3.train.budget import VALIDATION_COST, epochs_for_minutes

    # 60 minutes at 300 faces/s is 1,080,000 faces: 41 epochs of 25,838 training faces alone
    assert epochs_for_minutes(60, 300, 25838) == 41
    with_val = epochs_for_minutes(60, 300, 25838, 2871)
    assert with_val == int(3600 * 300 / (25838 + VALIDATION_COST * 2871)) < 41
    assert epochs_for_minutes(120, 300, 25838, 2871) in (2 * with_val, 2 * with_val + 1)
    assert epochs_for_minutes(60, 300, 25838, 2871, spent_seconds=1800) == epochs_for_minutes(30, 300, 25838, 2871)
    assert epochs_for_minutes(0.01, 300, 25838) == 1  # never zero epochs


def test_the_deadline_stops_before_an_epoch_that_would_end_past_the_budget():
    from types import SimpleNamespace

    from ferhw3.train.budget import Deadline

    now = [0.0]
    d = Deadline(deadline=100.0, clock=lambda: now[0], verbose=0)
    d.set_model(SimpleNamespace(stop_training=False))
    d.set_params({"epochs": 10})
    d.on_train_begin()
    ends = []
    for epoch, took in enumerate([30, 20, 20, 20, 20]):  # the first epoch also traces the graph
        now[0] += took
        d.on_epoch_end(epoch)
        ends.append(d.model.stop_training)
        if d.model.stop_training:
            break
    # after epoch 4 (t=90) another 20 s epoch would end at 110 > 100; after epoch 3 (t=70) at 90
    assert ends == [False, False, False, True] and d.stopped_after == 4
    # the last planned epoch is never "stopped": the run ends there anyway
    last = Deadline(deadline=1.0, clock=lambda: now[0], verbose=0)
    last.set_model(SimpleNamespace(stop_training=False))
    last.set_params({"epochs": 1})
    last.on_train_begin()
    last.on_epoch_end(0)
    assert not last.model.stop_training and last.stopped_after is None


def test_a_resumed_budget_run_keeps_its_epochs_and_what_is_left_of_its_budget(tmp_path, tiny_train, monkeypatch):
    import time

    from ferhw3.data.read import load_faces
    from ferhw3.runfiles import RunFiles
    from ferhw3.train import budget

    stem = tmp_path / "m"
    with open(f"{stem}.last.json", "w") as f:
        json.dump({"epoch": 2, "config": {"epochs": 7, "extra": {"minutes": 60, "measured_images_per_second": 280}}}, f)
    with open(f"{stem}.history.csv", "w") as f:
        f.write("epoch,accuracy,minutes\n0,0.3,20.0\n1,0.4,40.0\n")
    monkeypatch.setattr(budget, "training_speed", lambda *a, **k: pytest.fail("measured again on resume"))
    cfg = Config(epochs=60, minutes=60)
    before = time.time()
    deadline = budget.plan(lambda: build_cnn("vgg-bn"), load_faces(tiny_train[0], expect="train"), cfg,
                           RunFiles(f"{stem}.h5"), resume=True).deadline
    assert cfg.epochs == 7 and cfg.extra["measured_images_per_second"] == 280
    # 40 of the 60 minutes are spent: 20 are left
    assert before + 19.9 * 60 <= deadline <= time.time() + 20 * 60


@pytest.mark.parametrize("fused", [True, False])
def test_the_budget_probe_the_run_and_the_mean_teacher_build_one_step(monkeypatch, tmp_path, fused):
    """The speed probe, fit() and the mean teacher all train what ferhw3.train.step.build_step makes:
    with fused_bn their models have their batch norms fused, without it none."""
    from ferhw3.train import budget, meanteacher, models, step
    from ferhw3.train.config import Config
    from conftest import random_faces
    from ferhw3.data.read import Faces

    calls, built = [], []
    real_fuse, real_build = step.fuse_batch_norm, step.build_step
    monkeypatch.setattr(step, "fuse_batch_norm", lambda m: calls.append(m.name) or real_fuse(m))
    for module in (budget, meanteacher):
        monkeypatch.setattr(module, "build_step", lambda *a, **k: built.append(1) or real_build(*a, **k))
    import ferhw3.train.fit as T

    monkeypatch.setattr(T, "build_step", lambda *a, **k: built.append(1) or real_build(*a, **k))
    x, y = random_faces(70)
    faces = Faces(x=x, labels=y)
    cfg = Config(arch="vgg-bn", batch_size=16, val_size=14, fused_bn=fused, epochs=1)
    build = lambda: models.build_cnn("vgg-bn")  # noqa: E731
    speed = budget.training_speed(build, faces, cfg, steps=2, warmup=1)
    assert speed > 0 and calls == (["vgg_bn"] if fused else [])
    if not fused:  # the rest is the same path again
        return
    fit(build, faces, cfg, str(tmp_path / "m.h5"), verbose=0)
    assert calls == ["vgg_bn"] * 2
    meanteacher.mean_teacher(build, faces, Config(**{**cfg.__dict__, "mean_teacher": 1.0}), x[:32],
                             str(tmp_path / "m.h5"), str(tmp_path / "mt.h5"), steps=3)
    assert calls == ["vgg_bn"] * 3 and len(built) == 3


# The run files as the code before the one training step wrote them (ferhw3.runfiles):
# STEM.last.json held these config fields; runs begun then resume now.
OLD_CONFIG_FIELDS = ["arch", "epochs", "minutes", "max_epochs", "batch_size", "val_size", "seed", "optimizer", "lr",
                     "schedule", "warmup_epochs", "weight_decay", "label_smoothing", "patience", "precision",
                     "fused_bn", "dropout", "augment", "crop", "rotation", "zoom", "shift", "erase", "teachers",
                     "distill", "unlabelled", "self_train", "threshold", "rounds", "self_train_epochs", "cap", "soft",
                     "agree", "mean_teacher", "extra"]


def test_a_run_begun_with_the_earlier_run_format_resumes(tmp_path, tiny_train):
    path, _, _ = tiny_train
    faces = load_csv(path)
    out = str(tmp_path / "old.h5")
    cfg = tiny_config(epochs=1)
    fit(lambda: build_cnn("vgg-bn"), faces, cfg, out, verbose=0)
    state = json.load(open(tmp_path / "old.last.json"))
    state["config"] = {k: state["config"][k] for k in OLD_CONFIG_FIELDS}  # no field added since
    (tmp_path / "old.last.json").write_text(json.dumps(state, indent=1))
    os.unlink(tmp_path / "old.config.json")  # stopped before its record was written
    assert list(pd.read_csv(tmp_path / "old.history.csv").columns) == ["epoch", "accuracy", "loss", "minutes",
                                                                        "val_accuracy", "val_loss"]
    seen = {}

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["step"] = int(self.model.optimizer.iterations.numpy())

    res = fit(lambda: build_cnn("vgg-bn"), faces, tiny_config(epochs=3), out,
              Extras(resume=True, callbacks=(Spy(),)), verbose=0)
    assert seen["step"] == 56 // 16 and res.epochs_run == 3
    assert list(pd.read_csv(tmp_path / "old.history.csv")["epoch"]) == [0, 1, 2]


CPU_FLAGS = {"avx2": "flags\t\t: fpu sse2 avx avx2 fma\n", "avx512_bf16": "flags\t\t: fpu avx2 avx512f avx512_bf16\n",
             "arm": "Features\t: fp asimd sve bf16\n"}


@pytest.mark.parametrize("cpu, native", [("avx2", False), ("avx512_bf16", True), ("arm", True), (None, None)])
def test_bfloat16_instructions_are_read_off_the_cpu_flags(tmp_path, cpu, native):
    from ferhw3.train.step import cpu_has_bfloat16

    path = tmp_path / "cpuinfo"
    if cpu:
        path.write_text("processor\t: 0\n" + CPU_FLAGS[cpu] + "\nprocessor\t: 1\n" + CPU_FLAGS[cpu])
    assert cpu_has_bfloat16(str(path)) is native


def test_mixed_bfloat16_trains_in_float32_on_a_cpu_without_bfloat16(tmp_path):
    from ferhw3.train.step import for_this_machine

    for cpu, expect in (("avx2", "float32"), ("avx512_bf16", "mixed_bfloat16")):
        (tmp_path / cpu).write_text(CPU_FLAGS[cpu])
        said = []
        cfg = for_this_machine(tiny_config(precision="mixed_bfloat16"), str(tmp_path / cpu), said.append)
        assert cfg.precision == expect and len(said) == (expect == "float32")
        assert cfg.epochs == 1 and cfg.crop == 40  # nothing else changes
    assert for_this_machine(tiny_config(), str(tmp_path / "avx2"), said.append).precision == "float32"


def test_a_mixed_bfloat16_run_resumes_in_float32(tmp_path, tiny_train, capsys):
    path, _, _ = tiny_train
    out = str(tmp_path / "cnn.h5")
    faces = load_csv(path)
    try:
        fit(lambda: build_cnn("vgg-bn"), faces, tiny_config(precision="mixed_bfloat16"), out, verbose=0)
        saved = keras.models.load_model(tmp_path / "cnn.last.keras", compile=False).get_weights()
        res, seen = resume_watching(faces, tiny_config(epochs=2), out, verbose=1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert "Resuming a mixed_bfloat16 run in float32" in capsys.readouterr().out
    for a, b in zip(saved, seen["weights"]):
        np.testing.assert_array_equal(a, b)  # float32 weights in both: the checkpoint's, exactly
    assert res.epochs_run == 2 and json.load(open(tmp_path / "cnn.last.json"))["config"]["precision"] == "float32"
