"""models/manifest.json: every shipped file listed, as described, and its accuracy as recorded."""

import hashlib
import os

import numpy as np
import pytest

from conftest import SHARED
from ferhw3 import manifest, recipes


def test_every_shipped_file_is_listed_with_its_size_hash_and_recipe():
    m = manifest.load()
    entries = manifest.entries(m)
    on_disk = {f for f in os.listdir(manifest.MODELS_DIR) if f.endswith((".h5", ".keras"))}
    assert on_disk == set(entries)
    for name, e in entries.items():
        path = os.path.join(manifest.MODELS_DIR, name)
        data = open(path, "rb").read()
        assert len(data) == e["bytes"] < 16 * 2**20, name
        assert hashlib.sha256(data).hexdigest() == e["sha256"], name
        assert e["recipe"] in recipes.RECIPES and name in recipes.RECIPES[e["recipe"]].produced, name
        for start in [e["init"], *e["teachers"]]:
            assert start is None or start in entries, (name, start)
        assert 0 < e["val_accuracy"] < 1 and e["training_minutes"] > 0 and e["hardware"]
        assert e["trained_on_validation_faces"] is False  # so each can be measured on the split
    for role in m["roles"].values():
        assert role["models"] and all(f in entries for f in role["models"])
    assert set(recipes.ENSEMBLE) == {f"models/{f}" for f in m["roles"]["ensemble"]["models"]}


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
    from ferhw3.evaluate import accuracy, validation_faces

    m = manifest.load()
    x = y = None
    for name, e in manifest.entries(m).items():
        path = os.path.join(manifest.MODELS_DIR, name)
        if x is None:
            x, y, _, split = validation_faces(os.path.join(SHARED, "train.csv.gz"), path)
            assert split == (0, 2871.0) and len(y) == 2871
        model = cli.load_model(path)
        assert round(accuracy([model], x, y), 4) == e["val_accuracy"], name
        assert round(accuracy([model], x, y, tta="center" if "center" in e["val_accuracy_tta"] else "flip"), 4) \
            == e["val_accuracy_tta"].get("center", e["val_accuracy_tta"].get("flip")), name
    ens = m["roles"]["ensemble"]
    members = [cli.load_model(p) for p in manifest.role("ensemble", m)]
    assert round(accuracy(members, x, y, tta=ens["tta"]), 4) == ens["val_accuracy"]
