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


def moving_clip(frames=150, size=(640, 480), seed=0):
    """A webcam-like clip (BGR frames): two faces moving over a textured picture, Grace
    Hopper's head and shoulders (her face about 90 px wide) panning right and back and a
    FER2013 face of 110 px panning left. Returns the frames and, per frame, the two faces'
    true squares (x, y, side): hers, then the FER2013 face's."""
    import cv2

    from ferhw3.data.read import load_faces

    w, h = size
    rng = np.random.default_rng(seed)
    small = rng.uniform(30, 220, (h // 16 + 1, w // 16 + 1)).astype(np.float32)
    background = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    background = cv2.cvtColor(background, cv2.COLOR_GRAY2BGR)
    photo = cv2.imread(hopper())
    x, y, s = 164, 107, 203  # her face's square in the photo (what the photo path finds)
    k = 90 / s
    head = cv2.resize(photo[y - s // 2:y + s + s // 2, x - s // 2:x + s + s // 2], None, fx=k, fy=k,
                      interpolation=cv2.INTER_AREA)
    face = load_faces(os.path.join(ROOT, "data", "sample_test.csv.gz")).x[3][:, :, 0]
    face = cv2.cvtColor(cv2.resize(face, (110, 110), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    hh, hw = head.shape[:2]
    out, truth = [], []
    for t in range(frames):
        u = t / max(frames - 1, 1)
        ax = int(20 + (w - hw - 40) * (0.5 - 0.5 * np.cos(2 * np.pi * u)))
        ay = int(40 + 20 * np.sin(4 * np.pi * u))
        bx, by = int(w - 130 - (w - 260) * u), int(h - 150 - 40 * np.sin(2 * np.pi * u))
        picture = background.copy()
        picture[ay:ay + hh, ax:ax + hw] = head
        picture[by:by + 110, bx:bx + 110] = face
        out.append(picture)
        truth.append(((ax + round(s // 2 * k), ay + round(s // 2 * k), round(s * k)), (bx, by, 110)))
    return out, truth


def write_clip(path, frames, fps=30):
    """BGR frames as a video: .mp4 (MPEG-4 part 2) or .y4m (raw I420 frames after a short
    header, what Chromium's fake camera plays)."""
    import cv2

    h, w = frames[0].shape[:2]
    if str(path).endswith(".y4m"):
        with open(path, "wb") as f:
            f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            for frame in frames:
                f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
        return str(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


def fake_camera(y4m) -> list[str]:
    """Chromium's switches for a webcam that plays `y4m` (and is allowed without asking)."""
    return ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}"]
