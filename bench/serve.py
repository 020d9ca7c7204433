#!/usr/bin/env python3
"""How fast does `ferhw3 serve` answer? Requests/s and latency percentiles on this machine.

    python bench/serve.py [--requests 200] [--test ../shared/data/fer2013/test.csv.gz]

Starts `ferhw3 serve` (the shipped models: the photos role for photos, the default role for
files of faces; one worker) on a free port of 127.0.0.1 and sends
POST /faces with a one-face and a four-face photo (Grace Hopper's portrait, and four of it
side by side) at concurrency 1, 4 and 16, then POST /predict with the 7,178 test faces. The
client runs on the same 2 cores as the server: its share is in the figures. Writes
bench/results_serve.md. Pause background trainings while it runs.
"""

import argparse
import io
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ferhw3.runfiles import write_text

HERE = os.path.dirname(os.path.abspath(__file__))


def photos() -> dict[str, bytes]:
    from matplotlib import cbook
    from PIL import Image

    one = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    four = Image.new("RGB", (one.width * 2, one.height * 2))
    for i in range(4):
        four.paste(one, ((i % 2) * one.width, (i // 2) * one.height))
    out = {}
    for name, im in (("one face (512x600)", one), ("four faces (1024x1200)", four)):
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=92)
        out[name] = buf.getvalue()
    return out


def start_server(cwd=None) -> tuple[subprocess.Popen, str]:
    """`ferhw3 serve` on a free port (of the project in `cwd`, default this one), once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ferhw3", "serve", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=cwd)
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"the server did not start: {proc.stdout.read().decode()[-2000:]}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=200, help="requests per row (default 200)")
    p.add_argument("--test", default=os.path.join(HERE, "..", "..", "shared", "data", "fer2013", "test.csv.gz"))
    p.add_argument("--results", default=os.path.join(HERE, "results_serve.md"))
    args = p.parse_args()
    import httpx

    proc, url = start_server()
    health = httpx.get(url + "/health").json()
    rows = []
    try:
        with httpx.Client(base_url=url, timeout=600, limits=httpx.Limits(max_connections=32)) as c:
            for name, data in photos().items():
                faces = len(c.post("/faces", files={"image": ("p.jpg", data, "image/jpeg")}).json()["faces"])
                for concurrency in (1, 4, 16):
                    def ask(_):
                        t = time.perf_counter()
                        r = c.post("/faces", files={"image": ("p.jpg", data, "image/jpeg")})
                        return time.perf_counter() - t, r.status_code

                    with ThreadPoolExecutor(concurrency) as pool:
                        list(pool.map(ask, range(2 * concurrency)))  # warm
                        start = time.perf_counter()
                        got = list(pool.map(ask, range(args.requests)))
                        wall = time.perf_counter() - start
                    lat = np.array([g[0] for g in got]) * 1000
                    errors = sum(g[1] != 200 for g in got)
                    rows.append(f"| POST /faces, {name}, {faces} found | {concurrency} | {args.requests} | "
                                f"{args.requests / wall:.1f} | {np.percentile(lat, 50):.0f} | "
                                f"{np.percentile(lat, 99):.0f} | {errors} |")
                    print(rows[-1], flush=True)
            if os.path.exists(args.test):
                body = open(args.test, "rb").read()
                for run in range(2):
                    t = time.perf_counter()
                    r = c.post("/predict", files={"file": ("test.csv.gz", body)})
                    dt = time.perf_counter() - t
                    n = len(r.text.splitlines()) - 1
                rows.append(f"| POST /predict, the {n:,} test faces (gzip upload, second run) | 1 | 1 | "
                            f"{n / dt:,.0f} faces/s | {dt * 1000:.0f} | - | {int(r.status_code != 200)} |")
                print(rows[-1], flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    from ferhw3.cpu import cpu_line

    text = "\n".join(["$ python bench/serve.py " + " ".join(sys.argv[1:]),
                      f"{cpu_line()}; server: `ferhw3 serve` (photos: "
                      f"{' + '.join(health['models'])}, TTA {health['tta']}; files of faces: "
                      f"{' + '.join(health['csv']['models'])}, TTA {health['csv']['tta']}; one worker, {health['engine']}); "
                      "client threads on the same cores", "",
                      "| request | concurrency | requests | requests/s | p50 ms | p99 ms | errors |",
                      "|---|---:|---:|---:|---:|---:|---:|", *rows, ""])
    print(text)
    write_text(args.results, text)


if __name__ == "__main__":
    main()
