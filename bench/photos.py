#!/usr/bin/env python3
"""Faces in photos: are they found, and read as well as the same faces given directly?

    python bench/photos.py [--data TRAIN] [--faces 400] [--fer-python PATH]

Validation faces (the project's split) are upscaled 2-4x, turned by up to 10 degrees and
pasted, two to a picture, at known places onto 480x360 pictures of textured background
(smoothed noise at several scales, bars and blobs). Then, for `predict.py --detect`'s
pipeline (ferhw3.photos: OpenCV's Haar cascade, the shipped analysis model):
- detection rate (a detection matches a pasted face when their boxes overlap with IoU >= 0.4,
  one to one), false detections (detections that match no face), and the detector's box side
  relative to the pasted face's;
- accuracy on the found faces for each framing margin, with and without eye alignment,
  against the same faces read directly (the 48x48 originals, the same model and TTA).
With --fer-python (a Python where the `fer` package is installed: it needs the full
tensorflow and opencv-contrib-python, so keep it in its own virtual environment), the `fer`
package's own pipeline (its Haar cascade and its model) on the same pictures, scored the
same way (bench/photos_fer.py). Both also read matplotlib's sample photo grace_hopper.jpg.
Writes bench/results_photos.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.manifest import ROOT

HERE = os.path.join(ROOT, "bench")
DATA = os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz")
SIZE = (480, 360)        # picture width, height
SCALES = (2.0, 4.0)      # the pasted face's side is 48 x this
MAX_TURN = 10.0          # degrees
IOU = 0.4


def texture(rng, w, h):
    """A grey picture with structure at several scales: smoothed noise, bars and blobs."""
    import cv2
    import numpy as np

    pic = np.zeros((h, w), np.float32)
    for cell, weight in ((4, 0.2), (16, 0.35), (64, 0.45)):
        small = rng.uniform(0, 1, (h // cell + 2, w // cell + 2)).astype(np.float32)
        pic += weight * cv2.resize(small, (w + 2 * cell, h + 2 * cell), interpolation=cv2.INTER_CUBIC)[cell:cell + h,
                                                                                                     cell:cell + w]
    pic = (pic - pic.min()) / max(float(np.ptp(pic)), 1e-6) * 200 + 28
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        shade = float(rng.uniform(20, 235))
        if rng.uniform() < 0.5:
            cv2.line(pic, (x0, y0), (int(rng.integers(0, w)), int(rng.integers(0, h))), shade, int(rng.integers(2, 9)))
        else:
            cv2.circle(pic, (x0, y0), int(rng.integers(5, 40)), shade, -1)
    return pic


def paste_pictures(faces, rng):
    """Pictures with two faces each, and each face's true box (x, y, w, h) and picture."""
    import cv2
    import numpy as np

    w, h = SIZE
    pictures, truth = [], []
    for start in range(0, len(faces), 2):
        pic = texture(rng, w, h)
        for slot, face in enumerate(faces[start:start + 2]):
            side = int(round(48 * rng.uniform(*SCALES)))
            turn = float(rng.uniform(-MAX_TURN, MAX_TURN))
            big = cv2.resize(face[:, :, 0], (side, side), interpolation=cv2.INTER_CUBIC)
            m = cv2.getRotationMatrix2D((side / 2, side / 2), turn, 1.0)
            big = cv2.warpAffine(big, m, (side, side), borderMode=cv2.BORDER_REPLICATE)
            half = w // 2  # one face in each half of the picture
            x = int(rng.integers(slot * half, slot * half + max(half - side, 1)))
            y = int(rng.integers(0, max(h - side, 1)))
            pic[y:y + side, x:x + side] = big
            truth.append((len(pictures), (x, y, side, side)))
        pictures.append(np.clip(pic, 0, 255).astype(np.uint8))
    return pictures, truth


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def match(truth, detections):
    """For each true face, the index into detections[picture] of its match, or None; and
    the number of detections that match no face (greedy by IoU, one to one)."""
    found, false = [None] * len(truth), 0
    for pic, boxes in enumerate(detections):
        faces = [i for i, (p, _) in enumerate(truth) if p == pic]
        pairs = sorted(((iou(truth[i][1], b), i, j) for i in faces for j, b in enumerate(boxes)), reverse=True)
        used = set()
        for score, i, j in pairs:
            if score >= IOU and found[i] is None and j not in used:
                found[i], _ = j, used.add(j)
        false += len(boxes) - len(used)
    return found, false


def score_rows(name, truth, detections, labels, predicted, direct, seconds):
    """One results row: found, false, accuracy on the found faces, and the direct reading's
    accuracy on the same faces."""
    import numpy as np

    found, false = match(truth, detections)
    hit = [i for i, j in enumerate(found) if j is not None]
    acc = np.mean([predicted(i, found[i]) == labels[i] for i in hit]) if hit else float("nan")
    acc_direct = np.mean(direct[hit] == labels[hit]) if hit else float("nan")
    return (f"| {name} | {len(hit)}/{len(truth)} ({100 * len(hit) / len(truth):.1f}%) | {false} | "
            f"{acc:.4f} | {acc_direct:.4f} | {len(detections) / seconds:.1f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DATA)
    p.add_argument("--faces", type=int, default=400, help="validation faces to paste (two per picture)")
    p.add_argument("--margins", default="0,0.025,0.05,0.1,0.2")
    p.add_argument("--fer-python", help="a Python with the `fer` package, for its row")
    p.add_argument("--results", default=os.path.join(HERE, "results_photos.md"))
    args = p.parse_args()
    cli.quiet_tensorflow()
    import numpy as np
    from matplotlib import cbook

    from ferhw3 import evaluate, manifest, photos
    from ferhw3.data import CLASS_NAMES

    model = manifest.role("analysis")[0]  # measured on validation faces: a model that never saw them
    x, y, _, _ = evaluate.validation_faces(args.data, model)
    pick = np.random.default_rng(0).permutation(len(x))[:args.faces]
    x, y = x[pick], y[pick]
    pictures, truth = paste_pictures(x, np.random.default_rng(1))
    reader = photos.Recogniser(role="analysis", tta="flip")
    direct = reader.read(x).argmax(1)
    out = [f"$ python bench/photos.py --faces {args.faces}{' --fer-python PYTHON' if args.fer_python else ''}",
           f"{os.cpu_count()} CPU cores; {time.strftime('%Y-%m-%d')}; {len(x)} validation faces (the project's split) "
           f"of {os.path.basename(model)} (the shipped analysis model, TTA {reader.tta}), pasted two to a {SIZE[0]}x{SIZE[1]} "
           f"picture at 2-4x their size, turned by up to {MAX_TURN:.0f} degrees; a face is found when a box overlaps "
           f"it with IoU >= {IOU}", "",
           f"Read directly (the 48x48 faces themselves): accuracy {np.mean(direct == y):.4f}", ""]

    t = time.perf_counter()
    detections = [reader.detector(pic) for pic in pictures]
    detect_s = time.perf_counter() - t
    found, false = match(truth, detections)
    ratios = [detections[truth[i][0]][j][2] / truth[i][1][2] for i, j in enumerate(found) if j is not None]
    out += [f"Detector box side / pasted face side: median {np.median(ratios):.3f} (quartiles "
            f"{np.percentile(ratios, 25):.3f}-{np.percentile(ratios, 75):.3f}); the margin that gives the whole "
            f"face back: {(1 / np.median(ratios) - 1) / 2:.3f} of the box on each side", "",
            "| pipeline | faces found | false detections | accuracy on the found faces | the same faces read "
            "directly | pictures/s |", "|---|---:|---:|---:|---:|---:|"]
    print("\n".join(out), flush=True)
    for margin in [float(m) for m in args.margins.split(",")]:
        for align in (False, True):
            if align and abs(margin - photos.MARGIN) > 1e-9:
                continue
            t = time.perf_counter()
            crops, where = [], {}
            for i, j in enumerate(found):
                if j is not None:
                    grey, box = pictures[truth[i][0]], detections[truth[i][0]][j]
                    angle = reader.detector.eye_angle(grey, box) if align else 0.0
                    where[i] = len(crops)
                    crops.append(photos.frame_face(grey, box, margin, angle))
            labels = reader.read(np.stack(crops)).argmax(1)
            seconds = detect_s + time.perf_counter() - t
            name = f"ferhw3, margin {margin:g}{', eyes aligned' if align else ''}" + \
                   (" (the default)" if abs(margin - photos.MARGIN) < 1e-9 and not align else "")
            out.append(score_rows(name, truth, detections, y, lambda i, j: labels[where[i]], direct, seconds))
            print(out[-1], flush=True)

    for neighbours in (3, 8):  # the cascade's threshold: more neighbours, fewer and surer boxes
        t = time.perf_counter()
        other = photos.Detector(min_neighbors=neighbours)
        boxes = [other(pic) for pic in pictures]
        hits, _ = match(truth, boxes)
        crops = {i: photos.frame_face(pictures[truth[i][0]], boxes[truth[i][0]][j], photos.MARGIN)
                 for i, j in enumerate(hits) if j is not None}
        read = dict(zip(crops, reader.read(np.stack(list(crops.values()))).argmax(1)))
        out.append(score_rows(f"ferhw3, margin {photos.MARGIN:g}, min_neighbors {neighbours} (default "
                              f"{reader.detector.min_neighbors})", truth, boxes, y, lambda i, j: read[i], direct,
                              time.perf_counter() - t))
        print(out[-1], flush=True)

    hopper = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    faces = reader.faces(hopper)
    hopper_rows = [f"| ferhw3 | {f.box} | {f.emotion} | "
                   + " ".join(f"{n} {q:.2f}" for n, q in zip(CLASS_NAMES, f.probs)) + " |" for f in faces]
    if args.fer_python:
        with tempfile.TemporaryDirectory() as tmp:
            from PIL import Image

            names = []
            for k, pic in enumerate(pictures):
                names.append(os.path.join(tmp, f"{k:04d}.png"))
                Image.fromarray(pic).save(names[-1])
            names.append(hopper)
            with open(os.path.join(tmp, "list.json"), "w") as f:
                json.dump(names, f)
            done = subprocess.run([args.fer_python, os.path.join(HERE, "photos_fer.py"), os.path.join(tmp, "list.json"),
                                   os.path.join(tmp, "fer.json")], capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"photos: the fer run failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
            with open(os.path.join(tmp, "fer.json")) as f:
                fer = json.load(f)
        per_pic, fer_hopper = fer["pictures"][:-1], fer["pictures"][-1]
        fer_boxes = [[tuple(d["box"]) for d in pic] for pic in per_pic]
        order = [n.lower() for n in CLASS_NAMES]

        def fer_label(i, j):
            emotions = per_pic[truth[i][0]][j]["emotions"]
            return int(np.argmax([emotions[n] for n in order]))

        out.append(score_rows(f"`fer` {fer['version']} (its Haar cascade and model)", truth, fer_boxes, y, fer_label,
                              direct, fer["seconds"]))
        print(out[-1], flush=True)
        hopper_rows += [f"| fer | {tuple(d['box'])} | {max(d['emotions'], key=d['emotions'].get)} | "
                        + " ".join(f"{n} {d['emotions'][n.lower()]:.2f}" for n in CLASS_NAMES) + " |"
                        for d in fer_hopper]
    out += ["", "matplotlib's grace_hopper.jpg (512x600):", "", "| pipeline | box (x, y, w, h) | expression | "
            "probabilities |", "|---|---|---|---|", *hopper_rows]
    text = "\n".join(out) + "\n"
    print("\n".join(out[-len(hopper_rows) - 4:]))
    with open(args.results + ".tmp", "w") as f:
        f.write(text)
    os.replace(args.results + ".tmp", args.results)
    print(f"photos: wrote {args.results}")


if __name__ == "__main__":
    main()
