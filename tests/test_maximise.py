"""What the network thinks each expression looks like (ferhw3.viz.maximise), on the shipped
analysis model: every ascent raises its objective, the priors smooth the images, and a face
moved towards another class is read as that class."""

import numpy as np
import pytest

from ferhw3 import cli
from ferhw3.data.read import load_faces
from ferhw3.infer import manifest
from ferhw3.viz import maximise
from conftest import ROOT

import os


@pytest.fixture(scope="module")
def model():
    return cli.load_model(os.path.join(ROOT, manifest.role("analysis")[0]))


def test_class_models_raise_every_class_score(model):
    grey = np.full((48, 48), maximise.GREY, np.float32)
    images, first, last = maximise.class_models(model, grey, steps=100)
    assert images.shape == (7, 48, 48) and images.min() >= 0 and images.max() <= 255
    # a rise in logits, not a multiple of the start: grey starts the scores between -1.5 and 1.8,
    # and on an AVX512 machine they rose by 4.3-7.3, Disgust from -1.5 to 2.8
    assert np.all(last - first >= 2.5), (first, last)
    # each image is read as its own class
    assert (maximise.probabilities(model, images).argmax(1) == np.arange(7)).all()


def test_priors_raise_the_filters_and_smooth_the_images(model):
    layer, filters = "conv3_2", range(8)
    plain, p0, p1 = maximise.filter_images(model, layer, filters, maximise.PLAIN, steps=100)
    prior, q0, q1 = maximise.filter_images(model, layer, filters, maximise.PRIOR, steps=100)
    for first, last in ((p0, p1), (q0, q1)):  # mean activations after the ReLU: >= 0
        assert np.all(last > first) and np.all(last >= 3 * first), (first, last)
    tv_plain, tv_prior = maximise.total_variation(plain), maximise.total_variation(prior)
    assert np.all(tv_prior < tv_plain), (tv_plain, tv_prior)
    assert np.abs(prior - plain).mean(axis=(1, 2)).min() > 5


def test_each_regulariser_alone_changes_the_plain_image(model):
    results = {name: maximise.filter_images(model, "conv3_2", range(2), prior, steps=40)[0]
               for name, prior in maximise.ONE_AT_A_TIME.items()}
    plain = results.pop("plain (no prior)")
    for name, images in results.items():
        assert np.abs(images - plain).mean() > 1, name
    assert maximise.total_variation(results["blur"]).mean() < maximise.total_variation(plain).mean()


def test_a_face_moved_towards_happy_is_read_as_happy_and_stays_close(model):
    faces = load_faces(os.path.join(ROOT, "data", "sample_test.csv.gz")).x[:3]
    before, runs = maximise.towards(model, faces, target=3)
    moved, ran, after = runs[0.5]
    assert np.all(after > 0.5) and np.all(ran < 400)
    change = np.abs(moved - faces[..., 0]).mean(axis=(1, 2))
    assert np.all(change > 0) and np.all(change < 20)  # a face still, not a new image
    assert np.all(runs[0.99][2] > max(0.99, before.max()) - 1e-3) or np.all(runs[0.99][1] == 400)


def test_the_unit_before_the_relu_is_the_batch_norm(model):
    assert maximise.pre_activation(model, "conv3_2") == "bn3_2"


def test_total_variation_is_zero_for_flat_images_and_grows_with_noise():
    flat = np.full((1, 10, 10), 100.0)
    noisy = flat + np.random.default_rng(0).normal(0, 10, flat.shape)
    assert maximise.total_variation(flat)[0] == 0 and maximise.total_variation(noisy)[0] > 5


def test_a_bfloat16_model_is_loaded_for_the_figures_in_float32(tmp_path):
    """visualize.py computes in float32 on every CPU: the same numbers, no emulated bfloat16."""
    import keras

    from ferhw3.infer.modelfile import load_model
    from ferhw3.train.models import build_cnn

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_cnn("vgg-bn")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(tmp_path / "bf.h5")
    plain = load_model(str(tmp_path / "bf.h5"), float32=True)
    assert all(layer.dtype_policy.name == "float32" for layer in plain.layers)
    as_saved = load_model(str(tmp_path / "bf.h5"))
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in as_saved.layers)
    x = np.random.default_rng(0).uniform(0, 255, (8, 48, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(plain.predict(x, verbose=0), as_saved.predict(x, verbose=0), atol=0.05)


def test_ascents_read_in_one_batch_give_the_separate_ascents_images(model):
    # the batch changes only the order of floating-point sums: the images stay those of one run each
    priors = [maximise.PLAIN, maximise.Prior(jitter=2), maximise.PRIOR]
    together = maximise.filter_images_with(model, "conv3_2", range(2), priors, steps=30)
    for prior, (images, first, last) in zip(priors, together):
        alone, first_alone, last_alone = maximise.filter_images(model, "conv3_2", range(2), prior, steps=30)
        assert np.abs(images - alone).max() < 1.0, prior
        assert np.allclose(last, last_alone, rtol=0.02, atol=1e-3) and np.allclose(first, first_alone, atol=1e-4)
    grey, mean = np.full((48, 48), maximise.GREY, np.float32), np.full((48, 48), 90, np.float32)
    for start, (images, _, last) in zip((grey, mean), maximise.class_models_from(model, [grey, mean], steps=30)):
        alone, _, last_alone = maximise.class_models(model, start, steps=30)
        assert np.abs(images - alone).max() < 1.0 and np.allclose(last, last_alone, rtol=0.02, atol=1e-2)
    # layers side by side in threads: each layer's images as its own run gives them
    layers = [("conv2_1", range(3)), ("conv3_2", range(2))]
    for (layer, filters), (images, first, last) in zip(layers, maximise.filter_images_at(
            model, layers, maximise.PRIOR, steps=20)):
        alone, first_alone, last_alone = maximise.filter_images(model, layer, filters, maximise.PRIOR, steps=20)
        assert images.shape == alone.shape and np.abs(images - alone).max() < 1.0, layer
    with pytest.raises(ValueError, match="priors for"):
        maximise.ascend(lambda images: images[:, 0, 0, 0], np.zeros((3, 4, 4, 1)), steps=1, prior=priors[:2])
