"""What users hand the photo, video, service and Python paths: a batch with bad files in it,
pictures of every depth and transparency however they arrive, a panorama, outputs of one
name, a cut-short video, a missing path, an upload over the limit."""

import io
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import ROOT, hopper, moving_clip, write_clip
from test_serve import server  # noqa: F401  (the app on a real server: a fixture)

cv2 = pytest.importorskip("cv2")
from ferhw3.infer.photos import Recogniser  # noqa: E402

PREDICT = os.path.join(ROOT, "predict.py")


@pytest.fixture(scope="module")
def reader():
    return Recogniser()


def run_predict(*args):
    return subprocess.run([sys.executable, PREDICT, *map(str, args)], capture_output=True, text=True, timeout=600)


def hopper_rgb() -> np.ndarray:
    return np.asarray(Image.open(hopper()).convert("RGB"))


def test_a_folder_with_unreadable_files_reads_the_rest_names_each_and_exits_3(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    good = open(hopper(), "rb").read()
    (d / "hopper.jpg").write_bytes(good)
    (d / "empty.jpg").write_bytes(b"")
    (d / "notes.png").write_text("not a picture")
    (d / "cut.jpg").write_bytes(good[: len(good) // 3])  # a truncated JPEG
    (d / "._hopper.jpg").write_bytes(b"\0\5\26\7" + b"\0" * 60)  # macOS's companion
    (d / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    write_clip(d / "clip.avi", moving_clip(60)[0][:6])
    (d / "broken.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + os.urandom(500))
    r = run_predict(d, tmp_path / "faces.csv", "--detect", "--every", "2")
    assert r.returncode == 3, r.stderr[-2000:]
    rows = pd.read_csv(tmp_path / "faces.csv")
    assert set(rows["file"]) == {"hopper.jpg", "clip.avi"} and len(rows[rows["file"] == "clip.avi"]) == 6
    for name in ("empty.jpg", "notes.png", "cut.jpg", "broken.mp4"):
        assert sum(line.startswith(f"{name}: skipped: ") for line in r.stderr.splitlines()) == 1, (name, r.stderr)
    assert "._hopper" not in r.stderr and "DS_Store" not in r.stderr and "Traceback" not in r.stderr
    assert "4 of 6 files skipped" in r.stdout
    # one file named alone stays the command's error, nothing written
    r = run_predict(d / "notes.png", tmp_path / "one.csv", "--detect")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and not (tmp_path / "one.csv").exists()


def boxes(faces):
    return [tuple(f.box) for f in faces]


def test_one_reader_of_pixels_whatever_the_way_in(tmp_path, reader):
    """16-bit, transparent, int64, float and RGBA pictures give the faces the same picture
    gives as 8-bit RGB, as a file, a PIL image or an array, and through the service."""
    from fastapi.testclient import TestClient

    from ferhw3.serve.app import create_app

    rgb = hopper_rgb()
    grey8 = np.asarray(Image.fromarray(rgb).convert("L"))
    want = boxes(reader.faces(grey8))
    assert len(want) == 1
    deep = grey8.astype(np.uint16) * 257  # a 16-bit grey PNG of the same picture
    Image.frombytes("I;16", deep.shape[::-1], deep.astype("<u2").tobytes()).save(tmp_path / "deep.png")
    assert boxes(reader.faces(str(tmp_path / "deep.png"))) == want
    assert boxes(reader.faces(deep)) == want
    assert boxes(reader.faces(grey8.astype(np.int64))) == want  # 0-255 in a wide integer: not 16-bit
    assert boxes(reader.faces(grey8 / 255.0)) == want
    # the face made transparent: nothing is shown there, so no face is found
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    x, y, w, h = want[0]
    rgba[y:y + h, x:x + w, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "hidden.png")
    assert reader.faces(rgba) == [] and reader.faces(str(tmp_path / "hidden.png")) == []
    assert reader.faces(Image.open(tmp_path / "hidden.png")) == []
    with TestClient(create_app()) as client:
        for name in ("deep.png", "hidden.png"):
            r = client.post("/faces", files={"image": (name, (tmp_path / name).read_bytes(), "image/png")})
            assert [tuple(f["box"]) for f in r.json()["faces"]] == (want if name == "deep.png" else [])


def test_a_large_picture_is_read_in_tiles_with_its_faces_found(monkeypatch, reader):
    """No network input larger than MOST_INPUT on a side (a 9000x7000 photo read whole
    peaked at 13.8 GB); the faces found as when read whole, one straddling the tiles too."""
    from ferhw3.detect import blazeface

    grey = np.asarray(Image.fromarray(hopper_rgb()).convert("L"))
    picture = np.full((900, 1400), 128, np.uint8)
    picture[150:750, 50:562] = grey
    picture[150:750, 700:1212] = grey
    whole = boxes(reader.faces(picture))
    sizes = []
    infer = reader.detector._infer
    monkeypatch.setattr(reader.detector, "_infer", lambda batch: sizes.append(batch.shape[1:3]) or infer(batch))
    monkeypatch.setattr(blazeface, "MOST_INPUT", 512)
    tiled = boxes(reader.faces(picture))
    assert len(whole) == 2 and max(max(s) for s in sizes) <= 512
    assert len(tiled) == 2 and all(max(abs(a - b) for a, b in zip(t, w)) <= 6 for t, w in zip(tiled, whole))


def test_annotated_copies_of_one_stem_keep_their_own_names(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(hopper_rgb()).save(d / "face.jpg")
    Image.fromarray(hopper_rgb()[:, ::-1]).save(d / "face.png")
    Image.fromarray(hopper_rgb()).save(d / "other.jpg")
    r = run_predict(d, tmp_path / "faces.csv", "--detect", "--annotate", tmp_path / "seen")
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / "seen")) == ["face.jpg.faces.jpg", "face.png.faces.jpg", "other.faces.jpg"]


def test_a_cut_short_video_says_so_and_keeps_its_frames(tmp_path):
    whole = write_clip(tmp_path / "whole.avi", moving_clip(60)[0])
    data = open(whole, "rb").read()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    r = run_predict(tmp_path / "cut.avi", tmp_path / "faces.csv", "--detect", "--every", "5")
    assert r.returncode == 0, r.stderr[-2000:]
    said = [line for line in r.stderr.splitlines() if "cut short" in line]
    assert len(said) == 1 and said[0].startswith("cut.avi: the video ended after ") and "of the 60 frames" in said[0]
    rows = pd.read_csv(tmp_path / "faces.csv")
    assert 2 <= rows["frame"].nunique() < 12
    r = run_predict(whole, tmp_path / "whole.csv", "--detect", "--every", "5")
    assert r.returncode == 0 and "cut short" not in r.stderr


def test_a_missing_path_is_file_not_found_and_bad_content_a_value_error(tmp_path, reader):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        reader.faces(str(tmp_path / "missing.jpg"))
    (tmp_path / "bad.jpg").write_text("not a picture")
    with pytest.raises(ValueError, match="bad.jpg: not a readable image"):
        reader.faces(str(tmp_path / "bad.jpg"))


def test_an_upload_over_the_limit_gets_its_413_in_an_ordinary_client(server):
    """urllib sends the whole body before it reads the answer: the server reads and drops
    it, then answers 413 (closing while the client still sent gave it a reset)."""
    body = os.urandom(25 * 2**20)
    boundary = "ferhw3boundary"
    data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(server + "/faces", data=data, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=120)
    assert answer.value.code == 413
    assert "over the limit of 20 MiB" in io.TextIOWrapper(answer.value).read()
