"""The command-line scripts as a user runs them: exit codes, one-line errors, outputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, SHARED, random_faces, write_csv

PY = sys.executable


def run(args, cwd=None, env=None, timeout=600):
    e = dict(os.environ, PYTHON=PY, **(env or {}))
    return subprocess.run(args, cwd=cwd or ROOT, env=e, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    """hw3_train.sh on tiny data with a fast setting, run from another directory."""
    d = tmp_path_factory.mktemp("train")
    x, y = random_faces(70)
    train = write_csv(d / "train.csv.gz", x, y, gz=True)
    out = d / "runs" / "cnn.h5"
    r = run(["bash", os.path.join(ROOT, "hw3_train.sh"), "train.csv.gz", "--epochs", "1", "--batch-size", "16",
             "--val-size", "14"], cwd=d, env={"HW3_MODEL_OUT": str(out)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DONE" in r.stdout and "val_accuracy=" in r.stdout.splitlines()[-1]
    assert "train 56 / validation 14 faces" in r.stdout
    assert out.exists() and (d / "runs" / "cnn.history.csv").exists()
    record = json.load(open(d / "runs" / "cnn.config.json"))
    assert record["recipe"] == "one-hour" and record["config"]["arch"] == "vgg-bn-deep-wide"
    assert record["overrides"]["epochs"] == 1 and record["config"]["minutes"] == 0  # --epochs wins
    return str(out)


@pytest.mark.slow
def test_train_shipped_makes_every_model_with_its_recipe_and_resumes_without_retraining(tmp_path):
    """Each stage of train_shipped.sh, one epoch on tiny data: the recipe reaches train_cnn.py
    as written, the distilled model learns from the four before it and the unlabelled faces,
    and a second run retrains nothing."""
    import keras

    x, y = random_faces(70)
    train = write_csv(tmp_path / "train.csv", x, y)
    xt, _ = random_faces(21, seed=3)
    write_csv(tmp_path / "test.csv.gz", xt, np.arange(21), header="id,feature", gz=True)
    models = tmp_path / "m"
    cmd = ["bash", os.path.join(ROOT, "train_shipped.sh"), train]
    env = {"MODELS_DIR": str(models), "TRAIN_OPTS": "--epochs 1 --set batch_size=16 --set val_size=14"}
    r = run(cmd, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("val_accuracy=") == 11
    names = ["vgg-bn_60ep", "vgg-bn_60ep_continued40", "vgg-bn-deep-wide_300ep-erase", "vgg-bn-deep-wide_300ep",
             "vgg-bn-deep-wide_300ep-erase_distilled", "dnn_matched-vgg-bn"]
    rec = {n: json.load(open(models / f"{n}.config.json")) for n in names}
    assert [rec[n]["recipe"] for n in names] == ["vgg-bn", "continue-40", "gpu-300-erase", "gpu-300",
                                                 "distil-ensemble", "dnn"]
    assert rec["vgg-bn_60ep_continued40"]["init"] == str(models / "vgg-bn_60ep.h5")
    assert rec["vgg-bn_60ep_continued40"]["config"]["lr"] == 0.02
    for n in names[2:4]:
        c = rec[n]["config"]
        assert c["arch"] == "vgg-bn-deep-wide" and c["rotation"] == 0 and c["zoom"] == 0 and c["warmup_epochs"] == 5
    assert rec[names[2]]["config"]["erase"] == 0.5 and rec[names[3]]["config"]["erase"] == 0
    kd = rec["vgg-bn-deep-wide_300ep-erase_distilled"]
    assert kd["init"].endswith("vgg-bn-deep-wide_300ep-erase.h5") and kd["config"]["epochs"] == 1
    assert [os.path.basename(t) for t in kd["config"]["teachers"]] == [f"{n}.h5" for n in names[2:4] + names[:2]]
    assert kd["config"]["unlabelled"].endswith("test.csv.gz") and kd["overrides"]["epochs"] == 1
    assert kd["n_train"] == 56 + 21  # the unlabelled faces joined the training part
    # stages 7-11: each member continued on all 70 faces from its split-trained self, then distilled
    for n in names[:4]:
        a = json.load(open(models / f"{n}_all-faces.config.json"))
        assert a["init"] == str(models / f"{n}.h5") and a["recipe"] == rec[n]["recipe"]
        assert a["config"]["val_size"] == 0 and a["n_train"] == 70 and a["n_val"] == 0
        assert a["config"]["lr"] == 0.005 and a["config"]["warmup_epochs"] == 1
    kd_all = json.load(open(models / "vgg-bn-deep-wide_300ep-erase_distilled_all-faces.config.json"))
    assert kd_all["config"]["val_size"] == 0 and kd_all["n_train"] == 70 + 21
    assert [os.path.basename(t) for t in kd_all["config"]["teachers"]] == \
        [f"{n}_all-faces.h5" for n in names[2:4] + names[:2]]
    names += [f"{n}_all-faces" for n in names[:4]] + ["vgg-bn-deep-wide_300ep-erase_distilled_all-faces"]

    weights = lambda n: keras.models.load_model(models / f"{n}.h5", compile=False).get_weights()
    before = {n: weights(n) for n in names}
    r = run(cmd, cwd=tmp_path, env=env)  # all finished: nothing is retrained, no model is even built
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("finished before") == 11 and "Resuming" not in r.stdout
    for n, w in before.items():
        assert len(pd.read_csv(models / f"{n}.history.csv")) == 1
        for a, b in zip(w, weights(n)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_hw3_test_writes_submission_in_input_order(tmp_path, tiny_test, trained_model):
    path, x, ids = tiny_test
    out = tmp_path / "sub" / "out.csv"
    os.makedirs(out.parent)
    r = run(["bash", os.path.join(ROOT, "hw3_test.sh"), path, "sub/out.csv"], cwd=tmp_path,
            env={"HW3_MODEL": trained_model})
    assert r.returncode == 0, r.stderr[-2000:]
    sub = pd.read_csv(out)
    assert list(sub.columns) == ["id", "label"]
    assert list(sub["id"]) == list(ids)
    assert sub["label"].between(0, 6).all()
    assert r.stdout.strip().splitlines()[-1].startswith("DONE")


@pytest.mark.slow
def test_predict_ensemble_of_two_models(tmp_path, tiny_test, trained_model):
    path, _, ids = tiny_test
    out = tmp_path / "ens.csv"
    r = run([PY, "predict.py", path, str(out), "--model", trained_model, "--model", trained_model, "--tta", "none"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 model(s)" in r.stdout
    assert len(pd.read_csv(out)) == len(ids)


@pytest.mark.slow
def test_paired_bench_compares_models_on_the_recorded_split(tmp_path, trained_model):
    x, y = random_faces(70)  # the faces trained_model was trained on; its config records the split
    train = write_csv(tmp_path / "train.csv", x, y)
    res = tmp_path / "paired.md"
    r = run([PY, "bench/paired.py", trained_model, trained_model, "--data", train, "--tta", "none",
             "--results", str(res)])
    assert r.returncode == 0, r.stderr[-2000:]
    row = res.read_text().strip().splitlines()[-1].split("|")
    # a model against itself: no difference, no discordant faces
    assert [c.strip() for c in row[4:8]] == ["+0.00", "0", "0", "1.000"]
    assert "validation split: 14 faces" in res.read_text()


def test_mcnemar_p_value():
    from ferhw3.infer.evaluate import mcnemar_p

    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(5, 5) == 1.0
    assert abs(mcnemar_p(10, 0) - 2 * 0.5**10) < 1e-12  # all ten discordant faces one way
    assert mcnemar_p(30, 10) < 0.01 < mcnemar_p(12, 8)
    from ferhw3.infer.evaluate import paired

    a, b = np.array([1, 1, 1, 0, 0, 1], bool), np.array([1, 0, 0, 1, 0, 1], bool)
    assert paired(a, b) == (2, 1, 1.0) and paired(b, a)[:2] == (1, 2)


def _assert_clean_failure(r, out, *needles):
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in err[0], err[0]
    assert not os.path.exists(out)


def test_predict_missing_model(tmp_path, tiny_test):
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", tiny_test[0], str(out), "--model", str(tmp_path / "none.h5")])
    _assert_clean_failure(r, out, "none.h5", "model file not found")


def test_predict_corrupt_model(tmp_path, tiny_test):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not a model at all")
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", tiny_test[0], str(out), "--model", str(bad)])
    _assert_clean_failure(r, out, "bad.h5", "cannot load model")


@pytest.mark.slow
def test_predict_bad_row(tmp_path, trained_model):
    x, _ = random_faces(3)
    p = write_csv(tmp_path / "t.csv", x, [0, 1, 2], header="id,feature")
    text = open(p).read().splitlines()
    text[2] = text[2] + " 300"
    open(p, "w").write("\n".join(text) + "\n")
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", p, str(out), "--model", trained_model])
    _assert_clean_failure(r, out, "t.csv", "line 3", "row too long")


@pytest.mark.slow
def test_predict_unwritable_output(tmp_path, tiny_test, trained_model):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "o.csv"  # a folder that cannot exist: its parent is a file
    r = run([PY, "predict.py", tiny_test[0], str(out), "--model", trained_model])
    _assert_clean_failure(r, out, "o.csv", "cannot create output folder")


def test_train_refuses_test_file(tmp_path, tiny_test):
    out = tmp_path / "m.h5"
    r = run([PY, "train_cnn.py", tiny_test[0], "--out", str(out), "--epochs", "1"])
    _assert_clean_failure(r, out, "test.csv", "line 1", "this is a test file")


@pytest.mark.parametrize("script", ["train_cnn.py", "train_dnn.py"])
def test_train_refuses_a_validation_split_larger_than_the_data(tmp_path, tiny_train, script):
    out = tmp_path / "m.h5"
    r = run([PY, script, tiny_train[0], "--out", str(out), "--epochs", "1", "--limit", "50", "--val-size", "60"])
    _assert_clean_failure(r, out, "train.csv", "--val-size 60", "50 faces")


@pytest.mark.parametrize("option, value, message", [
    ("--batch-size", "0", "batch_size=0: must be >= 1"),
    ("--batch-size", "60", "--batch-size 60 is larger than the 56 training faces"),
    ("--set", "crop=50", "crop=50: must be 0 (none) or 8-48 pixels"),
    ("--set", "label_smoothing=1", "label_smoothing=1.0: must be in [0, 1)"),
    ("--precision", "float16", "precision=float16: must be float32 or mixed_bfloat16"),
    ("--set", "erase=1.5", "erase=1.5: must be a probability in [0, 1]"),
    ("--lr", "0", "lr=0.0: must be > 0"),
    ("--minutes", "-1", "minutes=-1.0: must be >= 0"),
    ("--set", "colour=red", "unknown setting 'colour'"),
    ("--set", "epochs", "--set epochs: must be key=value"),
    ("--set", "epochs=ten", "epochs=ten: must be an integer"),
    ("--set", "augment=maybe", "augment=maybe: must be true or false"),
    ("--set", "cap=lots", "cap=lots: must be a number >= 0 or 'prior'"),
    ("--set", "mean_teacher=10", "mean_teacher=10.0: must be used with self_train"),
    ("--recipe", "fast", "unknown recipe 'fast'"),
    ("--arch", "resnet", "arch=resnet: must be one of"),
])
def test_train_refuses_an_option_value_that_cannot_work(tmp_path, tiny_train, capsys, option, value, message):
    """train_cnn.py's command, run in this process (the same code behind the same guard;
    a process per case would spend its time starting TensorFlow)."""
    from ferhw3.cli import main_guard
    from ferhw3.cli.train import main

    out = tmp_path / "m.h5"
    with pytest.raises(SystemExit) as stop:
        main_guard(lambda: main([tiny_train[0], "--out", str(out), "--epochs", "1", "--val-size", "14", option, value]))
    r = subprocess.CompletedProcess([], stop.value.code, *capsys.readouterr())
    _assert_clean_failure(r, out, message)
    assert r.returncode == 2


@pytest.mark.slow
def test_a_minutes_budget_sizes_the_epochs_from_the_measured_speed(tmp_path, tiny_train):
    out = tmp_path / "b.h5"
    r = run([PY, "train_cnn.py", tiny_train[0], "--out", str(out), "--minutes", "0.5", "--batch-size", "8",
             "--val-size", "14", "--set", "patience=1000"])
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(l for l in r.stdout.splitlines() if l.startswith("budget: 0.5 min at "))
    epochs = int(line.split("-> ")[1].split()[0])
    saved = json.load(open(tmp_path / "b.config.json"))
    assert saved["config"]["epochs"] == epochs >= 1
    # it trains them all, unless another epoch would have ended past the budget (and it says so)
    assert 1 <= saved["epochs_run"] <= epochs
    assert (saved["epochs_run"] == epochs) != (f"budget: stopping after epoch {saved['epochs_run']} of {epochs}" in r.stdout)
    assert saved["config"]["minutes"] == 0.5 and saved["config"]["extra"]["measured_images_per_second"] > 0
    # an explicit --epochs wins over the budget
    r = run([PY, "train_cnn.py", tiny_train[0], "--out", str(out), "--minutes", "30", "--epochs", "1",
             "--batch-size", "8", "--val-size", "14"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "budget:" not in r.stdout
    assert json.load(open(tmp_path / "b.config.json"))["epochs_run"] == 1
    # and so does a recipe's --set epochs=N over that recipe's budget
    r = run([PY, "train_cnn.py", "--recipe", "one-hour", tiny_train[0], "--out", str(out), "--set", "epochs=1",
             "--batch-size", "8", "--val-size", "14"])
    assert r.returncode == 0 and "budget:" not in r.stdout, r.stderr[-2000:]
    assert json.load(open(tmp_path / "b.config.json"))["config"]["minutes"] == 0


@pytest.mark.slow
def test_train_dnn_matches_cnn_parameters(tmp_path, tiny_train):
    out = tmp_path / "dnn.h5"
    r = run([PY, "train_dnn.py", tiny_train[0], "--out", str(out), "--epochs", "1", "--batch-size", "16",
             "--val-size", "14"])
    assert r.returncode == 0, r.stderr[-2000:]
    first = next(l for l in r.stdout.splitlines() if l.startswith("DNN"))
    pct = float(first.rsplit("(", 1)[1].rstrip("%)"))
    assert abs(pct) < 5
    assert out.exists() and "DONE" in r.stdout.splitlines()[-1]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED, "test.csv.gz")), reason="../shared data not present")
def test_real_data_smoke(tmp_path):
    """The shipped model on a slice of the real test faces, and the real training file parses."""
    from ferhw3.data.read import load_csv

    train = load_csv(os.path.join(SHARED, "train.csv.gz"))
    assert train.x.shape == (28709, 48, 48, 1)
    assert list(np.bincount(train.labels)) == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    test = load_csv(os.path.join(SHARED, "test.csv.gz"))
    assert len(test) == 7178 and test.ids.min() == 0 and test.ids.max() == 7177
    sample = tmp_path / "slice.csv"
    write_csv(sample, test.x[:300], test.ids[:300], header="id,feature")
    out = tmp_path / "out.csv"
    r = run(["bash", os.path.join(ROOT, "hw3_test.sh"), str(sample), str(out)])
    assert r.returncode == 0, r.stderr[-2000:]
    sub = pd.read_csv(out)
    assert list(sub["id"]) == list(range(300))
    # A trained model predicts several classes on real faces (an untrained one collapses).
    assert sub["label"].nunique() >= 4


@pytest.mark.slow
def test_distributed_training_on_two_logical_cpus(tmp_path, tiny_train):
    out = tmp_path / "d.h5"
    r = run([PY, "train_cnn.py", tiny_train[0], "--out", str(out), "--epochs", "1", "--batch-size", "16",
             "--val-size", "14", "--distribute", "--devices", "2"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Distributing over 2 devices" in r.stdout
    assert out.exists() and "DONE" in r.stdout.splitlines()[-1]


BAD_INPUTS = {
    "missing file": (None, "file not found"),
    "empty file": (b"", "file is empty"),
    "header only": (b"id,feature\n", "header only"),
    "wrong header": (b"a,b\n1,2\n", "expected header"),
    "short row": (b"id,feature\n0," + b"1 " * 2303 + b"\n", "line 2: row too short"),
    "long row": (b"id,feature\n0," + b"1 " * 2305 + b"\n", "line 2: row too long"),
    "non-integer pixel": (b"id,feature\n0,1.5 " + b"1 " * 2303 + b"\n", "line 2: unexpected character '.'"),
    "out-of-range pixel": (b"id,feature\n0,999 " + b"1 " * 2303 + b"\n", "line 2: pixel 1 value 999 is out of range"),
    "duplicate ids": (b"id,feature\n0," + b"1 " * 2304 + b"\n0," + b"2 " * 2304 + b"\n", "line 3: duplicate id 0"),
    "truncated gz": ("truncated", "truncated gzip"),
    "binary garbage": (bytes(range(256)) * 8, "line 1: expected header"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_predict_refuses_bad_input_with_one_line(tmp_path, case):
    import gzip

    content, needle = BAD_INPUTS[case]
    path = tmp_path / "in.csv"
    if content == "truncated":
        data = gzip.compress(b"id,feature\n0," + b"1 " * 2304 + b"\n")
        path.write_bytes(data[:40])
    elif content is not None:
        path.write_bytes(content)
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", str(path), str(out)])
    _assert_clean_failure(r, out, "in.csv", needle)


def test_predict_wrong_input_shape_model(tmp_path, tiny_test):
    import keras

    m = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(7)])
    m.save(tmp_path / "rgb.h5")
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", tiny_test[0], str(out), "--model", str(tmp_path / "rgb.h5")])
    _assert_clean_failure(r, out, "rgb.h5", "model expects input (32, 32, 3)")


@pytest.mark.slow
def test_visualize_all_writes_every_figure(tmp_path, trained_model, tiny_train):
    out = tmp_path / "rep"
    r = run([PY, "visualize.py", "all", "--model", trained_model, "--data", tiny_train[0], "--out", str(out),
             "--filters", "8", "--steps", "10"])
    assert r.returncode == 0, r.stderr[-3000:]
    names = sorted(os.listdir(out))
    for part in ("curves", "confusion_matrix", "classification_report", "saliency_maps", "filter_patterns_conv2_1",
                 "feature_maps_conv1_1", "model_summary_cnn", "class_models", "ascent_priors_conv", "ascent_depth",
                 "towards_sad_happy"):
        assert any(n.startswith(part) for n in names), (part, names)
    assert r.stdout.strip().splitlines()[-1].startswith("DONE visualize all")
