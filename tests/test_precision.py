"""The engine's precision: int8 copies (ferhw3.infer.quantize) and the measured choice of
f32, bf16 or int8 per machine (ferhw3.infer.precision)."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import random_faces, write_csv

openvino = pytest.importorskip("openvino")
keras = pytest.importorskip("keras")

from ferhw3.infer import engine, manifest, precision, quantize  # noqa: E402
from ferhw3.train.models import build_cnn  # noqa: E402
from test_engine import jiggled  # noqa: E402


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FERHW3_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FERHW3_PRECISION", raising=False)
    precision._measured.clear()
    yield tmp_path / "cache"
    precision._measured.clear()


def test_the_probe_measures_once_per_machine_and_keeps_the_answer(cache, monkeypatch):
    calls = []
    monkeypatch.setattr(precision, "_time", lambda core, model, p: calls.append(p) or {"f32": 3e-3, "bf16": 1e-3,
                                                                                        "int8": 2e-3}[p])
    model = object()
    assert precision.choose(["f32", "bf16"], model) == "bf16"
    assert precision.choose(["f32", "bf16", "int8"], model, model) == "bf16"  # int8 timed now too
    assert precision.choose(["f32", "int8"], model, model) == "int8"  # the fastest it allows
    assert precision.choose(["f32"], model) == "f32"
    assert calls == ["f32", "bf16", "f32", "bf16", "int8"]
    saved = json.load(open(cache / "precision-probe.json"))
    assert [e["seconds_per_face"] for e in saved.values()] == [{"f32": 3e-3, "bf16": 1e-3, "int8": 2e-3}]
    precision._measured.clear()  # a new process reads the file: nothing measured again
    assert precision.choose(["f32", "bf16", "int8"], model, model) == "bf16" and len(calls) == 5
    monkeypatch.setenv("FERHW3_PRECISION", "probe")  # measured again on request
    precision._measured.clear()
    precision.choose(["f32", "bf16"], model)
    assert len(calls) == 7
    monkeypatch.setenv("FERHW3_PRECISION", "int8")  # forced, where the model allows it
    assert precision.choose(["f32", "int8"], model, model) == "int8"
    assert precision.choose(["f32", "bf16"], model) == "f32"


def test_another_cpu_or_an_instruction_cap_is_another_machine(cache, monkeypatch):
    base = precision.machine_key()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert precision.machine_key() != base
    other = {**precision.machine(), "flags": "avx avx2 fma"}
    assert precision.machine_key(other) != precision.machine_key()


def test_an_unwritable_cache_only_costs_the_measurement(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FERHW3_CACHE", str(tmp_path / "a-file"))
    monkeypatch.delenv("FERHW3_PRECISION", raising=False)
    precision._measured.clear()
    monkeypatch.setattr(precision, "_time", lambda core, model, p: {"f32": 1.0, "bf16": 2.0}[p])
    try:
        assert precision.choose(["f32", "bf16"], object()) == "f32"
    finally:
        precision._measured.clear()


def test_the_real_probe_times_each_precision_of_a_real_model(cache, tmp_path):
    model = jiggled(build_cnn("vgg-bn"))
    model.save(tmp_path / "m.h5")
    p = engine.built_predictor(str(tmp_path / "m.h5"))
    seconds = precision.probe(p.model)
    # bf16 is timed where this CPU's OpenVINO compiles it (it may not without bfloat16 kernels)
    assert "f32" in seconds and set(seconds) <= {"f32", "bf16"} and all(0 < s < 1 for s in seconds.values())
    assert (cache / "precision-probe.json").exists()


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """A small trained-like CNN, its int8 copy calibrated on faces of a labelled CSV."""
    pytest.importorskip("nncf")
    folder = tmp_path_factory.mktemp("int8")
    keras.utils.set_random_seed(0)  # the same network whatever ran before in this process
    model = jiggled(build_cnn("vgg-bn"), seed=4)
    path = str(folder / "m.h5")
    model.save(path)
    x, y = random_faces(140, seed=5)
    train = write_csv(folder / "train.csv", x, y)
    faces, source = quantize.calibration_faces(train, n=40, val_size=28)
    return path, faces, source, quantize.quantize(path, faces, source), model


def test_an_int8_copy_is_written_beside_its_model_and_read_by_the_engine(quantized, cache, monkeypatch):
    path, faces, source, written, model = quantized
    assert written == list(quantize.int8_files(path)) and all(os.path.getsize(f) > 0 for f in written)
    meta = json.load(open(written[2]))
    assert meta["source_sha256"] == quantize.file_hash(path) and "40 faces x 4 views" in meta["calibration"]
    assert len(meta["settings"]["kept_in_float32"]) == 2  # the first convolution and the classifier
    assert not [f for f in os.listdir(os.path.dirname(path)) if ".tmp-" in f]
    p = engine.built_predictor(path)
    assert p.int8 is not None and "int8" in p.allowed()
    monkeypatch.setenv("FERHW3_PRECISION", "int8")
    x, _ = random_faces(300, seed=6)
    got = p.predict(x)
    assert p.runs_at() == "int8" and got.shape == (300, 7) and np.allclose(got.sum(1), 1, atol=1e-3)
    want = model.predict(x.astype(np.float32), verbose=0)
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.9  # int8 moves near-ties only
    assert np.abs(got - want).max() < 0.2
    views = p.predict(x[:, 4:44, 4:44])  # the int8 copy takes the centre window too
    assert views.shape == (300, 7)


def test_calibration_never_reads_the_validation_faces(quantized):
    from ferhw3.data.read import stratified_split

    path, faces, source, _, _ = quantized
    x, y = random_faces(140, seed=5)
    _, va = stratified_split(y, 28, 0)
    flat = {f.tobytes() for f in faces}
    assert not any(x[i].tobytes() in flat for i in va) and len(faces) == 40
    assert "validation faces left out" in source


def test_a_stale_int8_copy_is_ignored(quantized, tmp_path):
    path, _, _, written, _ = quantized
    other = tmp_path / "m.h5"
    shutil.copy(path, other)
    for f in written:
        shutil.copy(f, tmp_path / os.path.basename(f))
    assert quantize.int8_model(str(other)) is not None
    model = jiggled(build_cnn("vgg-bn"), seed=9)  # the .h5 retrained or replaced: its int8 copy no longer fits
    model.save(other)
    assert quantize.int8_model(str(other)) is None
    assert "int8" not in engine.built_predictor(str(other)).allowed()


def test_the_quantize_command_refuses_what_it_cannot_read(tmp_path, capsys):
    from ferhw3.__main__ import main
    from ferhw3.errors import UsageError

    with pytest.raises(UsageError, match=r"nothing\.h5: not an \.h5 model file"):
        main(["quantize", str(tmp_path / "nothing.h5"), "--data", "x.csv"])


def test_every_shipped_int8_copy_fits_its_model_and_was_measured():
    """Each int8 copy in models/ was made from the .h5 beside it as it is now; the roles it
    plays were measured paired against f32 (bench/results_precision_roles.md)."""
    copies = [f for f in os.listdir(manifest.MODELS_DIR) if f.endswith(".int8.json")]
    roles = manifest.load()["roles"]
    results = open(os.path.join(manifest.ROOT, "bench", "results_precision_roles.md")).read()
    for f in copies:
        h5 = os.path.join(manifest.MODELS_DIR, f.removesuffix(".int8.json") + ".h5")
        assert quantize.int8_model(h5) is not None, f
        for name, r in roles.items():
            if os.path.basename(h5) in r["models"]:
                assert f"## {name} (TTA" in results, (f, name)


class Fixed:
    """A stand-in model: per face, the probabilities a table gives for each of its views, so a
    test can set what every view says (`views[v][face]`)."""

    input_shape = (None, None, None, 1)

    def __init__(self, views):
        self.views, self.calls = views, []

    def predict(self, x, batch_size=None, verbose=0):
        v = len(self.calls) % len(self.views)
        faces = np.asarray(x)[:, 0, 0, 0].astype(int)  # each face carries its number in its first pixel
        self.calls.append(len(faces))
        return self.views[v][faces]


def numbered_faces(n):
    x = np.zeros((n, 48, 48, 1), np.uint8)
    x[:, :, :, 0] = np.arange(n)[:, None, None]  # every pixel the face's number (mirrors and windows keep it)
    return x


def test_labels_leave_out_only_the_views_that_cannot_change_them():
    from ferhw3.infer.predict import predict_labels, predict_proba

    rng = np.random.default_rng(0)
    n = 200
    sharp = np.eye(7, dtype=np.float32)[rng.integers(0, 7, n)] * 0.97 + 0.03 / 7  # confident, one class each
    soft = rng.dirichlet(np.ones(7), size=n).astype(np.float32)
    worst = np.zeros((n, 7), np.float32)  # the last model: everything on the class in second place so far
    worst[np.arange(n), np.argsort(4 * sharp + 2 * soft, axis=1)[:, -2]] = 1
    models = [Fixed([sharp, sharp]), Fixed([soft, soft]), Fixed([sharp, sharp]), Fixed([worst, worst])]
    x = numbered_faces(n)
    want = predict_proba([Fixed(m.views) for m in models], x, tta="flip").argmax(1)
    got, share = predict_labels(models, x, tta="flip", settled_at=1.0)
    assert (got == want).all()  # exact, even against the worst the last views can say
    assert share < 1 and models[0].calls == [n, n] and sum(models[3].calls) < 2 * n
    # undecided faces stay open to the end: soft views alone decide nothing early
    soft_models = [Fixed([soft, soft]) for _ in range(3)]
    got, share = predict_labels(soft_models, x, tta="flip", settled_at=1.0)
    assert (got == predict_proba([Fixed([soft, soft]) for _ in range(3)], x, tta="flip").argmax(1)).all()


def test_a_settled_lead_reads_fewer_views_and_is_only_approximate_against_the_worst():
    from ferhw3.infer.predict import predict_labels, predict_proba

    rng = np.random.default_rng(1)
    n = 250  # faces numbered in a uint8 pixel
    # views that agree with one another as a real ensemble's do: each a noisy copy of the face's own answer
    answer = rng.dirichlet(np.ones(7) * 0.3, size=n)

    def views():
        v = answer + rng.dirichlet(np.ones(7), size=n) * 0.3
        return (v / v.sum(1, keepdims=True)).astype(np.float32)

    models = [Fixed([views(), views()]) for _ in range(5)]
    x = numbered_faces(n)
    want = predict_proba([Fixed(m.views) for m in models], x, tta="flip").argmax(1)
    exact, exact_share = predict_labels([Fixed(m.views) for m in models], x, tta="flip", settled_at=1.0)
    settled, share = predict_labels(models, x, tta="flip", settled_at=0.6)
    assert (exact == want).all() and share < exact_share
    assert (settled == want).mean() >= 0.99  # views of one face that agree rarely swing a 0.6-a-view lead
    # against a last model that puts everything on the runner-up, a settled lead can be overturned
    worst = np.zeros((n, 7), np.float32)
    worst[np.arange(n), np.argsort(sum(m.views[0] + m.views[1] for m in models), axis=1)[:, -2]] = 1
    adversary = [Fixed(m.views) for m in models] + [Fixed([worst, worst])]
    full = predict_proba([Fixed(m.views) for m in adversary], x, tta="flip").argmax(1)
    assert (predict_labels(adversary, x, tta="flip", settled_at=1.0)[0] == full).all()
    assert (predict_labels([Fixed(m.views) for m in adversary], x, tta="flip", settled_at=0.6)[0] != full).any()
    with pytest.raises(ValueError, match="settled_at"):
        predict_labels(models, x, settled_at=0)


def test_labels_match_the_probabilities_on_real_networks(tmp_path):
    from ferhw3.infer.predict import predict_labels, predict_proba

    paths = []
    for seed in range(3):
        jiggled(build_cnn("vgg-bn"), seed=seed).save(tmp_path / f"m{seed}.h5")
        paths.append(str(tmp_path / f"m{seed}.h5"))
    models = [engine.built_predictor(p) for p in paths]
    x, _ = random_faces(300, seed=7)
    for tta in ("none", "center", "crops"):
        labels, share = predict_labels(models, x, tta=tta, settled_at=1.0)
        assert (labels == predict_proba(models, x, tta=tta).argmax(1)).all() and 0 < share <= 1
