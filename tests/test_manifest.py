"""models/manifest.json: every shipped file listed, as described, and its accuracy as recorded."""

import hashlib
import json
import os

import numpy as np
import pytest

from conftest import ROOT, SHARED
from ferhw3.infer import manifest
from ferhw3.train import recipes


def test_every_shipped_file_is_listed_with_its_size_hash_and_recipe():
    m = manifest.load()
    entries = manifest.entries(m)
    split = {e["file"]: e for e in m["split_models"]}
    on_disk = {f for f in os.listdir(manifest.MODELS_DIR) if f.endswith((".h5", ".keras"))}
    assert on_disk == set(entries) and not on_disk & set(split)
    for name, e in {**entries, **split}.items():
        path = os.path.join(manifest.MODELS_DIR, name)
        record = json.load(open(path.removesuffix(".h5") + ".config.json"))  # every run record ships
        assert os.path.exists(path.removesuffix(".h5") + ".history.csv"), name
        assert e["recipe"] == record["recipe"] in recipes.RECIPES and name in recipes.RECIPES[e["recipe"]].produced
        for start in [e["init"], *e["teachers"]]:
            assert start is None or start in entries or start in split, (name, start)
        assert e["training_minutes"] > 0 and e["hardware"] and e["bytes"] < 16 * 2**20
        if e["trained_on_validation_faces"]:  # all the labelled faces: measured by its twin on the split
            assert e["val_accuracy"] is None and 0 < e["twin"]["val_accuracy"] < 1, name
            assert record["config"]["val_size"] == 0 and record["n_train"] >= 28709, name
        else:
            assert 0 < e["val_accuracy"] < 1 and record["config"]["val_size"] == 2871, name
        if name in entries:
            data = open(path, "rb").read()
            assert len(data) == e["bytes"] and hashlib.sha256(data).hexdigest() == e["sha256"], name
    for role in m["roles"].values():
        assert role["models"] and all(f in entries for f in role["models"])
    # predict.py's default trained on every labelled face; each ensemble member is measured on the
    # split, itself or by its twin; what the report analyses never saw the split
    assert all(entries[f]["trained_on_validation_faces"] for f in m["roles"]["default"]["models"])
    for f in m["roles"]["ensemble"]["models"]:
        e = entries[f]
        assert 0 < (e["twin"]["val_accuracy"] if e["trained_on_validation_faces"] else e["val_accuracy"]) < 1, f
    for role in ("analysis", "dnn"):
        assert not any(entries[f]["trained_on_validation_faces"] for f in m["roles"][role]["models"]), role
    # photos: the default network beside others; measured by a stand-in that never saw the split,
    # the analysis model in the default's place
    photos = m["roles"]["photos"]
    assert photos["models"][0] == m["roles"]["default"]["models"][0] and len(photos["models"]) > 1
    assert photos["split_stand_in"] == m["roles"]["analysis"]["models"] + photos["models"][1:]
    assert not any(entries[f]["trained_on_validation_faces"] for f in photos["split_stand_in"])
    assert set(recipes.RECIPES["distil-ensemble"].settings["teachers"]) == \
        {f"models/{f}" for f in m["roles"]["ensemble"]["models"]}


def test_shipped_models_are_float16_and_load_as_float32_networks():
    import h5py

    from ferhw3 import cli

    for name in manifest.entries():
        path = os.path.join(manifest.MODELS_DIR, name)
        with h5py.File(path) as f:
            assert f["model_weights/predictions/predictions/kernel"].dtype == np.float16, name
        model = cli.load_model(path)
        assert model.weights[0].dtype == "float32" and model.output_shape == (None, 7)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED, "train.csv.gz")), reason="../shared data not present")
def test_recorded_validation_accuracy_is_what_the_shipped_file_scores():
    from ferhw3 import cli
    from ferhw3.infer.evaluate import SeenFaces, accuracy, validation_faces

    m = manifest.load()
    for name, e in manifest.entries(m).items():
        path = os.path.join(manifest.MODELS_DIR, name)
        if e["trained_on_validation_faces"]:
            with pytest.raises(SeenFaces):
                validation_faces(os.path.join(SHARED, "train.csv.gz"), path)
            continue
        # each on the faces its own run held out: the project's split, as every shipped model was trained
        x, y, _, split = validation_faces(os.path.join(SHARED, "train.csv.gz"), path)
        assert split == (0, 2871.0) and len(y) == 2871, name
        model = cli.load_model(path)
        # within a face or two: TensorFlow's CPU kernels differ by instruction set (AVX2, AVX512),
        # and a face read at a near tie can go either way
        assert abs(accuracy([model], x, y) - e["val_accuracy"]) <= 2 / len(y) + 5e-5, name
        tta = accuracy([model], x, y, tta="center" if "center" in e["val_accuracy_tta"] else "flip")
        assert abs(tta - e["val_accuracy_tta"].get("center", e["val_accuracy_tta"].get("flip"))) <= 2 / len(y) + 5e-5, name


def _readme_table(heading_row: str, doc: str = "README.md") -> list[list[str]]:
    """The rows (cells stripped) of the table in `doc` (README.md, or docs/training.md for
    the recipes) whose header row starts with `heading_row`."""
    lines = open(os.path.join(ROOT, doc)).read().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(heading_row))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split("|")])
    return rows


def test_readme_tables_say_what_the_manifest_records():
    """README's shipped-models table and the recipe table (docs/training.md) against models/manifest.json, the one
    record of the shipped models' figures: every shipped file listed with its recipe, its
    (twin's) validation accuracy and its roles; every recipe with split-trained models
    quoting one of them: its accuracy and training minutes."""
    m = manifest.load()
    entries = {e["file"]: e for e in m["models"]}
    rows = _readme_table("| file | recipe | val (twin) | roles |")
    assert {r[0].strip("`") for r in rows} == set(entries)
    for file, recipe, val, roles in rows:
        e = entries[file.strip("`")]
        assert recipe.split("`")[1] == e["recipe"], file
        measured = e["val_accuracy"] if e["val_accuracy"] is not None else e["twin"]["val_accuracy"]
        assert float(val) == pytest.approx(measured, abs=5e-5), file
        held = sorted(name for name, role in m["roles"].items() if e["file"] in role["models"])
        assert sorted(r.strip() for r in roles.split(",")) == held, file
    recipe_rows = {r[0].strip("`"): r[-1] for r in _readme_table("| recipe | purpose |", "docs/training.md")}
    assert set(recipe_rows) == set(recipes.RECIPES)
    split_trained = [e for e in m["split_models"] + m["models"] if e.get("val_accuracy") is not None]
    for name in {e["recipe"] for e in split_trained}:  # each quotes one of its models (--recipe list: all)
        said = recipe_rows[name]
        assert any(f"{e['val_accuracy']:.4f}" in said and f"{e['training_minutes']:g} min" in said
                   for e in split_trained if e["recipe"] == name), (name, said)


def test_an_unknown_role_is_a_usage_error_naming_the_roles():
    from ferhw3.errors import UsageError

    assert manifest.role("photos")[0] == manifest.role("default")[0]
    with pytest.raises(UsageError, match=r"'nosuch': not a role of .*manifest.json \(roles: default, photos, ensemble"):
        manifest.role("nosuch")
    with pytest.raises(UsageError, match="not a role"):
        manifest.role_tta("nosuch")
