"""The face detectors (ferhw3.detect): BlazeFace's anchors, pyramid, tiles and merging; every
detector on real faces pasted into a picture; the framing of a box."""

import os

import numpy as np
import pytest

from conftest import ROOT, hopper

cv2 = pytest.importorskip("cv2")
from ferhw3 import detect  # noqa: E402
from ferhw3.data.read import load_faces  # noqa: E402
from ferhw3.detect import blazeface  # noqa: E402
from ferhw3.errors import UsageError  # noqa: E402

SAMPLE = os.path.join(ROOT, "data", "sample_test.csv.gz")


def test_anchors_are_the_networks_grids_in_their_order():
    a = blazeface.anchors(128, 128, ((8, 2), (16, 6)))
    assert a.shape == (16 * 16 * 2 + 8 * 8 * 6, 2) == (896, 2)  # the short-range network's 896 outputs
    np.testing.assert_allclose(a[0], a[1])  # two anchors per cell of the first grid, then the next cell
    np.testing.assert_allclose(a[:2], [[4, 4], [4, 4]])
    np.testing.assert_allclose(a[2], [12, 4])
    np.testing.assert_allclose(a[512], [8, 8])  # the second grid starts after 512
    assert blazeface.anchors(192, 192, ((4, 1),)).shape == (2304, 2)
    assert blazeface.anchors(256, 384, ((8, 2), (16, 6))).shape == (5376, 2)


def test_pyramid_reaches_the_smallest_face_and_ends_with_the_whole_picture():
    scales = blazeface.pyramid(640, 480, 30, 128)
    assert scales[0] * 30 == pytest.approx(blazeface.SMALLEST * 128)  # a 30 px face is just large enough
    assert all(b == pytest.approx(a / 2) for a, b in zip(scales, scales[1:]))
    assert 640 * scales[-1] <= 128 < 640 * scales[-2]


def test_tiles_cover_the_picture_and_hold_every_small_face_whole():
    plan = blazeface.tiles(480, 360, 30, 192)
    assert plan[0] == (0.0, 0.0, 480.0)
    keep = {t: 2 * blazeface.SMALLEST * t for _, _, t in plan[1:]}
    rng = np.random.default_rng(0)
    for _ in range(200):  # any face small enough for a level lies whole inside one of its tiles
        t = rng.choice(sorted(keep))
        side = rng.uniform(0.5, 1.0) * keep[t]
        x, y = rng.uniform(0, 480 - side), rng.uniform(0, 360 - side)
        assert any(tx <= x and x + side <= tx + ts and ty <= y and y + side <= ty + ts
                   for tx, ty, ts in plan if ts == t)


def test_merge_averages_overlapping_boxes_by_score_and_keeps_apart_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    eyes = np.zeros((3, 4), np.float32)
    merged = blazeface.merge(boxes, scores, eyes)
    assert len(merged) == 2 and merged[0].score == pytest.approx(0.9)
    assert merged[0].box[0] == pytest.approx(0.25)  # (0 x 0.9 + 1 x 0.3) / 1.2
    assert merged[1].box == (50.0, 50.0, 10.0, 10.0)


def test_a_face_from_a_turned_view_takes_the_upright_boxes_that_overlap_it():
    turned = detect.Detection((10, 10, 100, 100), 0.9)
    upright = [detect.Detection((20, 10, 100, 100), 0.6), detect.Detection((300, 300, 50, 50), 0.9)]
    d = blazeface.with_upright_boxes(turned, upright)
    assert d.box == pytest.approx((14, 10, 100, 100)) and d.score == 0.9  # (20 x 0.6 + 10 x 0.9) / 1.5
    assert blazeface.with_upright_boxes(turned, upright[1:]).box == turned.box


def test_a_part_of_a_face_is_not_a_second_face():
    big = detect.Detection((0, 0, 100, 100), 0.8)
    eye = detect.Detection((20, 20, 30, 30), 0.9)  # inside it, better scored
    beside = detect.Detection((110, 0, 100, 100), 0.7)
    assert blazeface.drop_parts([big, eye, beside]) == [big, beside]


def test_a_batch_reads_as_its_pictures_one_by_one():
    """The networks fold the batch into their outputs grid by grid; undone correctly, a face
    scores the same alone and beside another."""
    finder = detect.create("blazeface")
    grey = cv2.imread(hopper(), cv2.IMREAD_GRAYSCALE)
    found = finder(grey)
    assert len(found) == 1
    alone = finder.second_look(grey, found)
    twice = finder.second_look(grey, [detect.Detection((0, 0, 60, 60), 0.5)] + found)
    assert alone[0] > 0.8 and twice[1] == pytest.approx(alone[0], abs=1e-4) and twice[0] < 0.5


def test_eyes_give_the_turn_of_the_face():
    """Turned 12 degrees one way and then the other (counter-clockwise on screen first), a
    face's angle falls by about 24 degrees: the picture-right eye rises, then sinks."""
    finder = detect.create("blazeface")
    changes = []
    for face in load_faces(SAMPLE).x[:8, :, :, 0]:
        big = cv2.resize(face, (200, 200), interpolation=cv2.INTER_CUBIC)
        angles = []
        for turn in (12, -12):
            picture = np.full((400, 400), 128, np.uint8)
            m = cv2.getRotationMatrix2D((100, 100), turn, 1.0)
            picture[100:300, 100:300] = cv2.warpAffine(big, m, (200, 200), borderMode=cv2.BORDER_REPLICATE)
            angles += [d.angle for d in finder(picture)]
        if len(angles) == 2:
            changes.append(angles[0] - angles[1])
    assert len(changes) >= 5
    assert np.mean(changes) == pytest.approx(-24, abs=6) and max(changes) < 0


def test_turned_views_see_tilted_heads_and_map_them_back():
    """A face turned 40 degrees each way: the detector that also reads the picture turned
    finds it where it is, with its eyes' angle, and scores it better than reading upright only."""
    finder, upright = detect.create("blazeface"), detect.create("blazeface", turns=())
    picture, back = blazeface.turned(np.zeros((90, 160), np.uint8), 25.0)
    assert picture.shape == (150, 184)  # the whole picture fits the turned canvas
    centre = blazeface.turned_back(detect.Detection((82, 65, 20, 20), eyes=((85, 70), (95, 70))), back)
    assert (centre.box[0] + 10, centre.box[1] + 10) == pytest.approx((80, 45), abs=0.5)  # canvas centre -> picture centre
    assert centre.box[2:] == (20, 20) and centre.angle == pytest.approx(25, abs=0.5)  # level there: turned back here
    gains = []
    for face in load_faces(SAMPLE).x[:8, :, :, 0]:
        big = cv2.resize(face, (200, 200), interpolation=cv2.INTER_CUBIC)
        for turn in (40, -40):
            picture = np.full((400, 400), 128, np.uint8)
            m = cv2.getRotationMatrix2D((100, 100), turn, 1.0)
            picture[100:300, 100:300] = cv2.warpAffine(big, m, (200, 200), borderMode=cv2.BORDER_REPLICATE)
            found, plain = finder(picture), upright(picture)
            if not found:
                continue
            best = max(found, key=lambda d: d.score)
            x, y, w, h = best.box
            assert abs(x + w / 2 - 200) < 25 and abs(y + h / 2 - 200) < 35, best.box
            assert best.angle == pytest.approx(-turn, abs=20)
            gains.append(best.score - max((d.score for d in plain), default=0.0))
    assert len(gains) >= 12 and min(gains) >= 0 and np.mean(gains) > 0.02, gains


@pytest.mark.parametrize("name", ["blazeface", "blazeface-full", "haar"])
def test_every_detector_finds_a_real_face_in_a_photo(name):
    finder = detect.create(name)
    grey = cv2.imread(hopper(), cv2.IMREAD_GRAYSCALE)
    found = finder(grey)
    assert len(found) == 1, found
    x, y, w, h = finder.framing.square(found[0].box)
    assert w == h and 150 < w < 300 and 150 < x + w / 2 < 350 and 150 < y + h / 2 < 320  # her face


def test_framing_scales_and_moves_the_box():
    f = detect.Framing(1.2, 0.1, -0.1)
    assert f.square((100, 100, 50, 50)) == (100 + 25 + 5 - 30, 100 + 25 - 5 - 30, 60, 60)
    assert detect.Framing().square((10, 20, 30, 30)) == (10, 20, 30, 30)


def test_unknown_detector_and_missing_mtcnn():
    with pytest.raises(KeyError):
        detect.create("nope")
    try:
        import mtcnn  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="pip install mtcnn"):
            detect.create("mtcnn")


def test_the_photo_bench_tells_faces_framed_otherwise_from_false_detections():
    import importlib.util

    spec = importlib.util.spec_from_file_location("photos_bench", os.path.join(ROOT, "bench", "photos.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    truth = [(0, (0, 0, 100, 100)), (0, (200, 0, 100, 100)), (1, (0, 0, 50, 50))]
    boxes = [[(0, 0, 100, 100),      # face 0, found
              (20, 20, 30, 30),      # a second box on face 0: false
              (220, 20, 40, 40),     # on face 1, which nothing matched: framed otherwise
              (400, 300, 20, 20)],   # the background: false
             [(10, 10, 20, 20), (5, 5, 20, 20)]]  # face 2 boxed too small, twice: one framed otherwise, one false
    found, otherwise, false = bench.match(truth, boxes)
    assert found == [0, None, None] and otherwise == [(1, 2), (2, 0)] and false == 3


def test_a_detector_of_several_streams_finds_what_one_finds_from_many_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    grey = cv2.imread(hopper(), cv2.IMREAD_GRAYSCALE)
    one = detect.create("blazeface")(grey)
    several = detect.create("blazeface", streams=2)
    with ThreadPoolExecutor(4) as pool:  # more calls than streams: each waits for a free request
        answers = list(pool.map(lambda _: several(grey), range(8)))
    assert len(one) == 1
    for found in answers:
        assert len(found) == len(one)
        assert np.allclose(found[0].box, one[0].box, atol=0.5) and abs(found[0].score - one[0].score) < 1e-3
