"""Faces in photos and videos: found at their places, framed, read; the CSV, the annotated
copies, the Python API and bad inputs (predict.py --detect, ferhw3.infer.photos)."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, hopper

cv2 = pytest.importorskip("cv2")
from ferhw3 import detect  # noqa: E402
from ferhw3.infer import photos
from ferhw3.data.read import CLASS_NAMES, load_faces  # noqa: E402
from ferhw3.infer.outputs import FACE_COLUMNS  # noqa: E402

SAMPLE = os.path.join(ROOT, "data", "sample_test.csv.gz")  # the demo's 200 test faces


def predict(*args, timeout=600):
    return subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def plain(w=480, h=360):
    """A picture without faces: a soft gradient and a few shapes."""
    pic = np.tile(np.linspace(60, 200, w, dtype=np.float32), (h, 1))
    cv2.rectangle(pic, (50, 50), (150, 120), 30, -1)
    cv2.circle(pic, (300, 200), 60, 240, -1)
    return pic.astype(np.uint8)


def textured(w=480, h=360, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.uniform(40, 220, (h // 16 + 1, w // 16 + 1)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module", params=["blazeface", "haar"])
def detector(request):
    return detect.create(request.param)


@pytest.fixture(scope="module")
def pasted():
    """A 480x360 textured picture with two real faces pasted at 3x their size at known
    places, and those boxes and faces. The faces are the demo sample's first two that both
    detectors find when each is shown alone."""
    faces = load_faces(SAMPLE).x
    finders = [detect.create(name) for name in ("blazeface", "haar")]
    alone = [f for f in faces[:40] if all(find(cv2.resize(np.pad(f[:, :, 0], 16, mode="edge"), (240, 240)))
                                          for find in finders)]
    assert len(alone) >= 2
    pic, boxes = textured(), [(30, 60, 144, 144), (290, 170, 144, 144)]
    for f, (x, y, w, h) in zip(alone[:2], boxes):
        pic[y:y + h, x:x + w] = cv2.resize(f[:, :, 0], (w, h), interpolation=cv2.INTER_CUBIC)
    return pic, boxes, alone[:2]


def iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def test_detector_finds_pasted_faces_at_their_places_and_none_where_there_are_none(detector, pasted):
    pic, boxes, _ = pasted
    found = detect.reading_order(detector(pic))
    assert len(found) == 2, found
    for truth, d in zip(boxes, found):  # in reading order, as the boxes are
        assert iou(truth, detector.framing.square(d.box)) > 0.4, (truth, d)
        assert 0 < d.score <= 1
    assert detector(plain()) == []
    assert detector(np.full((200, 300), 128, np.uint8)) == []
    assert detector(textured(seed=5)) == []


def test_framed_face_is_the_pasted_face(detector, pasted):
    """With the true box and no margin, the 48x48 crop is the original face (resampled);
    the detector's box with the default margin frames the face so the model reads it as it
    reads the original."""
    pic, boxes, faces = pasted
    for face, box in zip(faces, boxes):
        crop = photos.frame_face(pic, box, margin=0.0)
        assert crop.shape == (48, 48, 1) and crop.dtype == np.uint8
        assert np.abs(crop.astype(int) - face.astype(int)).mean() < 6
    shifted = photos.frame_face(pic, (boxes[0][0] + 20, boxes[0][1], 144, 144), margin=0.0)
    assert np.abs(shifted.astype(int) - faces[0].astype(int)).mean() > 10  # the test can fail


def test_frame_face_turns_and_pads_at_the_picture_edge():
    pic = np.zeros((100, 100), np.uint8)
    pic[:, 50:] = 200  # left half dark, right half bright
    level = photos.frame_face(pic, (25, 25, 50, 50), margin=0.0)
    assert level[24, 2, 0] == 0 and level[24, 45, 0] == 200
    turned = photos.frame_face(pic, (25, 25, 50, 50), margin=0.0, angle=90)  # the edge is now horizontal
    assert abs(int(turned[2, 24, 0]) - int(turned[45, 24, 0])) == 200
    corner = photos.frame_face(pic, (-20, -20, 40, 40), margin=0.5)  # mostly outside: edge pixels repeated
    assert corner.shape == (48, 48, 1)


def test_recogniser_reads_paths_pil_and_arrays_alike(pasted):
    from PIL import Image

    reader = photos.Recogniser()
    pic = pasted[0]
    rgb = np.repeat(pic[:, :, None], 3, axis=2)
    results = [reader.faces(pic), reader.faces(rgb), reader.faces(Image.fromarray(rgb))]
    for faces in results:
        assert [f.box for f in faces] == [f.box for f in results[0]] and len(faces) == 2
        for f, g in zip(faces, results[0]):
            np.testing.assert_allclose(f.probs, g.probs, atol=1e-5)
            assert abs(f.probs.sum() - 1) < 1e-3 and f.emotion == CLASS_NAMES[f.label]
    # the model reads the framed faces as it reads the originals, for these two faces
    direct = reader.read(np.stack(pasted[2])).argmax(1)
    assert [f.label for f in results[0]] == direct.tolist()
    with pytest.raises(ValueError, match="HxW"):
        reader.faces(np.zeros((5, 5, 2), np.uint8))


def test_predict_detect_writes_one_row_per_face_and_annotated_copies(tmp_path, pasted):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(pasted[0]).save(folder / "two, faces.png")  # a comma: the name must be quoted
    Image.fromarray(plain()).save(folder / "empty.png")
    (folder / "notes.txt").write_text("not a photo")
    out, ann = tmp_path / "faces.csv", tmp_path / "seen"
    r = predict(folder, out, "--detect", "--annotate", ann)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "empty.png: no face found" in r.stderr
    assert "2 faces in 2 pictures (1 without a face)" in r.stdout
    assert "2 model(s)" in r.stdout  # the photos role: the default network and the ResNet
    rows = pd.read_csv(out, keep_default_na=False)
    assert list(rows.columns) == list(FACE_COLUMNS)
    assert rows["file"].tolist() == ["empty.png", "two, faces.png", "two, faces.png"]
    empty, faces = rows.iloc[0], rows.iloc[1:]
    assert empty["face"] == "" and empty["x"] == "" and empty["emotion"] == ""
    assert faces["face"].astype(int).tolist() == [0, 1]
    probs = faces[list(CLASS_NAMES)].astype(float).to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1, atol=2e-3)
    assert (probs.argmax(1) == faces["label"].astype(int)).all()
    for (_, row), truth in zip(faces.iterrows(), pasted[1]):
        assert iou(tuple(int(row[k]) for k in "xywh"), truth) > 0.4
    # annotated copies: same size, and the boxes drawn where the faces are
    drawn = np.asarray(Image.open(ann / "two, faces.faces.jpg").convert("RGB")).astype(int)
    assert drawn.shape[:2] == pasted[0].shape
    x, y = int(faces.iloc[0]["x"]), int(faces.iloc[0]["y"]) + 20
    assert drawn[y, x, 0] - drawn[y, x, 2] > 100  # the yellow frame on a grey picture
    assert (ann / "empty.faces.jpg").exists()


def test_photo_orientation_from_exif_is_applied(tmp_path):
    """A photo stored on its side with an EXIF orientation tag is read upright: the face is
    found at the upright photo's place."""
    from PIL import Image

    upright = Image.open(hopper())
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # stored turned; orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(tmp_path / "side.jpg", exif=exif.tobytes(), quality=95)
    reader = photos.Recogniser()
    a, b = reader.faces(hopper()), reader.faces(str(tmp_path / "side.jpg"))
    assert len(a) == 1 and len(b) == 1
    assert iou(a[0].box, b[0].box) > 0.8
    assert 100 < a[0].box[0] + a[0].box[2] / 2 < 400  # Grace Hopper's face, in the upper middle
    assert a[0].box[1] + a[0].box[3] / 2 < 300


def test_video_every_nth_frame(tmp_path):
    frame = cv2.resize(cv2.imread(hopper()), (256, 300))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 300))
    assert writer.isOpened()
    for i in range(7):
        writer.write(frame if i != 4 else np.full_like(frame, 90))  # frame 4: nobody there
    writer.release()
    out = tmp_path / "clip.csv"
    r = predict(path, out, "--detect", "--every", "2", "--annotate", tmp_path / "a")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = pd.read_csv(out, keep_default_na=False)
    assert rows["frame"].tolist() == [0, 2, 4, 6]
    assert rows["face"].astype(str).tolist() == ["0", "0", "", "0"]
    assert rows["track"].astype(str).tolist() == ["0", "0", "", "0"]  # one face, one track across the gap
    assert "clip.avi frame 4: no face found" in r.stderr
    assert os.listdir(tmp_path / "a") == ["clip.faces.mp4"]  # every frame, annotated
    assert int(cv2.VideoCapture(str(tmp_path / "a" / "clip.faces.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    tracks = pd.read_csv(tmp_path / "clip.tracks.csv")
    assert tracks[["track", "first_frame", "last_frame", "frames_seen"]].values.tolist() == [[0, 0, 6, 3]]


@pytest.mark.parametrize("case", ["unreadable photo", "broken video", "empty folder", "annotate is a file",
                                  "annotate without detect", "missing"])
def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path, case):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8\xff not really a jpeg")
    args = {"unreadable photo": [photo], "broken video": [tmp_path / "v.mp4"], "empty folder": [tmp_path / "none"],
            "annotate is a file": [hopper(), "--annotate", photo], "annotate without detect": [hopper()],
            "missing": [tmp_path / "nothing.jpg"]}[case]
    (tmp_path / "v.mp4").write_bytes(b"not a video")
    (tmp_path / "none").mkdir()
    out = tmp_path / "out.csv"
    extra = ["--annotate", tmp_path / "a"] if case == "annotate without detect" else ["--detect"]
    r = predict(args[0], out, *extra, *args[1:])
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith(("usage:", " "))]  # argparse's usage
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    expected = {"unreadable photo": "p.jpg: not a readable image", "broken video": "v.mp4: not a video",
                "empty folder": "none: no photos", "annotate is a file": "--annotate names a file",
                "annotate without detect": "go with --detect", "missing": "nothing.jpg: no such file"}[case]
    assert expected in lines[0]
    assert not out.exists()


def test_grey_array_keeps_the_range_of_the_type_given():
    dark = np.zeros((4, 4, 3), np.uint8)
    dark[0, 0] = 1  # a nearly black 8-bit frame stays nearly black
    assert photos.grey_array(dark).max() == 1
    assert photos.grey_array(np.full((4, 4), 65535, np.uint16)).max() == 255
    assert photos.grey_array(np.full((4, 4), 0.5, np.float32)).max() == 128
    assert photos.grey_array(np.full((4, 4), 200.0)).max() == 200


def test_outputs_that_are_inputs_are_refused_before_any_work(tmp_path):
    import shutil

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(hopper(), folder / "gh.jpg")
    shutil.copy(hopper(), folder / "gh.faces.jpg")  # an annotated copy from an earlier run, now an input
    before = (folder / "gh.jpg").read_bytes()
    r = predict(folder, folder / "gh.jpg", "--detect")  # the CSV onto a photo
    assert r.returncode != 0 and "is also an input" in r.stderr and (folder / "gh.jpg").read_bytes() == before
    out = tmp_path / "o.csv"
    r = predict(folder, out, "--detect", "--annotate", folder)
    assert r.returncode != 0 and "gh.faces.jpg: is also an input" in r.stderr
    assert not out.exists() and sorted(os.listdir(folder)) == ["gh.faces.jpg", "gh.jpg"]


def test_min_face_and_detector_choice_reach_the_detector(tmp_path):
    """--min-face larger than the face: nothing found; --detector haar: the same face found."""
    out = tmp_path / "o.csv"
    r = predict(hopper(), out, "--detect", "--min-face", "400")
    assert r.returncode == 0 and "no face found" in r.stderr, r.stderr[-2000:]
    r = predict(hopper(), out, "--detect", "--detector", "haar")
    assert r.returncode == 0 and "1 faces in 1 pictures" in r.stdout and "haar detector" in r.stdout, r.stderr[-2000:]
    r = predict(hopper(), out, "--detect", "--min-face", "3")
    assert r.returncode != 0 and "--min-face must be 8 pixels or more" in r.stderr
