"""The OpenVINO engine: .h5 models built without Keras (ferhw3.infer.h5graph) predict what
Keras predicts; other models are converted once through Keras into a cache keyed by the file."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, random_faces

openvino = pytest.importorskip("openvino")
keras = pytest.importorskip("keras")

from ferhw3.errors import UsageError  # noqa: E402
from ferhw3.infer import engine, h5graph  # noqa: E402
from ferhw3.train.models import ARCHITECTURES, build_cnn, dnn  # noqa: E402


def jiggled(model, seed=0):
    """`model` with every weight moved (batch-norm statistics that are not the identity)."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + np.abs(rng.normal(0, 0.05, w.shape)).astype(w.dtype) if "variance" in v.path
                       else w + rng.normal(0, 0.05, w.shape).astype(w.dtype)
                       for v, w in zip(model.weights, model.get_weights())])
    return model


@pytest.fixture
def trained_like_model(tmp_path):
    """A small CNN with batch-norm statistics that are not the identity, saved as .h5."""
    model = jiggled(build_cnn("vgg-bn"))
    path = tmp_path / "m.h5"
    model.save(path)
    return str(path), keras.models.load_model(path, compile=False)


def f32_predictor(path):
    p = engine.built_predictor(str(path))
    p.precision = "f32"
    return p


@pytest.mark.parametrize("arch", [*ARCHITECTURES, "dnn"])
def test_every_architecture_is_built_from_the_h5_as_keras_computes_it(tmp_path, arch):
    """Each of the project's architectures, its weights moved off their start, gives Keras's
    probabilities (float32) on whole faces and, when fully convolutional, on 40x40 windows."""
    model = jiggled(dnn(64, 2) if arch == "dnn" else build_cnn(arch), seed=len(arch))
    model.save(tmp_path / "m.h5")
    built = f32_predictor(tmp_path / "m.h5")
    x, _ = random_faces(24, seed=2)
    for side in ((48,) if model.input_shape[1] else (48, 40)):
        views = x[:, :side, :side].astype(np.float32)
        want, got = model.predict(views, verbose=0), built.predict(views)
        np.testing.assert_allclose(got, want, atol=1e-4)  # float32 rounding, summed in another order
        assert (got.argmax(1) == want.argmax(1)).all()
    assert built.input_shape == model.input_shape


def test_a_users_sequential_model_with_other_layers_is_built(tmp_path):
    """A user's own Sequential model (Rescaling, Conv2D with bias and activation, LeakyReLU,
    average pooling, Flatten, Dense, dropout) is built and agrees with Keras."""
    layers = keras.layers
    model = keras.Sequential([keras.Input((48, 48, 1)), layers.Rescaling(1 / 255.0), layers.RandomFlip("horizontal"),
                              layers.Conv2D(8, 3, strides=2, activation="relu"), layers.LeakyReLU(0.1),
                              layers.AveragePooling2D(2, padding="same"), layers.Conv2D(8, 3, padding="same"),
                              layers.Activation("tanh"), layers.GlobalMaxPooling2D(keepdims=True), layers.Flatten(),
                              layers.Dense(16, activation="sigmoid"), layers.Dropout(0.5),
                              layers.Dense(7, activation="softmax")])
    model = jiggled(model, seed=5)
    model.save(tmp_path / "user.h5")
    x, _ = random_faces(16, seed=4)
    np.testing.assert_allclose(f32_predictor(tmp_path / "user.h5").predict(x), model.predict(x.astype(np.float32), verbose=0),
                               atol=1e-4)


def unsupported_model(tmp_path):
    """A model with a layer the builder does not know (a Conv2DTranspose), as .h5."""
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2DTranspose(4, 3, strides=2)(keras.layers.Rescaling(1 / 255.0)(inputs))
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "other.h5"
    keras.Model(inputs, outputs).save(path)
    return str(path)


def test_a_model_the_builder_does_not_know_is_converted_through_keras_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("FERHW3_CACHE", str(tmp_path / "cache"))
    path = unsupported_model(tmp_path)
    with pytest.raises(h5graph.Unsupported, match="Conv2DTranspose"):
        h5graph.build(path)
    x, _ = random_faces(40)
    predictor = engine.load_predictor(path, "openvino")
    assert predictor.engine == "openvino"
    ref = keras.models.load_model(path, compile=False).predict(x.astype(np.float32), verbose=0)
    np.testing.assert_allclose(predictor.predict(x), ref, atol=1e-4)
    cached = os.listdir(tmp_path / "cache" / "openvino")
    assert len(cached) == 1 and cached[0].startswith(engine.file_hash(path)[:20])
    monkeypatch.setattr(engine, "convert", lambda *a: pytest.fail("converted again"))
    assert engine.load_predictor(path, "openvino").predict(x[:5]).shape == (5, 7)


def test_without_keras_such_a_model_is_refused_in_one_line_naming_the_extra(tmp_path, monkeypatch):
    path = unsupported_model(tmp_path)
    monkeypatch.setattr(engine, "keras_available", lambda: False)
    with pytest.raises(UsageError, match=r"other\.h5: this model needs Keras.*Conv2DTranspose.*ferhw3\[train\]"):
        engine.load_predictor(path, "openvino")


def test_shipped_style_h5_needs_no_cache_and_bad_files_are_one_line(tmp_path, monkeypatch, trained_like_model):
    path, _ = trained_like_model
    monkeypatch.setenv("FERHW3_CACHE", str(tmp_path / "cache"))
    assert engine.load_predictor(path, "openvino").predict(random_faces(4)[0]).shape == (4, 7)
    assert not os.path.exists(tmp_path / "cache")  # built from the file, nothing converted
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(UsageError, match=r"junk\.h5: cannot load model"):
        engine.load_predictor(str(tmp_path / "junk.h5"), "openvino")
    inputs = keras.Input((48, 48, 3))
    keras.Model(inputs, keras.layers.Dense(7)(keras.layers.Flatten()(inputs))).save(tmp_path / "rgb.h5")
    with pytest.raises(UsageError, match=r"rgb\.h5: model expects input \(48, 48, 3\)"):
        engine.load_predictor(str(tmp_path / "rgb.h5"), "openvino")


def test_bfloat16_models_run_at_the_precision_measured_fastest_or_forced(tmp_path, monkeypatch):
    keras.utils.set_random_seed(0)  # the same network whatever ran before in this process
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = jiggled(build_cnn("vgg-bn"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(tmp_path / "bf.h5")
    ov = engine.load_predictor(str(tmp_path / "bf.h5"), "openvino")
    assert ov.precision == "bf16" and ov.allowed() == ["f32", "bf16"]
    from ferhw3.infer import precision

    monkeypatch.setattr(precision, "probe", lambda *a: {"f32": 1.0, "bf16": 2.0})  # bf16 slower here
    assert ov.runs_at() == "f32"
    ov._runs_at = None
    monkeypatch.setattr(precision, "probe", lambda *a: {"f32": 2.0, "bf16": 1.0})
    assert ov.runs_at() == "bf16"
    ov._runs_at = None
    monkeypatch.setenv("FERHW3_PRECISION", "f32")  # the override wins over the measurement
    assert ov.runs_at() == "f32"
    ov._runs_at = None
    monkeypatch.setenv("FERHW3_PRECISION", "int8")  # a precision the model lacks: f32
    assert ov.runs_at() == "f32"
    ov._runs_at = None
    monkeypatch.setenv("FERHW3_PRECISION", "bf16")
    assert ov.runs_at() == "bf16"
    x, _ = random_faces(256, seed=3)
    ref = keras.models.load_model(tmp_path / "bf.h5", compile=False).predict(x.astype(np.float32), verbose=0)
    assert np.mean(ov.predict(x).argmax(1) == ref.argmax(1)) >= 0.95  # bf16 moves only near-ties
    assert np.abs(ov.predict(x) - ref).max() < 0.05


def test_the_engine_can_be_turned_off_and_export_writes_an_ir(tmp_path, monkeypatch, trained_like_model):
    path, model = trained_like_model
    monkeypatch.setenv("FERHW3_ENGINE", "keras")
    assert engine.engine_name() == "keras" and engine.load_predictor(path).engine == "keras"
    r = subprocess.run([sys.executable, "-m", "ferhw3", "export", path, str(tmp_path / "ir")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ir = openvino.Core().read_model(str(tmp_path / "ir" / "m.xml"))
    assert sorted(os.listdir(tmp_path / "ir")) == ["m.bin", "m.xml"] and ir.outputs[0].get_partial_shape()[1] == 7
    x, _ = random_faces(8)
    compiled = openvino.Core().compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(compiled(x.astype(np.float32))[0], model.predict(x.astype(np.float32), verbose=0),
                               atol=2e-3)  # float16 weights


def test_without_a_writable_cache_a_converted_model_predicts_with_keras(tmp_path, monkeypatch):
    path = unsupported_model(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("FERHW3_CACHE", str(tmp_path / "a-file"))
    predictor = engine.load_predictor(path, "openvino")
    x, _ = random_faces(8)
    assert predictor.engine == "keras"
    ref = keras.models.load_model(path, compile=False).predict(x.astype(np.float32), verbose=0)
    np.testing.assert_allclose(predictor.predict(x), ref, atol=1e-6)


def test_predicting_sends_nothing_out_openvinos_telemetry_stays_off(tmp_path, trained_like_model):
    """`import openvino` would fork a process that sends a usage event to Google Analytics;
    the engine imports it with the telemetry declined, so building and predicting forks nothing."""
    path, _ = trained_like_model
    code = ("import os, sys\n"
            "os.fork = lambda: os._exit(3)  # from any thread: the telemetry sender forks in its own\n"
            "import numpy as np\n"
            "from ferhw3.infer import engine\n"
            f"p = engine.load_predictor({path!r}, 'openvino')\n"
            "print(p.predict(np.zeros((2, 48, 48, 1), np.float32)).shape)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "(2, 7)", r.stderr[-2000:]
