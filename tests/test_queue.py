"""The members' queue (train_members.py --queue) and the mixup it trains some of them with."""

import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, random_faces, write_csv
from ferhw3.data.read import DataError
from ferhw3.runfiles import exclusive
from ferhw3.train.members import Member, progress, read_queue, status_table

PY = sys.executable
TINY = "batch_size=16 val_size=14 crop=0 rotation=0 zoom=0"


def queue_file(tmp_path, text):
    path = tmp_path / "q.txt"
    path.write_text(text)
    return str(path)


def test_a_queue_file_lists_members_and_a_bad_line_is_named(tmp_path):
    q = queue_file(tmp_path, "# comment\n\nres  resnet-affine  minutes=5   # the ResNet\nv vgg-bn epochs=3 init=r.h5\n")
    assert read_queue(q) == [Member("res", "resnet-affine", ("minutes=5",), 3),
                             Member("v", "vgg-bn", ("epochs=3",), 4, "r.h5")]
    for text, needle in [("a nosuch\n", "line 1: unknown recipe 'nosuch'"),
                         ("a vgg-bn\na vgg-bn\n", "line 2: member 'a' is already on line 1"),
                         ("a vgg-bn crop=50\n", "line 1: crop=50: must be 0 (none) or 8-48 pixels"),
                         ("a vgg-bn epochs\n", "line 1: --set epochs: must be key=value"),
                         ("a/b vgg-bn\n", "line 1: member name 'a/b'"),
                         ("lonely\n", "line 1: expected NAME RECIPE"),
                         ("# nothing\n", "lists no members")]:
        with pytest.raises(DataError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            read_queue(queue_file(tmp_path, text))
    with pytest.raises(DataError, match="queue file not found"):
        read_queue(str(tmp_path / "none.txt"))


def run(args):
    return subprocess.run([PY, "train_members.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_queue_trains_in_order_resumes_skips_and_refuses_a_second_start(tmp_path):
    x, y = random_faces(70)
    train = write_csv(tmp_path / "train.csv", x, y)
    work, out = tmp_path / "work", tmp_path / "out"
    q = queue_file(tmp_path, f"first vgg-bn epochs=2 {TINY}\ngone vgg-bn epochs=1 {TINY}\n")
    # `first` was stopped after one of its two epochs: a checkpoint and no record
    r = subprocess.run([PY, "train_cnn.py", train, "--out", str(work / "first.h5"), "--epochs", "1",
                        *sum((["--set", s] for s in TINY.split()), [])], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    os.unlink(work / "first.config.json")
    members = read_queue(q)
    assert [progress(str(work), m)["status"] for m in members] == ["stopped", "waiting"]

    with exclusive(str(work / "queue.lock"), lambda pid: pid):  # a queue already running here
        r = run([train, "--queue", q, "--work", str(work), "--out", str(out)])
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {q}: a queue (process {os.getpid()}) is already training in {work}; see --status, "
        f"or stop that process first"), r.stderr

    # while `first` trains, `gone` is taken out of the file and `second` added: the queue reads
    # the file again when `first` ends
    proc = subprocess.Popen([PY, "train_members.py", train, "--queue", q, "--work", str(work), "--out", str(out),
                             "--poll", "0.5", "--no-nice"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 300
    log = work / "queue.log"
    while not (log.exists() and "first: started" in log.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    queue_file(tmp_path, f"first vgg-bn epochs=2 {TINY}\nsecond vgg-bn epochs=1 {TINY} lr=0.01\n")
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "Resuming from" in (work / "first.log").read_text()  # continued, not begun again
    assert len(pd.read_csv(work / "first.history.csv")) == 2
    log = (work / "queue.log").read_text()
    assert log.index("first: started") < log.index("first: finished") < log.index("gone: taken out") \
        < log.index("second: added") < log.index("second: started")
    assert "gone: started" not in log and not (out / "gone.h5").exists()
    assert "second                   running  epoch 1/1" in log or "second: finished" in log
    import h5py

    for name in ("first", "second"):
        with h5py.File(out / f"{name}.h5") as f:  # float16 copies with their records and histories
            dtypes = set()
            f["model_weights"].visititems(lambda k, v: dtypes.add(v.dtype) if hasattr(v, "dtype") else None)
        assert dtypes == {np.dtype("float16")}
        assert (out / f"{name}.config.json").exists() and (out / f"{name}.history.csv").exists()

    status = run(["--queue", q, "--work", str(work), "--status"])
    assert status.returncode == 0 and "2 of 2 members done" in status.stdout and "no queue running" in status.stdout
    assert "first                    done     epoch 2/2" in status.stdout
    (work / "queue.lock").write_text("4194303")  # left by a queue killed with -9 or a machine that stopped
    stale = run(["--queue", q, "--work", str(work), "--status"])
    assert "no queue running" in stale.stdout, stale.stdout

    # a new machine has no work folder: the records in OUT say the members are done
    fresh = run(["--queue", q, "--work", str(tmp_path / "new"), "--out", str(out), "--status"])
    assert fresh.returncode == 0 and "2 of 2 members done" in fresh.stdout, fresh.stdout

    again = run([train, "--queue", q, "--work", str(work), "--out", str(out), "--poll", "0.5"])
    assert again.returncode == 0 and "2 of 2 members done, 0 to train" in again.stdout
    assert "started" not in again.stdout.split("members done, 0 to train")[1]


def test_mixup_blends_faces_and_targets_alike_and_repeats_from_its_seed():
    from ferhw3.data.pipeline import train_dataset

    x, y = random_faces(64, seed=2)
    plain = [a for a in train_dataset(x, y, 16, None, seed=0)]
    mixed = [a for a in train_dataset(x, y, 16, None, seed=0, mixup=0.4)]
    again = [a for a in train_dataset(x, y, 16, None, seed=0, mixup=0.4)]
    for (xp, tp), (xm, tm), (xa, ta) in zip(plain, mixed, again):
        xp, tp, xm, tm = xp.numpy(), tp.numpy(), xm.numpy(), tm.numpy()
        np.testing.assert_array_equal(xm, xa.numpy())
        np.testing.assert_allclose(tm.sum(1), 1.0, rtol=1e-5)
        # each face is lam x itself + (1 - lam) x another face of the batch, lam >= 0.5, and its
        # target the same blend of the two targets
        lams = []
        for i in range(16):
            fits = []
            for j in range(16):
                d = (xp[i] - xp[j]).ravel()
                lam = 1.0 if not d.any() else float(np.dot((xm[i] - xp[j]).ravel(), d) / np.dot(d, d))
                if np.allclose(xm[i], lam * xp[i] + (1 - lam) * xp[j], atol=0.05):
                    fits.append((lam, j))
            assert fits, i
            lam, j = fits[0]
            assert lam >= 0.5 - 1e-4
            np.testing.assert_allclose(tm[i], lam * tp[i] + (1 - lam) * tp[j], atol=1e-3)
            lams.append(lam)
        assert min(lams) < 0.99  # some faces are really blended
    assert not np.array_equal(mixed[0][0].numpy(), plain[0][0].numpy())


def test_mixup_takes_bfloat16_faces_from_the_augmentation():
    """Under mixed_bfloat16 Keras's augmentation layers give bfloat16 faces: mixup blends
    them in their own precision, the targets in float32."""
    import keras

    from ferhw3.data.pipeline import augmenter, train_dataset

    x, y = random_faces(32, seed=4)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        images, targets = next(iter(train_dataset(x, y, 16, augmenter(40, erase=0.5), mixup=0.4)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert images.shape == (16, 40, 40, 1) and targets.dtype == "float32"
    np.testing.assert_allclose(targets.numpy().sum(1), 1.0, rtol=1e-5)


def test_time_left_follows_the_usual_epoch_not_a_slow_one(tmp_path):
    """A stopped run's estimate is the epochs still to train times its median recent epoch:
    the epoch that resumed it (loading, compiling) and one slowed by other work move it little."""
    work = tmp_path / "work"
    work.mkdir()
    epoch_minutes = [1.0] * 8 + [9.0] + [1.0] * 3  # the ninth epoch resumed the run
    pd.DataFrame({"epoch": range(12), "minutes": np.cumsum(epoch_minutes), "val_accuracy": 0.5}).to_csv(
        work / "m.history.csv", index=False)
    (work / "m.last.json").write_text('{"epoch": 11, "config": {"epochs": 40}, "logs": {}}')
    row = progress(str(work), Member("m", "vgg-bn", ()))
    assert row["status"] == "stopped" and row["epoch"] == 12 and row["minutes"] == 20.0
    assert row["left"] == pytest.approx(28 * 1.0), row
    assert status_table(str(work), [Member("m", "vgg-bn", ())]).splitlines()[-1] == (
        "0 of 1 members done, 0.3 h of training spent; ~28 min left for the 1 begun")


def test_a_waiting_member_shows_the_epochs_it_will_train(tmp_path):
    """Before it starts, a member's epochs come from its recipe and settings; a time budget
    (minutes) leaves them unknown until its speed is measured."""
    rows = {m.name: progress(str(tmp_path), m) for m in [Member("e", "vgg-bn", ("epochs=7",)),
                                                           Member("d", "vgg-bn", ()),
                                                           Member("t", "resnet-affine", ("minutes=5",))]}
    assert [rows[n]["status"] for n in "edt"] == ["waiting"] * 3
    assert (rows["e"]["epochs"], rows["d"]["epochs"], rows["t"]["epochs"]) == (7, 60, None)
