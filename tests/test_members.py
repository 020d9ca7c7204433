"""The accelerator path: the gather-based affine augmentation, face packs, and
train_members.py end to end through Keras's JAX backend, on one and on two CPU devices."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile

import keras
import numpy as np
import pytest

from conftest import ROOT, random_faces, write_csv
from ferhw3.data.affine import RandomAffine
from ferhw3.data.pack import pack, unpack
from ferhw3.data.pipeline import augmenter
from ferhw3.data.read import DataError, Faces, load_faces

HAS_JAX = importlib.util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")


def positions(n=3, side=48):
    """Faces whose pixel values are their own positions (row * side + column)."""
    return np.tile(np.arange(side * side, dtype=np.float32).reshape(1, side, side, 1), (n, 1, 1, 1))


def params(n, mirror=1.0, angle=0.0, scale=1.0, ry=0.0, rx=0.0):
    return [np.full((n,), v, np.float32) for v in (mirror, angle, scale, ry, rx)]


def test_affine_without_a_draw_is_the_centre_window_its_mirror_and_its_corners():
    x = positions()
    layer = RandomAffine(40, rotation=10, zoom=0.2, shift=0.0)
    centre = np.asarray(layer.transform(x, *params(3)))
    assert np.array_equal(centre, x[:, 4:44, 4:44])  # exact: every source point is a pixel
    mirror = np.asarray(layer.transform(x, *params(3, mirror=-1.0)))
    assert np.array_equal(mirror, x[:, 4:44, 4:44][:, :, ::-1])
    corner = np.asarray(layer.transform(x, *params(3, ry=1.0, rx=-1.0)))
    assert np.array_equal(corner, x[:, 8:48, 0:40])  # ry, rx of +-1: the farthest the crop slack goes


def test_affine_rotates_scales_and_shifts_as_asked():
    x = positions(1)
    quarter = np.asarray(RandomAffine(48, shift=0.0).transform(x, *params(1, angle=np.pi / 2)))
    assert np.allclose(quarter[0, :, :, 0], np.rot90(x[0, :, :, 0], k=1), atol=1e-3)
    # scale 2 reads every half pixel of the centre: neighbouring outputs differ by half a step
    zoomed = np.asarray(RandomAffine(24, shift=0.0).transform(x, *params(1, scale=2.0)))[0, :, :, 0]
    assert np.allclose(np.diff(zoomed, axis=1), 0.5) and np.allclose(np.diff(zoomed, axis=0), 24.0)
    # a shift of 0.25 of the side with no crop slack moves the window by 12 pixels
    shifted = np.asarray(RandomAffine(48, shift=0.25, zoom=0.0).transform(x, *params(1, rx=1.0)))[0, :, :, 0]
    assert np.array_equal(shifted[:, :36], x[0, :, 12:, 0])
    assert np.array_equal(shifted[:, 36:], np.repeat(x[0, :, 47:, 0], 12, axis=1))  # the edge, repeated


def test_affine_draws_within_its_ranges_and_leaves_faces_whole_outside_training():
    layer = RandomAffine(40, rotation=10, zoom=0.2, shift=0.1, seed=3)
    mirror, angle, scale, ry, rx = (np.asarray(v) for v in layer.sample_params(4000))
    assert set(np.unique(mirror)) == {-1.0, 1.0} and 0.45 < np.mean(mirror > 0) < 0.55
    assert np.abs(angle).max() <= np.deg2rad(10) + 1e-6 and np.abs(angle).max() > np.deg2rad(9.5)
    assert scale.min() >= 0.8 - 1e-6 and scale.max() <= 1.2 + 1e-6
    assert np.abs(ry).max() <= 1 and np.abs(rx).max() <= 1
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    out = np.asarray(layer(faces, training=True))
    assert out.shape == (8, 40, 40, 1)
    assert out.min() >= faces.min() and out.max() <= faces.max()  # bilinear: a mix of its neighbours
    assert not np.allclose(out, np.asarray(layer(faces, training=True)))  # a new draw each call
    assert np.array_equal(np.asarray(layer(faces, training=False)), faces)


def test_the_accelerator_augmenter_uses_the_gather_for_geometry_and_keras_otherwise():
    assert isinstance(augmenter(40, 10, 0.2, 0.1, in_model=True).layers[0], RandomAffine)
    assert not any(isinstance(l, RandomAffine) for l in augmenter(40, 10, 0.2, 0.1).layers)  # tf.data path
    with_erase = augmenter(40, 10, 0.2, 0.1, erase=0.5, in_model=True).layers
    assert isinstance(with_erase[-1], keras.layers.RandomErasing)


def test_a_pack_holds_the_faces_in_order_lossless_or_within_its_size(tmp_path):
    x, y = random_faces(300)
    faces = Faces(x=x, labels=y)
    got = pack(faces, str(tmp_path / "f.npz"), verbose=False)
    back = load_faces(str(tmp_path / "f.npz"), expect="train")
    assert got["quality"] == "lossless" and np.array_equal(back.x, x) and np.array_equal(back.labels, y)
    # smooth faces, as real ones are, at a size lossless cannot meet: the best quality that fits
    smooth = np.clip(np.cumsum(np.random.default_rng(1).normal(0, 3, (300, 48, 48, 1)), axis=2) + 128, 0, 255)
    smooth = smooth.astype(np.uint8)
    lossless = pack(Faces(x=smooth, labels=y), str(tmp_path / "l.npz"), verbose=False)["bytes"]
    small = pack(Faces(x=smooth, labels=y), str(tmp_path / "s.npz"), max_mib=0.6 * lossless / 2 ** 20,
                 verbose=False)
    assert small["quality"] != "lossless" and small["bytes"] <= 0.6 * lossless
    assert 0 < small["mean_abs_error"] < 8
    assert np.abs(unpack(str(tmp_path / "s.npz")).x.astype(int) - smooth).mean() == pytest.approx(
        small["mean_abs_error"])
    ids = Faces(x=x[:10], ids=np.arange(10) + 100)
    pack(ids, str(tmp_path / "t.npz"), verbose=False)
    with pytest.raises(DataError, match="a pack of test faces"):
        load_faces(str(tmp_path / "t.npz"), expect="train")
    (tmp_path / "bad.npz").write_bytes(b"not a pack")
    with pytest.raises(DataError, match="not a face pack"):
        load_faces(str(tmp_path / "bad.npz"))


def jax_env(**kw):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1", **kw)
    env.pop("XLA_FLAGS", None)
    return env


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    x, y = random_faces(420, seed=5)
    x[y == 3] //= 4  # a class the networks can find in one epoch or two
    path = str(tmp_path_factory.mktemp("faces") / "train.faces.npz")
    pack(Faces(x=x, labels=y), path, verbose=False)
    return path


@needs_jax
@pytest.mark.slow
def test_train_members_trains_side_by_side_through_jax_and_brings_back_float16(tmp_path, tiny_pack):
    """gpu/run.sh as a GPU machine runs it (here with this Python, where keras is installed)."""
    out, work = tmp_path / "out", tmp_path / "work"
    cmd = ["bash", "gpu/run.sh", "--max-epochs", "2", "--limit", "420", "--set", "val_size=70",
           "--set", "batch_size=32", "--set", "warmup_epochs=0"]
    env = jax_env(PYTHON=sys.executable, OUT=str(out), WORK=str(work), FACES=tiny_pack, MINUTES="0.05",
                  BENCH_SECONDS="1")  # the augmentation table is timed on the GPU, not here
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "DONE train_members.py: 3 of 3 runs" in done.stdout
    assert "DONE train_members.py: 3 of 3 runs" in (out / "train_members.log").read_text()
    back = os.listdir(out)  # what comes back from a GPU machine: a few plain files with plain names
    assert len(back) <= 8 and all(re.fullmatch(r"[A-Za-z0-9._-]+", n) and (out / n).is_file() for n in back)
    rows = {r["name"]: r for r in json.loads((out / "members.json").read_text())}
    assert set(rows) == {"gpu-300-affine_all", "gpu-300-erase_all", "gpu-300-affine_twin"}
    assert rows["gpu-300-affine_all"]["n_train"] == 420 and rows["gpu-300-affine_all"]["val_accuracy"] is None
    assert rows["gpu-300-affine_twin"]["n_train"] == 350 and 0 <= rows["gpu-300-affine_twin"]["val_accuracy"] <= 1
    for name, row in rows.items():
        assert 1 <= row["epochs"] <= 2 and row["file"] == name + ".h5"
        log = (work / f"{name}.log").read_text()
        assert "budget:" in log and "measured here" in log  # the epochs were sized on the JAX backend
        record = json.loads((work / f"{name}.config.json").read_text())
        assert record["config"]["val_size"] == (0 if row["all_faces"] else 70)
    with tarfile.open(out / "runs.tar.gz") as tar:
        names = set(tar.getnames())
    assert {f"{n}{s}" for n in rows for s in (".history.csv", ".config.json", ".log")} <= names
    # the float16 files that come back predict here, on TensorFlow, as the full-precision ones do
    faces = load_faces(tiny_pack).x[:64].astype(np.float32)
    for name in rows:
        half = keras.models.load_model(out / f"{name}.h5", compile=False)
        full = keras.models.load_model(work / f"{name}.h5", compile=False)
        assert os.path.getsize(out / f"{name}.h5") < 0.6 * os.path.getsize(work / f"{name}.h5")
        assert all(w.dtype == np.float16 for w in _h5_weights(out / f"{name}.h5"))
        assert np.abs(half.predict(faces, verbose=0) - full.predict(faces, verbose=0)).max() < 0.02


def _h5_weights(path):
    import h5py

    arrays = []
    with h5py.File(path, "r") as f:
        f["model_weights"].visititems(lambda _, o: arrays.append(o) if isinstance(o, h5py.Dataset) else None)
        return [a[()] for a in arrays if a.dtype.kind == "f"]


DATA_PARALLEL = """
import os, json, numpy as np, keras, jax
from ferhw3.train.run import make_strategy
make_strategy(2)
from ferhw3.train.models import build_cnn
model = build_cnn("vgg-bn", 0.5)
model.compile(optimizer="sgd", loss="categorical_crossentropy")
x = np.random.default_rng(0).normal(size=(64, 48, 48, 1)).astype("float32")
y = np.eye(7, dtype="float32")[np.arange(64) % 7]
before = [np.array(w) for w in model.get_weights()]
model.fit(x, y, batch_size=32, epochs=1, verbose=0)
kernel = model.trainable_variables[0].value
print(json.dumps(dict(devices=len(jax.devices()), weight_devices=len(kernel.sharding.device_set),
                      moved=bool(any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))))))
"""


@needs_jax
@pytest.mark.slow
def test_keras_data_parallel_on_two_forced_cpu_devices(tmp_path):
    done = subprocess.run([sys.executable, "-c", DATA_PARALLEL], cwd=ROOT, env=jax_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Distributing over 2 devices (Keras DataParallel on JAX)" in done.stdout
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"devices": 2, "weight_devices": 2, "moved": True}  # weights replicated on both, trained
    # and train_cnn.py --distribute --devices 2 runs a whole recipe that way
    x, y = random_faces(140, seed=2)
    write_csv(str(tmp_path / "train.csv"), x, y)
    cmd = [sys.executable, "train_cnn.py", str(tmp_path / "train.csv"), "--distribute", "--devices", "2",
           "--epochs", "1", "--val-size", "28", "--batch-size", "32", "--set", "rotation=10", "--set", "zoom=0.2",
           "--out", str(tmp_path / "m.h5")]
    done = subprocess.run(cmd, cwd=ROOT, env=jax_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Distributing over 2 devices" in done.stdout and "DONE" in done.stdout
    assert keras.models.load_model(tmp_path / "m.h5", compile=False).output_shape == (None, 7)


def test_a_model_trained_on_all_the_faces_is_not_measured_on_the_split(tmp_path):
    """Its run record says val_size=0: the validation figures refuse it, in one line."""
    from ferhw3.infer.evaluate import SeenFaces, validation_faces
    from ferhw3.runfiles import RunFiles
    from ferhw3.train.models import build_cnn

    x, y = random_faces(70)
    data = write_csv(str(tmp_path / "train.csv"), x, y)
    model = str(tmp_path / "m.h5")
    build_cnn("vgg-bn", 0.5).save(model)
    RunFiles(model).write_record({"config": {"seed": 0, "val_size": 0.0}, "n_faces": 70})
    with pytest.raises(SeenFaces, match="trained on all the labelled faces"):
        validation_faces(data, model)
    done = subprocess.run([sys.executable, "visualize.py", "confusion", "--model", model, "--data", data,
                           "--out", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "trained on all the labelled faces" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists() or not os.listdir(tmp_path / "r")  # no figure written
