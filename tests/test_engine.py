"""The OpenVINO engine: the same predictions as Keras, converted once into a cache keyed by the file."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, random_faces

openvino = pytest.importorskip("openvino")

from ferhw3 import engine  # noqa: E402


@pytest.fixture
def trained_like_model(tmp_path):
    """A small CNN with batch-norm statistics that are not the identity, saved as .h5."""
    import keras

    from ferhw3.models import build_cnn

    model = build_cnn("vgg-bn")
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])
    path = tmp_path / "m.h5"
    model.save(path)
    return str(path), keras.models.load_model(path, compile=False)


def test_openvino_predicts_what_keras_predicts_and_caches_by_hash(tmp_path, monkeypatch, trained_like_model):
    path, model = trained_like_model
    monkeypatch.setenv("FERHW3_CACHE", str(tmp_path / "cache"))
    x, _ = random_faces(300)
    for side in (48, 40):  # whole faces and centre windows
        views = x[:, :side, :side].astype(np.float32)
        ov = engine.load_predictor(path, "openvino")
        assert ov.engine == "openvino" and ov.precision == "f32"  # trained in float32
        np.testing.assert_allclose(ov.predict(views), model.predict(views, verbose=0), atol=1e-4)
    cached = os.listdir(tmp_path / "cache" / "openvino")
    assert len(cached) == 1 and cached[0].startswith(engine.file_hash(path)[:20])
    monkeypatch.setattr(engine, "convert", lambda *a: pytest.fail("converted again"))
    assert engine.load_predictor(path, "openvino").predict(x[:5]).shape == (5, 7)


def test_bfloat16_models_run_in_bf16_and_agree_with_keras(tmp_path, monkeypatch):
    import keras

    from ferhw3.models import build_cnn

    monkeypatch.setenv("FERHW3_CACHE", str(tmp_path / "cache"))
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_cnn("vgg-bn")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(tmp_path / "bf.h5")
    ov = engine.load_predictor(str(tmp_path / "bf.h5"), "openvino")
    x, _ = random_faces(256, seed=3)
    assert ov.precision == "bf16"
    ref = keras.models.load_model(tmp_path / "bf.h5", compile=False).predict(x.astype(np.float32), verbose=0)
    assert np.mean(ov.predict(x).argmax(1) == ref.argmax(1)) >= 0.95  # bf16 moves only near-ties
    assert np.abs(ov.predict(x) - ref).max() < 0.05


def test_the_engine_can_be_turned_off_and_export_writes_an_ir(tmp_path, monkeypatch, trained_like_model):
    path, _ = trained_like_model
    monkeypatch.setenv("FERHW3_ENGINE", "keras")
    assert engine.engine_name() == "keras" and engine.load_predictor(path).engine == "keras"
    r = subprocess.run([sys.executable, "-m", "ferhw3", "export", path, str(tmp_path / "ir")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    model = openvino.Core().read_model(str(tmp_path / "ir" / "m.xml"))
    assert sorted(os.listdir(tmp_path / "ir")) == ["m.bin", "m.xml"] and model.outputs[0].get_partial_shape()[1] == 7


def test_without_a_writable_cache_it_predicts_with_keras(tmp_path, monkeypatch, trained_like_model):
    path, model = trained_like_model
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("FERHW3_CACHE", str(tmp_path / "a-file"))
    predictor = engine.load_predictor(path, "openvino")
    x, _ = random_faces(8)
    assert predictor.engine == "keras"
    np.testing.assert_allclose(predictor.predict(x), model.predict(x.astype(np.float32), verbose=0), atol=1e-6)
