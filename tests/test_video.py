"""Faces through a video: tracks that follow faces, smoothing along a track, the per-track
summary, the annotated copy (ferhw3.infer.video, predict.py --detect on a video)."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

cv2 = pytest.importorskip("cv2")
from ferhw3.data.read import CLASS_NAMES, load_faces  # noqa: E402
from ferhw3.infer.photos import Face  # noqa: E402
from ferhw3.infer.video import Tracker  # noqa: E402

SAMPLE = os.path.join(ROOT, "data", "sample_test.csv.gz")


def face(x, y, side=100, label=0, p=0.9):
    probs = np.full(len(CLASS_NAMES), (1 - p) / (len(CLASS_NAMES) - 1), np.float32)
    probs[label] = p
    return Face((x, y, side, side), probs, np.zeros((48, 48, 1), np.uint8))


def test_a_moving_face_keeps_its_track_and_two_faces_keep_theirs():
    tracker = Tracker(smooth=0.0)
    for t in range(12):  # one face moving right, one moving left below it; they never overlap
        out = tracker.update(t, [face(10 + 15 * t, 20), face(400 - 15 * t, 200, label=3)])
        assert [f.track for f in out] == [0, 1]
    # listed the other way round, the faces still get their own tracks
    out = tracker.update(12, [face(400 - 15 * 12, 200, label=3), face(10 + 15 * 12, 20)])
    assert [f.track for f in out] == [1, 0]
    rows = tracker.summary()
    assert [(r["track"], r["first_frame"], r["last_frame"], r["frames_seen"], r["emotion"]) for r in rows] == \
        [(0, 0, 12, 13, "Angry"), (1, 0, 12, 13, "Happy")]


def test_a_face_far_from_every_track_starts_a_new_one_and_gaps_are_bridged():
    tracker = Tracker(smooth=0.0, max_gap=2)
    assert tracker.update(0, [face(0, 0)])[0].track == 0
    assert tracker.update(1, [face(300, 300)])[0].track == 1  # no overlap with track 0: a new face
    assert tracker.update(2, []) == []
    assert tracker.update(3, [face(5, 0)])[0].track == 0      # track 0 was unseen for 2 reads: it continues
    for t in range(4, 8):
        tracker.update(t, [])
    assert tracker.update(8, [face(5, 0)])[0].track == 2      # unseen for 4 reads: it ended


def test_smoothing_is_a_moving_average_along_the_track_and_zero_is_none():
    flicker = [face(0, 0, label=k % 2, p=1.0) for k in range(6)]  # Angry, Disgust, Angry, ...
    raw = Tracker(smooth=0.0)
    assert [raw.update(t, [f])[0].label for t, f in enumerate(flicker)] == [0, 1, 0, 1, 0, 1]
    smooth = Tracker(smooth=0.5)
    out = [smooth.update(t, [f])[0].probs for t, f in enumerate(flicker)]
    expected = flicker[0].probs.copy()
    for f, got in zip(flicker[1:], out[1:]):
        expected = 0.5 * expected + 0.5 * f.probs
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert all(abs(p.sum() - 1) < 1e-5 for p in out)
    # the summary's mean probabilities are the unsmoothed reads'
    np.testing.assert_allclose(smooth.summary()[0]["probs"], np.mean([f.probs for f in flicker], axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="smooth"):
        Tracker(smooth=1.0)


def moving_faces_video(path, frames=24, fps=12):
    """Two real faces gliding across a textured background in opposite directions."""
    faces = load_faces(SAMPLE).x
    rng = np.random.default_rng(0)
    small = rng.uniform(40, 220, (360 // 16 + 1, 480 // 16 + 1)).astype(np.float32)
    background = cv2.resize(small, (480, 360), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    a, b = (cv2.resize(faces[k][:, :, 0], (120, 120), interpolation=cv2.INTER_CUBIC) for k in (0, 3))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (480, 360))
    assert writer.isOpened()
    for t in range(frames):
        picture = background.copy()
        picture[40:160, 20 + 5 * t:140 + 5 * t] = a
        picture[200:320, 340 - 5 * t:460 - 5 * t] = b
        writer.write(cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_predict_tracks_smooths_and_sums_up_a_video(tmp_path):
    clip = tmp_path / "clip.mp4"
    moving_faces_video(clip)
    out = tmp_path / "faces.csv"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), clip, out, "--detect", "--every", "3",
                        "--annotate", tmp_path / "seen"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = pd.read_csv(out)
    assert sorted(set(rows["frame"])) == list(range(0, 24, 3))
    for track, start_x in ((0, 20), (1, 340)):  # each track follows its face across the frames
        mine = rows[rows["track"] == track]
        assert len(mine) == 8
        centre = (mine["x"] + mine["w"] / 2).to_numpy()
        expected = start_x + 60 + 5 * mine["frame"].to_numpy()
        expected = expected if track == 0 else 2 * (start_x + 60) - expected
        assert np.abs(centre - expected).max() < 20, (centre, expected)
    tracks = pd.read_csv(tmp_path / "faces.tracks.csv")
    assert tracks["track"].tolist() == [0, 1]
    assert tracks["first_frame"].tolist() == [0, 0] and tracks["last_frame"].tolist() == [21, 21]
    assert tracks["frames_seen"].tolist() == [8, 8]
    np.testing.assert_allclose(tracks[list(CLASS_NAMES)].sum(1), 1, atol=2e-3)
    video = cv2.VideoCapture(str(tmp_path / "seen" / "clip.faces.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    assert [p.name for p in (tmp_path / "seen").iterdir()] == ["clip.faces.mp4"]  # no temporary file left


def test_smooth_out_of_range_is_a_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), tmp_path, tmp_path / "o.csv", "--detect",
                        "--smooth", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "--smooth must be at least 0 and below 1" in r.stderr and "Traceback" not in r.stderr


def test_the_annotated_video_is_written_to_a_hidden_temporary_until_complete(tmp_path):
    from ferhw3.infer.video import AnnotatedVideo

    frame = np.zeros((64, 96, 3), np.uint8)
    with AnnotatedVideo(str(tmp_path / "clip.faces.mp4"), 10) as out:
        out.write(frame, [])
        assert os.path.basename(out.tmp).startswith(".clip.faces.tmp-")  # a killed run leaves no video-looking file
        assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(out.tmp)]
    assert [p.name for p in tmp_path.iterdir()] == ["clip.faces.mp4"]
