"""Nothing a user does loses a file or gets a silent wrong answer: one test per class of mishandling."""

import gzip
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import ROOT, csv_text, random_faces
from ferhw3 import cli
from ferhw3.data.read import DataError, load_csv, load_faces, load_image
from ferhw3.runfiles import RunFiles, replace_atomically

PY = sys.executable


def run(args, cwd=None, env=None):
    return subprocess.run(args, cwd=cwd or ROOT, env=dict(os.environ, PYTHON=PY, **(env or {})),
                          capture_output=True, text=True, timeout=600)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from ferhw3.train.models import build_cnn

    path = tmp_path_factory.mktemp("model") / "m.h5"
    build_cnn("vgg-bn").save(path)
    return str(path)


# ---------------------------------------------------------------- data loss: outputs that are inputs

def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path, tiny_test, tiny_model):
    before = open(tiny_test[0], "rb").read()
    os.symlink(tiny_test[0], tmp_path / "link.csv")
    for out in (tiny_test[0], str(tmp_path / "link.csv")):  # the same file, also through a link
        one_line_error(run([PY, "predict.py", tiny_test[0], out, "--model", tiny_model]), "is also an input")
    model_bytes = open(tiny_model, "rb").read()
    one_line_error(run([PY, "predict.py", tiny_test[0], tiny_model, "--model", tiny_model]), "is also an input")
    one_line_error(run(["bash", os.path.join(ROOT, "hw3_test.sh"), tiny_test[0], tiny_test[0]]), "is also an input")
    assert open(tiny_test[0], "rb").read() == before and open(tiny_model, "rb").read() == model_bytes
    one_line_error(run([PY, "predict.py", tiny_test[0], str(tmp_path), "--model", tiny_model]), "is a folder")


def test_training_refuses_outputs_that_are_its_inputs_or_have_no_model_suffix(tmp_path, tiny_train, tiny_model):
    data = tmp_path / "run.history.csv"  # what --out run.h5 would write its history into
    data.write_bytes(open(tiny_train[0], "rb").read())
    one_line_error(run([PY, "train_cnn.py", str(data), "--out", str(tmp_path / "run.h5")]), "is also an input")
    model = open(tiny_model, "rb").read()
    one_line_error(run([PY, "train_cnn.py", tiny_train[0], "--out", tiny_model, "--init", tiny_model]),
                   "is also an input")
    one_line_error(run([PY, "train_cnn.py", tiny_train[0], "--out", tiny_model, "--set", f"teachers={tiny_model}"]),
                   "is also an input")
    one_line_error(run([PY, "train_cnn.py", tiny_train[0], "--out", str(tmp_path / "model")]), "must end in .h5")
    assert data.read_bytes() == open(tiny_train[0], "rb").read() and open(tiny_model, "rb").read() == model


def test_a_special_file_output_is_written_straight_into(tiny_test, tiny_model):
    r = run([PY, "predict.py", tiny_test[0], "/dev/stdout", "--model", tiny_model])
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines[0] == "id,label" and [int(l.split(",")[0]) for l in lines[1:21]] == list(tiny_test[2])


# ---------------------------------------------------------------- data loss: interrupted and concurrent writes

def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"the old model")

    def half_then_fail(tmp):
        open(tmp, "wb").write(b"half a mod")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        replace_atomically(str(path), half_then_fail)
    assert path.read_bytes() == b"the old model" and os.listdir(tmp_path) == ["model.h5"]


def test_the_best_model_is_replaced_atomically(tmp_path, monkeypatch):
    """A kill while the best model is written leaves the previous best, never a torn file."""
    import keras

    from ferhw3.train.callbacks import SaveBest
    from ferhw3.train.models import build_cnn

    model, path = build_cnn("vgg-bn"), str(tmp_path / "best.h5")
    best = SaveBest(model, path, "val_accuracy")
    best.set_model(model)
    best.on_epoch_end(0, {"val_accuracy": 0.5})
    first = open(path, "rb").read()

    def torn_save(target, *a, **k):  # what a kill or a full disk halfway through leaves
        open(target, "wb").write(first[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", torn_save)
    with pytest.raises(KeyboardInterrupt):
        best.on_epoch_end(1, {"val_accuracy": 0.6})
    assert open(path, "rb").read() == first and os.listdir(tmp_path) == ["best.h5"]
    assert keras.models.load_model(path, compile=False).count_params() == model.count_params()


def test_a_second_training_on_the_same_out_is_refused_with_the_first_ones_process(tmp_path, tiny_train):
    out = str(tmp_path / "run.h5")
    with RunFiles(out).lock():
        r = run([PY, "train_cnn.py", tiny_train[0], "--out", out, "--epochs", "1", "--val-size", "14",
                 "--batch-size", "16"])
        one_line_error(r, "another training", f"process {os.getpid()}")
    assert not os.path.exists(out) and not os.path.exists(f"{tmp_path}/run.lock")


def test_history_rows_are_whole_after_every_epoch(tmp_path):
    from ferhw3.train.callbacks import HistoryCSV

    files = RunFiles(str(tmp_path / "r.h5"))
    h = HistoryCSV(files, append=False)
    h.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.3})
    h.on_epoch_end(1, {"loss": 0.9, "accuracy": 0.4})
    again = HistoryCSV(files, append=True)  # a resumed run continues the rows
    again.on_epoch_end(2, {"loss": 0.8, "accuracy": 0.5})
    table = pd.read_csv(files.history)
    assert list(table.columns) == ["epoch", "accuracy", "loss"] and list(table["epoch"]) == [0, 1, 2]


# ---------------------------------------------------------------- silent wrong answers: inputs

def test_every_gzip_member_is_read(tmp_path):
    x, y = random_faces(200)
    first = csv_text(x[:100], y[:100]).encode()
    rest = csv_text(x[100:], y[100:]).encode().split(b"\n", 1)[1]  # `gzip -c more >> f.gz`
    path = tmp_path / "two.csv.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(rest))
    faces = load_csv(str(path))
    assert len(faces) == 200 and np.array_equal(faces.x, x) and np.array_equal(faces.labels, y)


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    a = np.full((48, 48), 32768, np.uint16)
    a[:, :24] = 65535
    Image.fromarray(a).save(tmp_path / "deep.png")
    face = load_image(str(tmp_path / "deep.png"))[..., 0]
    assert face[0, 0] == 255 and abs(int(face[0, 40]) - 128) <= 1


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((48, 48), np.uint8)
    a[:, :8] = 255  # a bright band on the left of the stored pixels
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view": the band is at the top as seen
    im.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    face = load_image(str(tmp_path / "phone.jpg"))[..., 0]
    assert face[:4].mean() > 200 and face[-4:].mean() < 50 and face[8:, :4].mean() < 50


def test_a_decompression_bomb_is_refused_in_one_line(tmp_path):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 1, 0, 0, 0, 0)  # 900M 1-bit pixels in a few bytes
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                                         + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(DataError, match=r"bomb.png: image too large"):
        load_image(str(tmp_path / "bomb.png"))


def _png(path, value=128):
    Image.fromarray(np.full((48, 48), value, np.uint8)).save(path)


def test_image_folders_take_what_they_say_and_never_drop_files(tmp_path, capsys):
    flat = tmp_path / "flat"
    os.makedirs(flat / "angela")  # begins like "angry" but is not a class folder
    _png(flat / "a.png"), _png(flat / "b,c.png"), _png(flat / "angela" / "x.png")
    faces = load_faces(str(flat))
    assert faces.labels is None and faces.names == ["a.png", "b,c.png", os.path.join("angela", "x.png")]
    said = capsys.readouterr().out
    assert "3 images (1 of them in the subfolders angela/)" in said
    mixed = tmp_path / "mixed"
    os.makedirs(mixed / "happy")
    _png(mixed / "happy" / "h.png"), _png(mixed / "loose.png")
    with pytest.raises(DataError, match=r"both class folders and 1 images"):
        load_faces(str(mixed))


def test_file_names_with_commas_are_quoted_in_the_output(tmp_path, tiny_model):
    os.makedirs(tmp_path / "imgs")
    _png(tmp_path / "imgs" / 'me, "smiling".png')
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", str(tmp_path / "imgs"), str(out), "--model", tiny_model])
    assert r.returncode == 0, r.stderr[-2000:]
    assert list(pd.read_csv(out)["file"]) == ['me, "smiling".png']


def test_a_model_without_seven_outputs_is_refused(tmp_path, tiny_test):
    import keras

    inputs = keras.Input((48, 48, 1))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))).save(
        tmp_path / "ten.h5")
    one_line_error(run([PY, "predict.py", tiny_test[0], str(tmp_path / "o.csv"), "--model", str(tmp_path / "ten.h5")]),
                   "ten.h5", "not the 7 expression classes")
    assert not (tmp_path / "o.csv").exists()


# ---------------------------------------------------------------- one line, never a traceback

@pytest.mark.parametrize("content, needle", [
    (b"id,feature\n123456789012345678901," + b"1 " * 2304 + b"\n", "line 2: the first field 123456789012345678901 is too large"),
    (b"label,feature\n99999999999999999999," + b"1 " * 2304 + b"\n", "is too large"),
    (b"id,feature\n-5," + b"1 " * 2304 + b"\n", "line 2: the first field must be a non-negative integer"),
    ("id,feature\n0,1\n".encode("utf-16"), "line 1: is UTF-16"),
    (b"id,feature\n9223372036854775808," + b"1 " * 2304 + b"\n", "line 2: the first field 9223372036854775808 is too large"),
])
def test_bad_keys_and_encodings_get_a_message_that_says_what_is_wrong(tmp_path, content, needle, tiny_model):
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    one_line_error(run([PY, "predict.py", str(path), str(tmp_path / "o.csv"), "--model", tiny_model]), "in.csv", needle)


def test_a_model_path_that_is_a_folder(tmp_path, tiny_test):
    one_line_error(run([PY, "predict.py", tiny_test[0], str(tmp_path / "o.csv"), "--model", str(tmp_path)]),
                   "is a folder, not a model file")


def test_the_dense_baseline_with_window_tta_is_a_usage_error(tmp_path, tiny_test):
    from ferhw3.train.models import dnn

    dnn(16, 1).save(tmp_path / "dnn.h5")
    r = run([PY, "predict.py", tiny_test[0], str(tmp_path / "o.csv"), "--model", str(tmp_path / "dnn.h5"),
             "--tta", "center"])
    one_line_error(r, "dnn.h5", "takes whole 48x48 faces only", "--tta none or flip")


@pytest.mark.slow
def test_resume_or_init_with_another_architecture_is_a_usage_error(tmp_path, tiny_train, tiny_model):
    out = str(tmp_path / "r.h5")
    base = [PY, "train_cnn.py", tiny_train[0], "--out", out, "--val-size", "14", "--batch-size", "16"]
    assert run(base + ["--epochs", "1"]).returncode == 0
    one_line_error(run(base + ["--epochs", "2", "--resume", "--arch", "vgg-bn-wide"]),
                   "--resume of a run with arch=vgg-bn, not vgg-bn-wide")
    one_line_error(run(base[:4] + [str(tmp_path / "i.h5")] + base[5:] + ["--epochs", "1", "--init", tiny_model,
                                                                        "--arch", "vgg-bn-deep-wide"]),
                   "m.h5: --init model", "do not fit vgg-bn-deep-wide")


def test_visualize_refuses_what_it_cannot_draw_in_one_line(tmp_path, tiny_train):
    from ferhw3.train.models import build_cnn, dnn

    dnn(16, 1).save(tmp_path / "dnn.h5")
    build_cnn("vgg-bn").save(tmp_path / "cnn.h5")
    one_line_error(run([PY, "visualize.py", "ascent", "--model", str(tmp_path / "dnn.h5"), "--out", str(tmp_path)]),
                   "has no convolution layers")
    one_line_error(run([PY, "visualize.py", "featuremaps", "--model", str(tmp_path / "cnn.h5"), "--data",
                        tiny_train[0], "--layer", "conv9", "--out", str(tmp_path)]), "--layer conv9: not a convolution")
    one_line_error(run([PY, "visualize.py", "curves", "--history", tiny_train[0], "--out", str(tmp_path)]),
                   "not a training history")


def test_an_unexpected_error_is_one_line_and_the_traceback_is_behind_a_variable(monkeypatch, capsys):
    def broken():
        raise RuntimeError("something\nunforeseen")

    with pytest.raises(SystemExit) as e:
        cli.main_guard(broken)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 1 and err == [
        "error: unexpected RuntimeError: something unforeseen (FERHW3_DEBUG=1 shows the traceback)"]
    monkeypatch.setenv("FERHW3_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main_guard(broken)


# ---------------------------------------------------------------- scripts

@pytest.mark.slow
def test_hw3_test_works_from_a_path_with_a_space(tmp_path, tiny_test, tiny_model):
    spaced = tmp_path / "my projects"
    os.makedirs(spaced)
    os.symlink(ROOT, spaced / "hw 3")
    out = tmp_path / "out dir" / "o.csv"
    r = run(["bash", str(spaced / "hw 3" / "hw3_test.sh"), tiny_test[0], str(out)],
            cwd=str(tmp_path), env={"HW3_MODEL": tiny_model})
    assert r.returncode == 0, r.stderr[-2000:]
    assert list(pd.read_csv(out)["id"]) == list(tiny_test[2])


# ---------------------------------------------------------------- files lost or skipped without a word

def test_images_in_subfolders_are_read_and_named_by_their_path(tmp_path, tiny_model):
    """A folder of loose photos beside a year folder and a person's folder: every image gets
    a row, named by its path below the folder; none is skipped in silence."""
    photos = tmp_path / "photos"
    os.makedirs(photos / "2023" / "summer"), os.makedirs(photos / "Alice")
    for i, name in enumerate(["a.png", "2023/b.png", "2023/summer/c.png", "Alice/d.jpg", "Alice/e.png"]):
        _png(photos / name, value=40 * i)
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", str(photos), str(out), "--model", tiny_model])
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(pd.read_csv(out)["file"]) == sorted(os.path.join(*n.split("/")) for n in
                                                    ["a.png", "2023/b.png", "2023/summer/c.png", "Alice/d.jpg",
                                                     "Alice/e.png"])
    assert "5 images (4 of them in the subfolders 2023/, Alice/)" in r.stdout
    # the same for a class folder's subfolders: their faces are of that class
    labelled = tmp_path / "labelled"
    os.makedirs(labelled / "happy" / "2023"), os.makedirs(labelled / "sad")
    _png(labelled / "happy" / "h.png"), _png(labelled / "happy" / "2023" / "h2.png"), _png(labelled / "sad" / "s.png")
    faces = load_faces(str(labelled))
    assert list(faces.labels) == [3, 3, 4] and faces.names[1] == os.path.join("happy", "2023", "h2.png")


def test_photos_in_subfolders_are_read_with_detect_and_annotated_apart(tmp_path, tiny_model):
    from PIL import Image

    photos = tmp_path / "photos"
    os.makedirs(photos / "2023")
    for name in ("x.jpg", "2023/x.jpg"):  # one name in two folders: two annotated copies
        Image.new("RGB", (120, 90), (200, 180, 160)).save(photos / name)
    out, seen = tmp_path / "o.csv", tmp_path / "seen"
    r = run([PY, "predict.py", str(photos), str(out), "--detect", "--annotate", str(seen), "--model", tiny_model])
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(pd.read_csv(out)["file"]) == sorted(["x.jpg", os.path.join("2023", "x.jpg")])
    assert (seen / "x.faces.jpg").exists() and (seen / "2023" / "x.faces.jpg").exists()


def test_an_output_that_is_a_link_is_written_through_it(tmp_path, tiny_test, tiny_model):
    """The link stays a link and its target gets the new content, also when the target does
    not exist yet."""
    target, link = tmp_path / "real" / "sub.csv", tmp_path / "link.csv"
    os.makedirs(target.parent)
    os.symlink(target, link)
    for _ in range(2):  # a new target, then an existing one replaced
        r = run([PY, "predict.py", tiny_test[0], str(link), "--model", tiny_model])
        assert r.returncode == 0, r.stderr[-2000:]
        assert os.path.islink(link) and os.readlink(link) == str(target)
        assert list(pd.read_csv(target)["id"]) == list(tiny_test[2])
    assert sorted(os.listdir(target.parent)) == ["sub.csv"]  # no temporary left beside it
    replace_atomically(str(link), lambda tmp: open(tmp, "w").write("new"))
    assert os.path.islink(link) and target.read_text() == "new"


@pytest.mark.slow
def test_a_full_disk_or_a_file_size_limit_while_saving_is_one_line_and_keeps_the_run(tmp_path, tiny_train):
    """Under `ulimit -f` smaller than a model: resuming a finished run needs no model write
    and succeeds; a resumed run that must save an epoch stops with one line that says what
    is kept; the best model and the checkpoint are the ones from before, no temporary left."""
    import resource

    out = str(tmp_path / "m.h5")
    base = [PY, "train_cnn.py", tiny_train[0], "--out", out, "--val-size", "14", "--batch-size", "16"]
    assert run(base + ["--epochs", "1"]).returncode == 0
    kept = {p: open(p, "rb").read() for p in (out, str(tmp_path / "m.last.keras"))}
    limit = 1 << 20  # 1 MiB: room for the history and the records, not for a model
    small = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # noqa: E731

    def limited(args):
        return subprocess.run(args, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=600,
                              preexec_fn=small)

    finished = limited(base + ["--epochs", "1", "--resume"])
    assert finished.returncode == 0 and "Traceback" not in finished.stderr, finished.stderr[-2000:]
    more = limited(base + ["--epochs", "3", "--resume"])
    one_line_error(more, "m.h5: the disk is full (or a file-size limit was reached) while saving the",
                   "the previous checkpoint and best model are intact; free space and rerun with --resume")
    for path, content in kept.items():
        assert open(path, "rb").read() == content, path
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]
    assert run(base + ["--epochs", "2", "--resume"]).returncode == 0  # with room again it goes on


def test_a_save_without_room_is_refused_before_writing_and_the_old_file_kept(tmp_path, monkeypatch):
    from ferhw3 import runfiles
    from ferhw3.errors import NoRoomError
    from ferhw3.train.models import build_cnn

    path = tmp_path / "m.h5"
    path.write_bytes(b"old")
    monkeypatch.setattr(runfiles, "_room_left", lambda folder: 1000.0)
    with pytest.raises(NoRoomError, match="the disk is full"):
        runfiles.save_model(build_cnn("vgg-bn"), str(path))
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.h5"]
    files = RunFiles(str(path))  # a writer that fails with ENOSPC itself is reported the same way
    with pytest.raises(NoRoomError, match="while saving the checkpoint; the previous checkpoint"):
        with files.saving("the checkpoint"):
            raise OSError(28, "No space left on device")
    with pytest.raises(OSError, match="Permission"):  # other errors are not dressed up as a full disk
        with files.saving("the checkpoint"):
            raise OSError(13, "Permission denied")


def test_a_half_transparent_face_reads_as_the_face(tmp_path, tiny_model):
    """Transparency: alpha scaled so the most opaque pixel is opaque, then composited on
    white. A face and its uniformly half-transparent copy give the same pixels and the same
    probabilities; a cut-out's transparent background is white."""
    x, _ = random_faces(1, seed=3)
    grey = x[0, :, :, 0]
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "half.png")
    np.testing.assert_array_equal(load_image(str(tmp_path / "half.png")), load_image(str(tmp_path / "opaque.png")))
    np.testing.assert_array_equal(load_image(str(tmp_path / "opaque.png"))[..., 0], grey)
    cut = np.dstack([grey, grey, grey, np.zeros_like(grey)])
    cut[12:36, 12:36, 3] = 255
    Image.fromarray(cut, "RGBA").save(tmp_path / "cut.png")
    read = load_image(str(tmp_path / "cut.png"))[..., 0]
    assert (read[:10] == 255).all() and (read[12:36, 12:36] == grey[12:36, 12:36]).all()
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", str(tmp_path / "half.png"), str(out), "--model", tiny_model])
    r2 = run([PY, "predict.py", str(tmp_path / "opaque.png"), str(tmp_path / "o2.csv"), "--model", tiny_model])
    assert r.returncode == 0 and r2.returncode == 0, r.stderr[-2000:] + r2.stderr[-2000:]
    assert pd.read_csv(out)["probabilities"][0] == pd.read_csv(tmp_path / "o2.csv")["probabilities"][0]


def test_a_users_sequential_model_predicts_on_the_default_engine(tmp_path, tiny_test):
    import keras

    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(7, activation="softmax")])
    model.save(tmp_path / "seq.h5")
    out = tmp_path / "o.csv"
    r = run([PY, "predict.py", tiny_test[0], str(out), "--model", str(tmp_path / "seq.h5"), "--tta", "none"],
            env={"FERHW3_CACHE": str(tmp_path / "cache"), "FERHW3_ENGINE": "openvino"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "on openvino" in r.stdout
    want = model.predict(tiny_test[1].astype(np.float32), verbose=0).argmax(1)
    assert list(pd.read_csv(out)["label"]) == list(want)


def test_ids_up_to_the_int64_maximum_are_kept(tmp_path):
    x, _ = random_faces(2)
    ids = np.array([2**63 - 1, 5], dtype=np.int64)
    from conftest import write_csv

    faces = load_csv(write_csv(tmp_path / "t.csv", x, ids, header="id,feature"))
    assert faces.ids.tolist() == [2**63 - 1, 5]


def test_files_written_through_a_temporary_get_the_usual_permissions(tmp_path):
    """A new file gets what open() would give it (0666 less the umask), not mkstemp's private
    0600; a file written again keeps its own mode."""
    from ferhw3.infer.outputs import write_submission

    old = os.umask(0o022)
    try:
        new = tmp_path / "out.csv"
        write_submission(str(new), np.arange(3), np.zeros(3, int))
        assert new.stat().st_mode & 0o777 == 0o644
        os.chmod(new, 0o640)
        write_submission(str(new), np.arange(3), np.ones(3, int))
        assert new.stat().st_mode & 0o777 == 0o640 and new.read_text().splitlines()[1] == "0,1"
    finally:
        os.umask(old)
