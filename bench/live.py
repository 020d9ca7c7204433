#!/usr/bin/env python3
"""Faces at frame rate: video, the webcam view, photos over HTTP, now and at an earlier
revision side by side in the same run: bench/results_live.md.

    python bench/live.py [--before REV] [--runs 3] [--seconds 10] [--data DIR] [--faces 300]

The clip is tests/conftest.py's moving_clip: 640x480 at 30 frames/s, 150 frames, two faces
moving over a textured picture (Grace Hopper's head, her face about 90 px wide, panning
right and back; a FER2013 face of 110 px panning left). For the project now and at REV
(a temporary git worktree, this Python):
- video: `predict.py clip.mp4 faces.csv --detect --every 1`, the whole process timed from
  outside (start-up, decoding and writing included), median of --runs; the face-frames found
  (of 300) and the tracks; then the same on the clip four times over (600 frames), where
  start-up weighs less;
- in-process: Recogniser on the decoded frames (Recogniser.stream now; .faces a frame
  before it had one), the models loaded and the first frame read before the clock starts:
  frames/s, p50 and p99 ms a frame;
- the webcam view: `ferhw3 serve`, the page in headless Chromium with a fake camera playing
  the clip, the webcam started, answers counted for --seconds after the first 5 (WebSocket
  messages now, POST /faces answers before): answers/s, p50 and p99 ms from a frame's capture
  to its answer (the page's own figure now; the request's time before);
- POST /faces with a one-face 512x512 photo (Grace Hopper's portrait, resized) at
  concurrency 4 and 8: requests/s, p50 and p99 ms.
Then, now only and with the real data: the faces a video reads against the same frames read
by the photo path, paired (McNemar) on a clip of validation faces (the project's split; the
photos role's split stand-in, which never saw them): --faces faces, two at a time, each
pair 8 frames moving at 3 px a frame, framed 110 px; each face scored by its label on its
pair's last frame (the track smoothed over the 8, and unsmoothed) and by the photo path's
label of that frame.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")
sys.path.insert(0, os.path.join(ROOT, "tests"))
from serve import start_server  # noqa: E402  (bench/serve.py, beside this script)
DATA = os.path.join(ROOT, "..", "shared", "data", "fer2013")
CHROMIUM = "/usr/bin/chromium"

IN_PROCESS = r"""
import json, sys, time, cv2, numpy as np
from ferhw3.infer.photos import Recogniser
video = cv2.VideoCapture(sys.argv[1]); frames = []
while True:
    ok, f = video.read()
    if not ok: break
    frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
r = Recogniser()
if hasattr(r, "stream"):
    seen = r.stream(frames)
    next(seen)
else:
    r.faces(frames[0]); seen = (r.faces(f) for f in frames[1:])
times, found, t = [], 0, time.perf_counter()
for faces in seen:
    now = time.perf_counter(); times.append(now - t); t = now; found += len(faces)
print(json.dumps({"fps": len(times) / sum(times), "p50": 1000 * float(np.median(times)),
                  "p99": 1000 * float(np.percentile(times, 99)), "found": found, "frames": len(times)}))
"""


def video_rate(tree, clip, frames, runs, work):
    """Whole-process predict.py on a video: (median seconds, face-frames found, tracks)."""
    import pandas as pd

    seconds = []
    for _ in range(runs):
        out = os.path.join(work, "faces.csv")
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "predict.py", clip, out, "--detect", "--every", "1"], cwd=tree,
                           capture_output=True, text=True)
        seconds.append(time.perf_counter() - t)
        if r.returncode:
            sys.exit(f"live: predict.py failed in {tree}: {r.stderr.strip().splitlines()[-1]}")
    rows = pd.read_csv(out)
    tracks = len(pd.read_csv(os.path.join(work, "faces.tracks.csv")))
    return statistics.median(seconds), int(rows["w"].notna().sum()), tracks


def webcam(url, y4m, seconds):
    """The page's webcam view: (answers/s, p50 ms, p99 ms, faces per answer)."""
    from conftest import fake_camera
    from playwright.sync_api import sync_playwright

    answers, lock = [], threading.Lock()  # (time, latency ms or None, faces)

    def websocket(ws):
        def received(payload):
            body = json.loads(payload)
            with lock:
                answers.append((time.perf_counter(), None, len(body.get("faces", []))))
        ws.on("framereceived", received)

    def response(r):
        if r.url.endswith("/faces") and r.request.method == "POST":
            timing = r.request.timing
            with lock:
                answers.append((time.perf_counter(), timing["responseEnd"] if timing["responseEnd"] > 0 else None, r))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=fake_camera(y4m))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.on("websocket", websocket)
            page.on("requestfinished", lambda req: response(req.response()) if req.response() else None)
            page.goto(url + "/")
            page.wait_for_function("document.getElementById('about').textContent.includes('ferhw3')")
            page.click("#camera")
            page.wait_for_timeout(5000)
            with lock:
                start = len(answers)
            t0 = time.perf_counter()
            page.wait_for_timeout(1000 * seconds)
            with lock:
                window = answers[start:]
            elapsed = time.perf_counter() - t0
            stats = page.evaluate("window.liveStats || null")
        finally:
            browser.close()
    if stats:  # the page's own: from the frame's capture to its boxes drawn
        latencies = stats["latencies"]
        faces = [n for _, _, n in window]
    else:
        latencies = [ms for _, ms, _ in window if ms is not None]
        faces = []
        for _, _, r in window:
            try:
                faces.append(len(r.json()["faces"]))
            except Exception:  # noqa: BLE001  a body no longer held
                pass
    return (len(window) / elapsed, float(np.median(latencies)) if latencies else float("nan"),
            float(np.percentile(latencies, 99)) if latencies else float("nan"),
            float(np.mean(faces)) if faces else float("nan"))


def posts(url, photo, concurrency, n):
    """POST /faces at `concurrency`: (requests/s, p50 ms, p99 ms, errors)."""
    import httpx

    with httpx.Client(base_url=url, timeout=120) as c:
        c.post("/faces", files={"image": ("p.jpg", photo, "image/jpeg")})

        def ask(_):
            t = time.perf_counter()
            r = c.post("/faces", files={"image": ("p.jpg", photo, "image/jpeg")})
            return time.perf_counter() - t, r.status_code == 200 and len(r.json()["faces"]) == 1

        t = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            done = list(pool.map(ask, range(n)))
        elapsed = time.perf_counter() - t
    ms = [1000 * s for s, _ in done]
    return n / elapsed, float(np.median(ms)), float(np.percentile(ms, 99)), sum(not ok for _, ok in done)


def portrait() -> bytes:
    import io

    from conftest import hopper
    from PIL import Image

    out = io.BytesIO()
    Image.open(hopper()).convert("RGB").resize((512, 512)).save(out, format="JPEG", quality=92)
    return out.getvalue()


def accuracy(data, n_faces, say):
    """Video path against photo path on the same frames of a clip of validation faces."""
    import cv2

    from ferhw3.infer import evaluate as ev, manifest
    from ferhw3.infer.photos import Recogniser

    stand_in = [os.path.join(manifest.MODELS_DIR, f) for f in manifest.load()["roles"]["photos"]["split_stand_in"]]
    x, y, _, _ = ev.validation_faces(os.path.join(data, "train.csv.gz"), manifest.role("analysis")[0])
    pick = np.random.default_rng(0).permutation(len(x))[:n_faces - n_faces % 2]
    rng = np.random.default_rng(1)
    reader = Recogniser(stand_in, tta="flip")

    w, h, side, steps, speed = 640, 480, 110, 8, 3
    small = rng.uniform(30, 220, (h // 16 + 1, w // 16 + 1)).astype(np.float32)
    background = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    right = {"smoothed": [], "unsmoothed": [], "photo": []}
    found = {k: 0 for k in right}
    for a, b in zip(pick[::2], pick[1::2]):
        starts = [(int(rng.integers(20, w // 2 - side - 40)), int(rng.integers(20, h - side - 20))),
                  (int(rng.integers(w // 2 + 20, w - side - 40)), int(rng.integers(20, h - side - 20)))]
        faces = [cv2.resize(x[k][:, :, 0], (side, side), interpolation=cv2.INTER_CUBIC) for k in (a, b)]
        frames = []
        for t in range(steps):
            pic = background.copy()
            for (sx, sy), f in zip(starts, faces):
                pic[sy:sy + side, sx + speed * t:sx + speed * t + side] = f
            frames.append(pic)
        truth = [(sx + speed * (steps - 1), sy, side) for sx, sy in starts]
        last = {"smoothed": list(reader.stream(frames))[-1], "unsmoothed": list(reader.stream(frames, smooth=0))[-1],
                "photo": reader.faces(frames[-1])}
        for kind, seen in last.items():
            for (tx, ty, ts), k in zip(truth, (a, b)):
                near = [f for f in seen if abs(f.box[0] + f.box[2] / 2 - tx - ts / 2) < ts / 2
                        and abs(f.box[1] + f.box[3] / 2 - ty - ts / 2) < ts / 2]
                found[kind] += bool(near)
                right[kind].append(bool(near) and near[0].label == y[k])
    right = {k: np.array(v) for k, v in right.items()}
    n = len(right["photo"])
    say(f"{n} validation faces (the project's split), read by {' + '.join(map(os.path.basename, stand_in))} (TTA "
        f"flip), two a clip of {steps} frames moving {speed} px a frame at {side} px; a face counts as read right "
        f"when the box over it on the clip's last frame has its label:")
    say("")
    say("| path | faces found | accuracy | against the photo path: only this right / only photo right, McNemar p |")
    say("|---|---:|---:|---|")
    for kind, name in (("photo", "photo path (Recogniser.faces of the last frame)"),
                       ("unsmoothed", "video, followed, unsmoothed (Recogniser.stream, smooth 0)"),
                       ("smoothed", "video, followed, smoothed along the track (the default, 0.5)")):
        a, b, p = ev.paired(right[kind], right["photo"])
        vs = "-" if kind == "photo" else f"{a} / {b}, p {p:.2f}"
        say(f"| {name} | {found[kind]} of {n} | {right[kind].mean():.4f} | {vs} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", default="629e677", metavar="REV", help="the revision to compare with (default 629e677)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0, help="the webcam view's measured seconds")
    p.add_argument("--requests", type=int, default=60, help="POST /faces requests at each concurrency")
    p.add_argument("--data", default=DATA)
    p.add_argument("--faces", type=int, default=300, help="validation faces for the paired reading")
    p.add_argument("--results", default=os.path.join(HERE, "results_live.md"))
    args = p.parse_args()
    from conftest import moving_clip, write_clip
    from ferhw3.cpu import cpu_line
    from ferhw3.runfiles import write_text

    lines = [f"$ python bench/live.py --before {args.before} --runs {args.runs}", "",
             f"{cpu_line()}; {time.strftime('%Y-%m-%d')}", ""]

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    work = tempfile.mkdtemp(prefix="ferhw3-live-")
    trees = {"now": ROOT}
    try:
        frames, _ = moving_clip(150)
        clip = write_clip(os.path.join(work, "clip.mp4"), frames)
        long_clip = write_clip(os.path.join(work, "clip600.mp4"), (frames + frames[::-1]) * 2)
        y4m = write_clip(os.path.join(work, "camera.y4m"), frames)
        photo = portrait()
        old = os.path.join(work, "before")
        subprocess.run(["git", "worktree", "add", "-q", "--detach", old, args.before], cwd=ROOT, check=True)
        rev = subprocess.run(["git", "rev-parse", "--short", args.before], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip()
        trees["before"] = old
        cols = {}
        for name, tree in (("before", old), ("now", ROOT)):
            c = cols[name] = {}
            fps = c["_fps"] = {}
            s, found, tracks = video_rate(tree, clip, 150, args.runs, work)
            fps["video"] = 150 / s
            c["video"] = f"{150 / s:.1f} frames/s ({s:.1f} s; {found} of 300 face-frames, {tracks} tracks)"
            s, found, tracks = video_rate(tree, long_clip, 600, 1, work)
            fps["video600"] = 600 / s
            c["video600"] = f"{600 / s:.1f} frames/s ({s:.1f} s; {found} of 1,200, {tracks} tracks)"
            r = subprocess.run([sys.executable, "-c", IN_PROCESS, clip], cwd=tree, capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"live: in-process run failed in {tree}: {r.stderr.strip().splitlines()[-1]}")
            m = json.loads(r.stdout.strip().splitlines()[-1])
            c["inproc"] = f"{m['fps']:.1f} frames/s (p50 {m['p50']:.0f} ms, p99 {m['p99']:.0f} ms; {m['found']} faces)"
            fps["inproc"] = m["fps"]
            proc, url = start_server(tree)
            try:
                rate, p50, p99, per = webcam(url, y4m, args.seconds) if os.path.exists(CHROMIUM) else (
                    float("nan"),) * 4
                per = f"; {per:.1f} faces an answer" if per == per else ""  # NaN: the answers' bodies not kept
                c["webcam"] = f"{rate:.1f} answers/s (p50 {p50:.0f} ms, p99 {p99:.0f} ms{per})"
                fps["webcam"] = rate
                for conc in (4, 8):
                    rps, p50, p99, errors = posts(url, photo, conc, args.requests)
                    c[f"post{conc}"] = f"{rps:.1f} requests/s (p50 {p50:.0f} ms, p99 {p99:.0f} ms; {errors} errors)"
                    fps[f"post{conc}"] = rps
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            print(name, c, flush=True)
        say(f"The clip: 640x480, 30 frames/s, 150 frames, two faces moving (tests/conftest.py moving_clip). "
            f"Before: the project at {rev}, this Python.")
        say("")
        say(f"| measure | before ({rev}) | now | now / before |")
        say("|---|---|---|---:|")
        for key, name in (("video", "`predict.py clip.mp4 --detect --every 1`, whole process, 150 frames"),
                          ("video600", "the same, 600 frames"),
                          ("inproc", "in-process, a frame at a time (models loaded)"),
                          ("webcam", "the page's webcam view (Chromium, fake camera)"),
                          ("post4", "POST /faces, one-face 512x512 photo, concurrency 4"),
                          ("post8", "the same, concurrency 8")):
            fast, slow = cols["now"]["_fps"][key], cols["before"]["_fps"][key]
            ratio = f"{fast / slow:.1f}x" if fast == fast and slow == slow and slow > 0 else ""  # not NaN
            say(f"| {name} | {cols['before'][key]} | {cols['now'][key]} | {ratio} |")
        say("")
        if os.path.exists(os.path.join(args.data, "train.csv.gz")) and args.faces:
            accuracy(args.data, args.faces, say)
        else:
            say(f"(no {args.data}/train.csv.gz: the paired reading on validation faces left out)")
    finally:
        if "before" in trees:
            subprocess.run(["git", "worktree", "remove", "--force", trees["before"]], cwd=ROOT)
        shutil.rmtree(work, ignore_errors=True)
    write_text(args.results, "\n".join(lines) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
