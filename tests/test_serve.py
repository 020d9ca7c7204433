"""The HTTP service (ferhw3 serve): every endpoint and every bad request through FastAPI's
TestClient, requests at once on a real server, and the page in a real browser."""

import gzip
import io
import os
import socket
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import ROOT, hopper

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from ferhw3.data.read import CLASS_NAMES  # noqa: E402
from ferhw3.serve.app import create_app  # noqa: E402

SAMPLE = os.path.join(ROOT, "data", "sample_test.csv.gz")
CHROMIUM = "/usr/bin/chromium"


def hopper_bytes() -> bytes:
    with open(hopper(), "rb") as f:
        return f.read()


def jpeg(array) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array).save(out, format="JPEG", quality=92)
    return out.getvalue()


def four_faces() -> bytes:
    """Grace Hopper's photo four times, side by side: a picture with four faces."""
    from PIL import Image

    one = np.asarray(Image.open(io.BytesIO(hopper_bytes())).convert("RGB"))
    return jpeg(np.concatenate([np.concatenate([one, one], axis=1)] * 2, axis=0))


def bomb_png(side=40000) -> bytes:
    """A tiny PNG whose header claims side x side pixels (Pillow refuses it before decoding)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(max_mb=2)) as c:
        yield c


def test_health_names_the_models_engine_and_version(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    # photos are read by the photos role's networks, files of faces by predict.py's default
    assert body["models"] == ["vgg-bn-deep-wide_300ep-erase_distilled_all-faces.h5", "resnet-affine.h5"]
    assert body["role"] == "photos" and body["csv"]["role"] == "default"
    assert body["csv"]["models"] == ["vgg-bn-deep-wide_300ep-erase_distilled_all-faces.h5"]
    assert body["engine"] == "openvino" and body["version"] and body["tta"] == "flip"
    # the network the two roles share is loaded once
    service = client.app.state.service
    assert service.csv_models[0] is service.recogniser.models[0]


def test_faces_finds_the_face_with_its_emotion_and_probabilities(client):
    from ferhw3.infer.photos import Recogniser

    r = client.post("/faces", files={"image": ("hopper.jpg", hopper_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (512, 600) and len(body["faces"]) == 1
    face = body["faces"][0]
    assert list(face["probs"]) == list(CLASS_NAMES) and abs(sum(face["probs"].values()) - 1) < 1e-3
    assert face["emotion"] == CLASS_NAMES[face["label"]] == max(face["probs"], key=face["probs"].get)
    from PIL import Image

    want = Recogniser().faces(np.asarray(Image.open(io.BytesIO(hopper_bytes())).convert("RGB")))
    assert face["box"] == list(want[0].box) and face["label"] == want[0].label


def test_faces_without_a_face_and_with_four(client):
    empty = jpeg(np.full((240, 320, 3), 128, np.uint8))
    r = client.post("/faces", files={"image": ("grey.jpg", empty, "image/jpeg")})
    assert r.status_code == 200 and r.json()["faces"] == []
    r = client.post("/faces", files={"image": ("four.jpg", four_faces(), "image/jpeg")})
    assert r.status_code == 200 and len(r.json()["faces"]) == 4


def test_faces_annotated_answers_a_jpeg_with_the_boxes_drawn(client):
    from PIL import Image

    r = client.post("/faces?annotate=1", files={"image": ("hopper.jpg", hopper_bytes(), "image/jpeg")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    drawn = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    plain = np.asarray(Image.open(io.BytesIO(hopper_bytes())).convert("RGB")).astype(int)
    assert drawn.shape == plain.shape and np.mean(np.abs(drawn - plain).sum(axis=2) > 100) > 0.002


def test_predict_answers_the_csv_predict_py_writes(client, tmp_path):
    import subprocess
    import sys

    want = tmp_path / "want.csv"
    subprocess.run([sys.executable, os.path.join(ROOT, "predict.py"), SAMPLE, str(want)], cwd=ROOT, check=True,
                   capture_output=True, timeout=600)
    body = gzip.decompress(open(SAMPLE, "rb").read())
    r = client.post("/predict", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text == want.read_text()
    r = client.post("/predict", files={"file": ("sample.csv.gz", open(SAMPLE, "rb").read())})
    assert r.status_code == 200 and r.text == want.read_text()
    r = client.post("/predict?probs=1", content=body, headers={"content-type": "text/csv"})
    lines = r.text.splitlines()
    assert lines[0] == "id,label," + ",".join(CLASS_NAMES) and len(lines) == 201
    assert [line.split(",")[:2] for line in lines[1:]] == [line.split(",") for line in want.read_text().splitlines()[1:]]
    r = client.post("/predict", files={"file": ("face.jpg", hopper_bytes(), "image/jpeg")})
    assert r.status_code == 200 and r.text.startswith("file,label,probabilities\nface.jpg,")


@pytest.mark.parametrize("case, status, words", [
    ("not an image", 400, "x.jpg: not a readable image"),
    ("truncated image", 400, "t.jpg: not a readable image"),
    ("decompression bomb", 400, "bomb.png: image too large"),
    ("empty file", 400, "the file in 'image' is empty"),
    ("misnamed field", 400, "missing the file field 'image' (fields sent: photo)"),
    ("not multipart", 400, "send a multipart/form-data request"),
    ("over the limit", 413, "over the limit of 2 MiB"),
    ("bad csv", 400, "upload.csv: line 2: row too short"),
    ("empty csv body", 400, "the request body is empty"),
    ("bad query", 400, "annotate"),
    ("no such path", 404, "Not Found"),
])
def test_bad_requests_are_4xx_with_one_line_json_and_the_service_goes_on(client, case, status, words):
    hopper = hopper_bytes()
    requests = {
        "not an image": ("/faces", {"files": {"image": ("x.jpg", b"hello", "image/jpeg")}}),
        "truncated image": ("/faces", {"files": {"image": ("t.jpg", hopper[:4000], "image/jpeg")}}),
        "decompression bomb": ("/faces", {"files": {"image": ("bomb.png", bomb_png(), "image/png")}}),
        "empty file": ("/faces", {"files": {"image": ("e.jpg", b"", "image/jpeg")}}),
        "misnamed field": ("/faces", {"files": {"photo": ("h.jpg", hopper, "image/jpeg")}}),
        "not multipart": ("/faces", {"content": hopper, "headers": {"content-type": "image/jpeg"}}),
        "over the limit": ("/faces", {"files": {"image": ("big.jpg", b"0" * (3 << 20), "image/jpeg")}}),
        "bad csv": ("/predict", {"content": b"id,feature\n1,1 2 3\n", "headers": {"content-type": "text/csv"}}),
        "empty csv body": ("/predict", {"content": b"", "headers": {"content-type": "text/csv"}}),
        "bad query": ("/faces?annotate=yes", {"files": {"image": ("h.jpg", hopper, "image/jpeg")}}),
        "no such path": ("/nothing", {}),
    }
    url, kw = requests[case]
    r = client.post(url, **kw)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert words in error and "\n" not in error and "Traceback" not in error
    assert client.post("/faces", files={"image": ("h.jpg", hopper, "image/jpeg")}).status_code == 200


def test_the_page_and_its_files_are_served_from_the_app(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for ref in ("/static/app.js", "/static/style.css"):
        assert ref in r.text and client.get(ref).status_code == 200
    assert "http" not in r.text.replace("http-equiv", "")  # nothing fetched from outside the machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """The app on uvicorn in a thread, on a free port of 127.0.0.1."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_concurrent_requests_are_answered_correctly_with_bounded_memory(server):
    """200 requests, 8 at a time, one and four faces mixed: every answer is right (the same
    boxes and labels as alone), none fails, and memory does not grow with the requests."""
    one, four = hopper_bytes(), four_faces()
    with httpx.Client(base_url=server, timeout=120) as c:
        alone = {n: c.post("/faces", files={"image": ("p.jpg", d, "image/jpeg")}).json()
                 for n, d in ((1, one), (4, four))}

        def ask(i):
            n, data = (4, four) if i % 3 == 0 else (1, one)
            r = c.post("/faces", files={"image": ("p.jpg", data, "image/jpeg")})
            return n, r.status_code, r.json()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(ask, range(40)))  # warm: every compiled shape, the allocator's pools
            before = rss_mib()
            answers = list(pool.map(ask, range(200)))
        grown = rss_mib() - before
    assert all(status == 200 for _, status, _ in answers)
    for n, _, body in answers:
        assert [(f["box"], f["label"]) for f in body["faces"]] == [(f["box"], f["label"]) for f in alone[n]["faces"]]
    assert grown < 150, f"memory grew {grown:.0f} MiB over 200 requests"


def chromium_or_skip():
    pytest.importorskip("playwright")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no browser at {CHROMIUM} (Debian's chromium; .ci/run installs it)")


def test_the_page_in_a_real_browser_draws_the_faces_of_an_uploaded_photo(server, tmp_path):
    """Headless Chromium opens the page, uploads a photo of four faces, and finds four face
    cards with seven bars each, the emotion named, and the boxes drawn on the canvas; the
    screenshot is kept (FERHW3_SCREENSHOT names where)."""
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    photo = tmp_path / "four.jpg"
    photo.write_bytes(four_faces())
    shot = os.environ.get("FERHW3_SCREENSHOT") or str(tmp_path / "page.png")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            page.wait_for_function("document.getElementById('about').textContent.includes('openvino')")
            page.set_input_files("#file", str(photo))
            page.wait_for_selector(".face", timeout=60000)
            cards = page.locator(".face")
            assert cards.count() == 4
            assert page.locator(".face").first.locator(".bar").count() == 7
            emotion = cards.first.get_attribute("data-emotion")
            assert emotion in CLASS_NAMES and emotion in cards.first.inner_text()
            assert "4 faces" in page.locator("#status").inner_text()
            # each box drawn in its emotion's colour: the middle of its bottom edge on the canvas
            for i in range(4):
                card = cards.nth(i)
                x, y, w, h = map(int, card.get_attribute("data-box").split(","))
                drawn, wanted = page.evaluate("""([x, y, emotion]) => {
                    const c = document.getElementById('picture'), p = c.getContext('2d').getImageData(x, y, 1, 1).data;
                    const css = getComputedStyle(document.documentElement).getPropertyValue('--' + emotion).trim();
                    const probe = document.createElement('canvas').getContext('2d');
                    probe.fillStyle = css; probe.fillRect(0, 0, 1, 1);
                    return [Array.from(p.slice(0, 3)), Array.from(probe.getImageData(0, 0, 1, 1).data.slice(0, 3))]; }""",
                                              [x + w // 2, y + h, card.get_attribute("data-emotion")])
                assert max(abs(a - b) for a, b in zip(drawn, wanted)) <= 2, (drawn, wanted)
                widths = card.locator(".fill").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
                assert max(widths) > 20  # the bars are drawn, the longest visibly long
            page.screenshot(path=shot, full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert os.path.getsize(shot) > 10000


def test_serve_refuses_bad_options_in_one_line(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "ferhw3", "serve", "--model", str(tmp_path / "none.h5")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == f"error: {tmp_path / 'none.h5'}: model file not found"
    r = subprocess.run([sys.executable, "-m", "ferhw3", "serve", "--port", "0"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "--port must be 1-65535" in r.stderr


def test_a_streamed_body_without_a_length_is_cut_at_the_limit(client):
    """A chunked body (no Content-Length) that passes --max-mb is a 413 too, on both posts."""
    def chunks():
        for _ in range(40):
            yield b"0" * (100 << 10)  # 4 MB in all, over the 2 MiB limit

    for url in ("/predict", "/faces"):
        headers = {"content-type": "text/csv"} if url == "/predict" else \
            {"content-type": "multipart/form-data; boundary=xyz"}
        r = client.post(url, content=chunks(), headers=headers)
        assert r.status_code == 413 and "over the limit of 2 MiB" in r.json()["error"], (url, r.text)
