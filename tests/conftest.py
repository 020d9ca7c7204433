"""Tiny FER-format data made on the fly: no test depends on the real data set."""

import atexit
import gzip
import os
import shutil
import tempfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as ferhw3.cli sets it
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# converted OpenVINO models go to a cache of the test run's own, not the user's
os.environ["FERHW3_CACHE"] = tempfile.mkdtemp(prefix="ferhw3-test-cache-")
atexit.register(shutil.rmtree, os.environ["FERHW3_CACHE"], ignore_errors=True)

SHARED = os.path.join(ROOT, "..", "shared", "data", "fer2013")


def hopper():
    """The path of a real photo with one face (Grace Hopper's portrait, shipped with matplotlib)."""
    from matplotlib import cbook

    return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


def random_faces(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 48, 48, 1), dtype=np.uint8)
    labels = np.arange(n) % 7  # every class present, so stratified splits work
    rng.shuffle(labels)
    return x, labels


def csv_text(x, keys, header="label,feature", sep=" ", quote=False, eol="\n", final_newline=True):
    rows = [header]
    for key, face in zip(keys, x.reshape(len(x), -1)):
        feature = sep.join(str(v) for v in face.tolist())
        rows.append(f'{key},"{feature}"' if quote else f"{key},{feature}")
    return eol.join(rows) + (eol if final_newline else "")


def write_csv(path, x, keys, header="label,feature", gz=False, bom=False, **kw):
    data = csv_text(x, keys, header=header, **kw).encode()
    if bom:
        data = b"\xef\xbb\xbf" + data
    if gz:
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.fixture
def tiny_train(tmp_path):
    x, y = random_faces(70)
    return write_csv(tmp_path / "train.csv", x, y), x, y


@pytest.fixture
def tiny_test(tmp_path):
    x, _ = random_faces(20, seed=1)
    ids = np.arange(100, 120)[::-1]  # not 0..N-1 and not sorted: the output must keep this order
    return write_csv(tmp_path / "test.csv", x, ids, header="id,feature"), x, ids
