"""Faces at frame rate: followed through a pan (ferhw3.detect.follow, Recogniser.stream), a
camera or stream given to predict.py and stopped with Ctrl-C, the WebSocket /live, the
page's webcam view in Chromium with a fake camera, and `ferhw3 serve` over https."""

import functools
import glob
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, fake_camera, moving_clip, write_clip

cv2 = pytest.importorskip("cv2")
from ferhw3.detect.blazeface import BlazeFace  # noqa: E402
from ferhw3.detect.follow import Follower  # noqa: E402
from ferhw3.infer.photos import Recogniser  # noqa: E402

PREDICT = os.path.join(ROOT, "predict.py")


@pytest.fixture(scope="module")
def reader():
    return Recogniser()


@pytest.fixture(scope="module")
def clip():
    return moving_clip(60)


def centre_error(box, square):
    """How far a box's centre is from a true square's, in sides of the square."""
    x, y, w, h = box
    tx, ty, side = square
    return np.hypot(x + w / 2 - tx - side / 2, y + h / 2 - ty - side / 2) / side


def test_two_faces_keep_their_tracks_through_a_pan_and_are_framed_as_the_photo_path_frames_them(reader, clip):
    frames, truth = clip
    seen = list(reader.stream(frames, smooth=0))
    assert all(len(faces) == 2 for faces in seen)  # every face of every frame found
    for faces, squares in zip(seen, truth):
        for face in faces:  # each face keeps its track: hers is 0, the FER2013 face's 1
            assert centre_error(face.box, squares[face.track]) < 0.2
    photo = reader.faces(frames[30])  # the photo path, on the same frame
    followed = sorted(seen[30], key=lambda f: f.box[0])
    for a, b in zip(sorted(photo, key=lambda f: f.box[0]), followed):
        assert centre_error(b.box, (a.box[0], a.box[1], a.box[2])) < 0.08 and 0.85 < b.box[2] / a.box[2] < 1.15


def test_a_face_coming_into_view_is_found_within_a_round_of_the_search_and_one_leaving_is_let_go(clip):
    frames, truth = clip
    empty = frames[0].copy()
    for x, y, side in truth[0]:  # the background where the faces were
        empty[max(0, y - side // 2):y + 2 * side, max(0, x - side // 2):x + 2 * side] = 128
    follower = Follower(BlazeFace())
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in [empty] * 5 + frames[5:45] + [empty] * 5]
    found = [follower(g) for g in grey]
    assert not any(found[:5])
    first = next(k for k, f in enumerate(found) if len(f) == 2)
    assert first <= 5 + 26  # a round of the search's parts for a 640x480 frame
    assert all(len(f) == 2 for f in found[first:45])
    assert found[-1] == []  # gone once their windows show no face for a few frames


def test_a_detector_that_cannot_be_followed_is_searched_frame_by_frame(reader, clip):
    from ferhw3.infer.video import Stream

    assert Stream(reader).mode == "followed"
    assert Stream(reader, thorough=True).mode == "thorough"
    haar = Recogniser(detector="haar")
    assert Stream(haar).mode == "thorough"


def run_predict(*args, **kw):
    return subprocess.run([sys.executable, PREDICT, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)


def test_predict_reads_every_frame_of_a_video_followed_and_annotates_it(tmp_path, clip):
    frames, truth = clip
    video = write_clip(tmp_path / "clip.mp4", frames[:30])
    r = run_predict(video, tmp_path / "faces.csv", "--detect", "--every", "1", "--annotate", tmp_path / "seen")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "30 frames read (followed), 2 tracks" in r.stderr
    rows = pd.read_csv(tmp_path / "faces.csv")
    assert len(rows) == 60 and sorted(set(rows["frame"])) == list(range(30))
    assert sorted(set(rows["track"])) == [0, 1]
    annotated = cv2.VideoCapture(str(tmp_path / "seen" / "clip.faces.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 30


@pytest.fixture
def stream_server(tmp_path):
    """A folder served over HTTP: a video file played as a stream URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_stream_url_is_read_to_its_end(tmp_path, clip, stream_server):
    frames, _ = clip
    write_clip(tmp_path / "clip.mkv", frames[:20])  # Matroska streams without seeking
    out = tmp_path / "out" / "faces.csv"
    out.parent.mkdir()
    r = run_predict(f"{stream_server}/clip.mkv", out, "--detect", "--every", "2", "--annotate", tmp_path / "seen")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = pd.read_csv(out)
    assert sorted(set(rows["frame"])) == list(range(0, 20, 2)) and (rows["file"] == f"{stream_server}/clip.mkv").all()
    assert os.path.exists(tmp_path / "seen" / "clip.faces.mp4")
    assert len(pd.read_csv(tmp_path / "out" / "faces.tracks.csv")) == 2


def test_ctrl_c_stops_a_live_source_with_the_csv_complete_up_to_the_last_frame(tmp_path, clip, stream_server):
    frames, _ = clip
    write_clip(tmp_path / "long.mkv", (frames + frames[::-1]) * 6)  # 720 frames: far longer than the test waits
    out = tmp_path / "out"
    out.mkdir()
    p = subprocess.Popen([sys.executable, PREDICT, f"{stream_server}/long.mkv", out / "faces.csv", "--detect",
                          "--every", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:  # the rows reach the (hidden) temporary file as frames come
            partial = glob.glob(str(out / ".faces.csv.*"))
            if partial and open(partial[0]).read().count("\n") > 20:
                break
            assert p.poll() is None, p.communicate()[1][-2000:]
            time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        p.kill()
    assert p.returncode == 0, err[-2000:]
    assert "stopping after this frame (SIGINT)" in err and "(stopped)" in err and "Traceback" not in err
    rows = pd.read_csv(out / "faces.csv")
    last = rows["frame"].max()
    assert 10 <= last < 700 and sorted(set(rows["frame"])) == list(range(last + 1))  # no frame missing or cut
    assert rows[list(rows.columns[-7:])].notna().all().all()
    assert sorted(os.listdir(out)) == ["faces.csv", "faces.tracks.csv"]  # no temporary file left


def test_a_camera_that_is_not_there_is_a_one_line_error(tmp_path):
    r = run_predict("9", tmp_path / "faces.csv", "--detect")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: 9: not a camera OpenCV can open"
    assert not os.path.exists(tmp_path / "faces.csv")


def jpeg(frame) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def test_the_live_websocket_follows_the_faces_of_each_frame_and_answers_bad_frames_in_one_line(clip):
    from fastapi.testclient import TestClient

    from ferhw3.serve.app import create_app

    frames, truth = clip
    with TestClient(create_app(max_mb=1)) as client, client.websocket_connect("/live") as ws:
        for k in range(0, 20):
            ws.send_bytes(jpeg(frames[k]))
            body = ws.receive_json()
            assert (body["width"], body["height"], body["frame"]) == (640, 480, k)
            assert sorted(f["track"] for f in body["faces"]) == [0, 1]
            for f in body["faces"]:
                assert centre_error(f["box"], truth[k][f["track"]]) < 0.2
                assert abs(sum(f["probs"].values()) - 1) < 1e-3 and f["emotion"] in f["probs"]
        ws.send_text("hello")
        assert ws.receive_json() == {"error": "send each frame as a binary message: a JPEG or PNG picture"}
        ws.send_bytes(b"not a picture")
        assert ws.receive_json()["error"].startswith("frame: not a readable image")
        ws.send_bytes(b"\xff" * (2**20 + 1))
        assert "over the limit of 1 MiB" in ws.receive_json()["error"]
        ws.send_bytes(jpeg(frames[20]))  # the stream goes on after bad frames
        assert sorted(f["track"] for f in ws.receive_json()["faces"]) == [0, 1]


def test_the_page_shows_the_webcam_live_with_the_boxes_drawn(tmp_path, clip):
    """Headless Chromium with a fake camera playing the clip: the live view answers frame
    after frame over the WebSocket, each answer drawn on its frame with the boxes in their
    emotions' colours."""
    from test_serve import CHROMIUM, chromium_or_skip

    chromium_or_skip()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from ferhw3.serve.app import create_app

    frames, _ = clip
    y4m = write_clip(tmp_path / "camera.y4m", frames)
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=fake_camera(y4m))
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"http://127.0.0.1:{srv.config.port}/")
                page.click("#camera")
                page.wait_for_function("window.liveStats.answers >= 10 && window.liveStats.boxes >= 5", timeout=120000)
                stats = page.evaluate("window.liveStats")
                assert stats["errors"] == 0 and stats["sent"] >= stats["answers"] >= 10
                assert "live" in page.locator("#status").inner_text()
                page.wait_for_selector(".face", timeout=60000)  # the panel names a face's emotion
                drawn = page.evaluate("""() => {  // the pixels of the canvas in a box's emotion colour
                    const c = document.getElementById('picture'), px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    const probe = document.createElement('canvas').getContext('2d');
                    let n = 0;
                    for (const name of ['Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral']) {
                      probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--' + name).trim();
                      probe.fillRect(0, 0, 1, 1);
                      const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
                      for (let i = 0; i < px.length; i += 4)
                        if (Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) <= 6) n++;
                    }
                    return n; }""")
                assert drawn > 200  # box outlines and label backgrounds, not a stray pixel or two
                page.click("#camera2")  # the button under the picture stops it
                assert page.locator("#camera2").inner_text() == "Webcam"
                sent = page.evaluate("window.liveStats.sent")
                page.wait_for_timeout(1000)
                assert page.evaluate("window.liveStats.sent") <= sent + 1  # nothing sent once stopped
                assert not errors, errors
            finally:
                browser.close()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_over_https_and_a_busy_port_said_once_in_one_line(tmp_path):
    import ssl
    import urllib.request

    if not os.path.exists("/usr/bin/openssl"):
        pytest.skip("no openssl to make a certificate")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", tmp_path / "key.pem", "-out", tmp_path / "cert.pem"], check=True, capture_output=True)
    port = free_port()
    serve = [sys.executable, "-m", "ferhw3", "serve", "--port", str(port)]
    p = subprocess.Popen(serve + ["--ssl-certfile", tmp_path / "cert.pem", "--ssl-keyfile", tmp_path / "key.pem"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == f"serving on https://127.0.0.1:{port}/ (Ctrl-C stops)"
        context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        context.check_hostname = False
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=context, timeout=60) as r:
            assert r.status == 200 and b"openvino" in r.read()
        second = subprocess.run(serve, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2 and "serving on" not in second.stdout
        assert second.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    finally:
        p.terminate()
        p.wait(timeout=30)
    bad = subprocess.run(serve + ["--ssl-certfile", tmp_path / "cert.pem"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--ssl-certfile and --ssl-keyfile go together" in bad.stderr
