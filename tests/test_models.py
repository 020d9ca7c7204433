import keras
import numpy as np
import pytest

from ferhw3.train.models import build_cnn, dnn, dnn_params, dnn_width_for, trainable_params


def test_seed_report_vgg_is_the_7_3m_architecture():
    m = build_cnn("vgg-report")
    convs = [l.filters for l in m.layers if l.__class__.__name__ == "Conv2D"]
    assert convs == [64, 64, 128, 128, 256, 256, 512, 512, 512]
    assert 7.2e6 < trainable_params(m) < 7.4e6
    assert m.output_shape == (None, 7)


@pytest.mark.parametrize("arch", ["vgg-bn", "vgg-report"])
def test_dnn_parameter_count_within_5_percent_of_cnn(arch):
    n_cnn = trainable_params(build_cnn(arch))
    width = dnn_width_for(n_cnn)
    model = dnn(width)
    assert trainable_params(model) == dnn_params(width, 3)
    assert abs(trainable_params(model) - n_cnn) / n_cnn < 0.05


def test_vgg_bn_is_fully_convolutional_and_outputs_probabilities():
    m = build_cnn("vgg-bn")
    for side in (40, 48):
        p = m.predict(np.random.default_rng(0).integers(0, 256, (3, side, side, 1)).astype("float32"), verbose=0)
        assert p.shape == (3, 7)
        np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_cnn("resnet-9000")


def test_dropout_scale_changes_rates_not_weights():
    base, light = build_cnn("vgg-bn"), build_cnn("vgg-bn", dropout_scale=0.5)
    rates = lambda m: [l.rate for l in m.layers if l.name.endswith("drop") or l.name.startswith("drop")]
    assert rates(light) == [r / 2 for r in rates(base)] and max(rates(base)) == 0.4
    light.set_weights(base.get_weights())  # same weights: --init works across scales
    assert trainable_params(light) == trainable_params(base)
    import pytest
    with pytest.raises(ValueError):
        build_cnn("vgg-bn", dropout_scale=-1)


def test_halved_h5_loads_as_float32_and_predicts_nearly_the_same(tmp_path):
    import keras

    from ferhw3.infer.compact import halve_h5

    m = build_cnn("vgg-bn")
    # trained-looking batch-norm statistics, so the check is not only about fresh weights
    for layer in m.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.random.default_rng(1).normal(0, 1, layer.moving_mean.shape))
            layer.moving_variance.assign(np.random.default_rng(2).uniform(0.5, 2, layer.moving_variance.shape))
    src, dst = tmp_path / "m.h5", tmp_path / "half.h5"
    m.save(src)
    assert halve_h5(str(src), str(dst)) == len(m.weights)
    assert dst.stat().st_size < 0.6 * src.stat().st_size
    half = keras.models.load_model(dst, compile=False)
    assert all(w.dtype == "float32" for w in half.weights)
    x = np.random.default_rng(0).integers(0, 256, (16, 48, 48, 1)).astype("float32")
    p, q = m.predict(x, verbose=0), half.predict(x, verbose=0)
    np.testing.assert_allclose(q, p, atol=5e-3)
    assert not np.array_equal(p, q)  # the weights really changed precision

    bad = tmp_path / "not_a_model.h5"
    bad.write_text("hello")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "ferhw3", "compact", str(bad), str(tmp_path / "out.h5")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {bad}") and len(r.stderr.splitlines()) == 1, r.stderr
    assert not (tmp_path / "out.h5").exists() and len(list(tmp_path.glob("*.h5"))) == 3
    r = subprocess.run([sys.executable, "-m", "ferhw3", "compact", str(src), str(tmp_path / "again.h5")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "DONE" in r.stdout and (tmp_path / "again.h5").exists(), r.stderr


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_fused_batch_norm_trains_as_keras_batch_norm_does(tmp_path, precision):
    """The fused kernel gives the same outputs, gradients and moving statistics as Keras's
    batch norm, and the model saves and loads as a plain BatchNormalization model."""
    import tensorflow as tf

    from ferhw3.train.models import fuse_batch_norm

    keras.mixed_precision.set_global_policy(precision)
    try:
        inp = keras.Input((10, 10, 16))
        out = keras.layers.BatchNormalization(gamma_initializer="random_uniform", beta_initializer="random_uniform")(inp)
        plain = keras.Model(inp, out)
        fused = keras.models.clone_model(plain)
        fused.set_weights(plain.get_weights())
        fuse_batch_norm(fused)
        x = tf.constant(np.random.default_rng(0).normal(3, 2, (32, 10, 10, 16)).astype(np.float32))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            ya, yb = plain(x, training=True), fused(x, training=True)
            la, lb = (tf.reduce_sum(tf.cast(y, tf.float32) ** 2) for y in (ya, yb))
        assert ya.dtype == yb.dtype
        tol = 1e-5 if precision == "float32" else 1e-3  # bfloat16 outputs may differ by one unit in the last place
        np.testing.assert_allclose(tf.cast(ya, tf.float32), tf.cast(yb, tf.float32), atol=tol)
        for ga, gb in zip(tape.gradient(la, plain.trainable_variables), tape.gradient(lb, fused.trainable_variables)):
            np.testing.assert_allclose(gb, ga, rtol=1e-4, atol=1e-4 * float(np.abs(ga).max()))
        for a, b in zip(plain.non_trainable_weights, fused.non_trainable_weights):  # moving mean and variance
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3)
            assert not np.allclose(b.numpy(), (0.0 if "mean" in b.path else 1.0))  # they did move
        fused.save(tmp_path / "f.h5")
        loaded = keras.models.load_model(tmp_path / "f.h5", compile=False)
        assert type(loaded.layers[-1]) is keras.layers.BatchNormalization
        np.testing.assert_allclose(tf.cast(loaded(x), tf.float32), tf.cast(fused(x), tf.float32), atol=1e-5)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_the_preactivation_resnet_is_residual_fully_convolutional_and_converts(tmp_path):
    """resnet-preact: residual additions, sides 40 -> 20 -> 10 -> 5, any face size, and the
    OpenVINO engine reads it as Keras does."""
    from ferhw3.infer.engine import KerasPredictor, load_predictor

    m = build_cnn("resnet-preact")
    adds = [l for l in m.layers if isinstance(l, keras.layers.Add)]
    assert len(adds) == 5 and 2.5e6 < trainable_params(m) < 2.9e6
    sides = sorted({l.output.shape[1] for l in m.layers if isinstance(l, keras.layers.Add)}, reverse=True)
    assert sides == [None]  # fully convolutional: the side is free
    probe = keras.Model(m.input, [a.output for a in adds])
    assert [o.shape[1] for o in probe.predict(np.zeros((1, 40, 40, 1), np.float32), verbose=0)] == [20, 10, 10, 5, 5]
    x = np.random.default_rng(1).integers(0, 256, (4, 48, 48, 1)).astype("float32")
    m.save(tmp_path / "r.h5")
    ov = load_predictor(str(tmp_path / "r.h5"), engine="openvino")
    assert not isinstance(ov, KerasPredictor)
    ov.precision = "f32"
    np.testing.assert_allclose(ov.predict(x), m.predict(x, verbose=0), atol=1e-4)
