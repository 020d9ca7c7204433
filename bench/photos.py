#!/usr/bin/env python3
"""Faces in photos: are they found, and read as well as the same faces given directly?

    python bench/photos.py [--data TRAIN] [--faces 400] [--detectors haar,blazeface,...]
    python bench/photos.py --fit      # each detector's framing, fitted on training faces

Validation faces (the project's split) are pasted at known places onto pictures of textured
background (smoothed noise at several scales, bars and blobs), in two sets:
- standard: two faces to a 480x360 picture, upscaled 2-4x, turned by up to 10 degrees;
- hard: one to four faces to a 640x480 picture, 30 to 400 pixels, turned by up to 15
  degrees, a third of them partly hidden (a band over the eyes, the mouth or a side, or a
  blob), the whole picture dimmed and unevenly lit.
For each detector (ferhw3.detect) on each set: found (a face is found when the detector's
framed square overlaps the pasted square with IoU >= 0.4, one to one), faces framed
otherwise (not found, but a box that matches no face has its centre on the face: a FER2013
photo's own face in another framing, as in a zoomed-out photo), false detections (the other
boxes that match no face) per 100 pictures, the accuracy of the photo models (the `photos`
role's split stand-in: the analysis model in the default network's place, beside the ResNet)
on the found faces as the pipeline frames them (and with the eyes levelled), the pasted
squares themselves cut out and read (what pasting alone costs: resizing and turning), and the
same faces read directly (the 48x48 originals, same models and TTA), each paired against the
analysis model alone, and milliseconds of detection per picture. With --fer-python (a Python
with the `fer` package, kept in its own environment), the `fer` package's pipeline on the
standard set (bench/photos_fer.py). Every detector also
reads matplotlib's sample photo grace_hopper.jpg. Writes bench/results_photos.md and
bench/results_photos_otherwise.jpg (the default's faces framed otherwise on the standard set).

--fit pastes other validation faces (the 401st to the 1000th of the same shuffle, which
the scoring skips: --faces takes the first 400, then goes on from the 1001st, up to 2,271)
into other pictures of both sets and prints, for each detector, faces found and false
detections at a range of thresholds, and the accuracy on the standard set's
found faces for a grid of framings (scale of the box, vertical offset in box sides): the
thresholds and framings in ferhw3/detect were chosen from it; first, how often each
BlazeFace network finds a face by the share of its input the face covers (the pyramid's
smallest share). Writes bench/results_photos_fit.md.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")
DATA = os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz")
IOU = 0.4
STANDARD = dict(size=(480, 360), scales=(2.0, 4.0), turn=10.0)
FIT_FACES = slice(400, 1000)  # the stretch of the shuffled validation faces that --fit uses
HARD = dict(size=(640, 480), per_picture=(1, 4), sides=(30, 400), turn=15.0, hidden=1 / 3)


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


def turned(face, side, turn):
    import cv2

    big = cv2.resize(face[:, :, 0], (side, side), interpolation=cv2.INTER_CUBIC if side > 48 else cv2.INTER_AREA)
    m = cv2.getRotationMatrix2D((side / 2, side / 2), turn, 1.0)
    return cv2.warpAffine(big, m, (side, side), borderMode=cv2.BORDER_REPLICATE)


def standard_pictures(faces, rng):
    """Pictures with two faces each, and each face's (picture, true box (x, y, w, h))."""
    import numpy as np

    w, h = STANDARD["size"]
    pictures, truth = [], []
    for start in range(0, len(faces), 2):
        pic = texture(rng, w, h)
        for slot, face in enumerate(faces[start:start + 2]):
            side = int(round(48 * rng.uniform(*STANDARD["scales"])))
            big = turned(face, side, float(rng.uniform(-STANDARD["turn"], STANDARD["turn"])))
            half = w // 2  # one face in each half of the picture
            x = int(rng.integers(slot * half, slot * half + max(half - side, 1)))
            y = int(rng.integers(0, max(h - side, 1)))
            pic[y:y + side, x:x + side] = big
            truth.append((len(pictures), (x, y, side, side)))
        pictures.append(np.clip(pic, 0, 255).astype(np.uint8))
    return pictures, truth


def hide_part(square, rng):
    """Part of the face covered: a band over the eyes, the mouth or one side, or a blob."""
    import cv2

    s = square.shape[0]
    shade = float(rng.uniform(10, 245))
    kind = rng.integers(4)
    if kind == 0:
        square[int(0.25 * s):int(0.45 * s)] = shade                       # glasses, a band over the eyes
    elif kind == 1:
        square[int(0.62 * s):] = shade                                     # a scarf or mask over the mouth
    elif kind == 2:
        side = slice(0, int(0.3 * s)) if rng.uniform() < 0.5 else slice(int(0.7 * s), s)
        square[:, side] = shade                                            # one side
    else:
        cv2.circle(square, (int(rng.uniform(0.2, 0.8) * s), int(rng.uniform(0.5, 0.9) * s)), int(0.22 * s), shade, -1)
    return square


def light(pic, rng):
    """Dimmed (gain 0.3-1) and unevenly lit (a linear ramp across the picture down to 0.3-0.8)."""
    import numpy as np

    h, w = pic.shape
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx - w / 2) * math.cos(angle) + (yy - h / 2) * math.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    low = rng.uniform(0.3, 0.8)
    return pic * rng.uniform(0.3, 1.0) * (low + (1 - low) * ramp)


def hard_pictures(faces, rng):
    """Pictures with 1-4 faces each of 30-400 pixels, some partly hidden, in uneven light."""
    import numpy as np

    w, h = HARD["size"]
    pictures, truth, i = [], [], 0
    while i < len(faces):
        pic, boxes = texture(rng, w, h), []
        for face in faces[i:i + int(rng.integers(HARD["per_picture"][0], HARD["per_picture"][1] + 1))]:
            lo, hi = HARD["sides"]
            side = int(round(math.exp(rng.uniform(math.log(lo), math.log(min(hi, h - 8))))))
            for _ in range(100):  # a place clear of the faces already pasted
                x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
                if all(x + side <= bx or bx + bs <= x or y + side <= by or by + bs <= y for bx, by, bs, _ in boxes):
                    break
            else:
                break  # no room: the face goes to the next picture
            square = turned(face, side, float(rng.uniform(-HARD["turn"], HARD["turn"]))).astype(np.float32)
            if rng.uniform() < HARD["hidden"]:
                square = hide_part(square, rng)
            pic[y:y + side, x:x + side] = square
            boxes.append((x, y, side, side))
            truth.append((len(pictures), (x, y, side, side)))
            i += 1
        pictures.append(np.clip(light(pic, rng), 0, 255).astype(np.uint8))
    return pictures, truth


def match(truth, detections):
    """For each true face, the index into detections[picture] of its match, or None (greedy
    by IoU, one to one); the (face, detection index) pairs of the detections that match no
    face but point at a face that nothing matched (the box's centre inside its pasted square: the face of a FER2013
    photo found in another framing than the photo's, as in a zoomed-out photo or a
    close-up; the face itself counts as not found), one such box a face; and the number of
    false detections: the rest, on the background or a second box on a face."""
    from ferhw3.detect import iou

    found, otherwise, false = [None] * len(truth), [], 0
    for pic, boxes in enumerate(detections):
        faces = [i for i, (p, _) in enumerate(truth) if p == pic]
        pairs = sorted(((iou(truth[i][1], b), i, j) for i in faces for j, b in enumerate(boxes)), reverse=True)
        used = set()
        for score, i, j in pairs:
            if score >= IOU and found[i] is None and j not in used:
                found[i], _ = j, used.add(j)
        claimed = {}
        for j, (x, y, w, h) in enumerate(boxes):
            cx, cy = x + w / 2, y + h / 2
            on = [i for i in faces if found[i] is None and i not in claimed and
                  truth[i][1][0] <= cx < truth[i][1][0] + truth[i][1][2] and truth[i][1][1] <= cy < truth[i][1][1] + truth[i][1][3]]
            if j not in used and on:
                claimed[on[0]] = j
        otherwise += list(claimed.items())
        false += len(boxes) - len(used) - len(claimed)
    return found, otherwise, false


def sweep(name, d, found_boxes, thresholds, pictures, truth, say):
    """Faces found and false detections on each set at each threshold, a line each."""
    for threshold in thresholds:
        line = []
        for k in pictures:
            kept = [[q for q in ds if threshold is None or q.score >= threshold] for ds in found_boxes[k]]
            found, otherwise, false = match(truth[k], [[d.framing.square(q.box) for q in ds] for ds in kept])
            line.append(f"{k}: found {sum(f is not None for f in found)}/{len(truth[k])} (+{len(otherwise)} framed "
                        f"otherwise), false {false} in {len(pictures[k])} pictures")
        say(f"- {name}, threshold {threshold or 'its own'}: " + "; ".join(line))


def fit(name, pictures, truth, labels, direct, reader, say):
    """Found and false detections by threshold on both sets, and accuracy on the standard
    set's found faces by framing, for one detector (see --fit); each line to `say`."""
    import itertools

    import numpy as np

    from ferhw3 import detect
    from ferhw3.infer import photos

    d = detect.create(name, **({} if name == "haar" else {"threshold": 0.5}))
    found_boxes = {k: [d(p) for p in pictures[k]] for k in pictures}
    thresholds = [None] if name == "haar" else [0.5, 0.55, 0.6, 0.62, 0.64, 0.66, 0.68, 0.72, 0.8]
    sweep(name, d, found_boxes, thresholds, pictures, truth, say)
    if name.startswith("blazeface"):  # what the turned views add: the same network reading upright only
        upright = detect.create(name, threshold=0.5, turns=())
        sweep(f"{name} upright only", upright, {k: [upright(p) for p in pictures[k]] for k in pictures}, thresholds,
              pictures, truth, say)
    pics, boxes = pictures["standard"], found_boxes["standard"]
    found, _, _ = match(truth["standard"], [[d.framing.square(q.box) for q in ds] for ds in boxes])
    hit = [i for i, j in enumerate(found) if j is not None]
    detections = [boxes[truth["standard"][i][0]][found[i]] for i in hit]

    def accuracy(framing, align=False):
        crops = np.stack([photos.frame_face(pics[truth["standard"][i][0]], framing.square(q.box), 0,
                                            q.angle if align else 0.0) for i, q in zip(hit, detections)])
        return float(np.mean(reader.read(crops).argmax(1) == labels[hit]))

    results = sorted(((accuracy(detect.Framing(scale, 0.0, dy)), scale, dy) for scale, dy in
                      itertools.product([0.95, 1.05, 1.15, 1.25, 1.35], [-0.15, -0.1, -0.05, 0.0, 0.05])), reverse=True)
    say(f"- {name}: the {len(hit)} standard faces found, read directly: {np.mean(direct[hit] == labels[hit]):.4f}; "
        "framed: " + ", ".join(f"Framing({scale}, 0.0, {dy}) {acc:.4f}" for acc, scale, dy in results[:3])
        + f" (the best three); in use when this ran: {d.framing}, {accuracy(d.framing):.4f}, eyes levelled "
          f"{accuracy(d.framing, align=True):.4f}")


def sizes(say, faces, rng, per_size=60):
    """How often each BlazeFace network finds a pasted face (IoU >= 0.3 with the face's square)
    that covers a given share of its input, the whole picture read at once."""
    import cv2
    import numpy as np

    from ferhw3.detect import blazeface, iou

    for network in ("short", "full"):
        finder = blazeface.BlazeFace(network, min_face=10 ** 6)  # one view: the whole picture
        line = []
        for share in (0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.9):
            found = 0
            for face in faces[:per_size]:
                picture = texture(rng, 384, 384)
                side = int(384 * share)
                x, y = rng.integers(0, 384 - side + 1, 2)
                picture[y:y + side, x:x + side] = cv2.resize(face[:, :, 0], (side, side), interpolation=cv2.INTER_CUBIC)
                boxes, scores, eyes = finder.raw(np.clip(picture, 0, 255).astype(np.uint8))
                found += any(iou(d.box, (x, y, side, side)) > 0.3 for d in blazeface.merge(boxes, scores, eyes))
            line.append(f"{share:g}: {found / per_size:.0%}")
        say(f"- blazeface {network} range, faces found by their share of the input's side (first look, score > "
            f"{blazeface.CANDIDATE}): " + ", ".join(line))


def installed(name):
    from ferhw3 import detect
    from ferhw3.errors import UsageError

    try:
        return detect.create(name)
    except UsageError as e:
        print(f"photos: {name} skipped: {e}", file=sys.stderr)
        return None


def evaluate(detector, pictures, truth, labels, direct, reader, alone=None):
    """Found, false, accuracy on the found faces (framed; framed with the eyes levelled),
    the direct reading's accuracy on them, ms of detection per picture; with `alone` (a
    reader and its direct labels), the found faces read by it too."""
    import numpy as np

    from ferhw3.infer import photos

    t = time.perf_counter()
    found_boxes = [detector(pic) for pic in pictures]
    ms = 1000 * (time.perf_counter() - t) / len(pictures)
    squares = [[detector.framing.square(d.box) for d in ds] for ds in found_boxes]
    found, otherwise, false = match(truth, squares)
    hit = [i for i, j in enumerate(found) if j is not None]
    right = []
    for align in (False, True, None):  # framed, framed with the eyes levelled, the pasted square itself
        crops = [photos.frame_face(pictures[truth[i][0]], truth[i][1], 0.0) if align is None else
                 photos.frame_face(pictures[truth[i][0]], squares[truth[i][0]][found[i]], photos.MARGIN,
                                   found_boxes[truth[i][0]][found[i]].angle if align else 0.0) for i in hit]
        right.append(reader.read(np.stack(crops)).argmax(1) == labels[hit] if hit else np.zeros(0, bool))
        if align is False:
            framed = crops  # as the pipeline frames them: also read by the analysis model alone
    right.append(direct[hit] == labels[hit])
    accs = [float(np.mean(r)) if hit else float("nan") for r in right]
    more = {}
    if alone is not None and hit:
        more = dict(alone=alone[0].read(np.stack(framed)).argmax(1) == labels[hit], alone_direct=alone[1][hit] == labels[hit])
    return dict(found=len(hit), otherwise=len(otherwise), false=false, acc=accs[0], acc_aligned=accs[1], pasted=accs[2],
                direct=accs[3], right=dict(found=right[0], pasted=right[2], direct=right[3], **more), ms=ms,
                shown=[(truth[i][0], truth[i][1], squares[truth[i][0]][j]) for i, j in otherwise])


def sheet(pictures, shown, path, tile=160, per_row=8):
    """A JPEG of the faces found in another framing: each pasted square (green) and the
    detector's framed square (red), cut out with what surrounds them."""
    import cv2
    import numpy as np

    tiles = []
    for pic, (tx, ty, tw, th), (bx, by, bw, bh) in shown:
        x0, y0 = max(int(min(tx, bx)) - 8, 0), max(int(min(ty, by)) - 8, 0)
        x1, y1 = int(max(tx + tw, bx + bw)) + 8, int(max(ty + th, by + bh)) + 8
        img = cv2.cvtColor(pictures[pic], cv2.COLOR_GRAY2BGR)
        cv2.rectangle(img, (int(tx), int(ty)), (int(tx + tw), int(ty + th)), (0, 200, 0), 2)
        cv2.rectangle(img, (int(bx), int(by)), (int(bx + bw), int(by + bh)), (0, 0, 255), 2)
        cut = img[y0:y1, x0:x1]
        side = max(cut.shape[:2])
        square = np.zeros((side, side, 3), np.uint8)
        square[:cut.shape[0], :cut.shape[1]] = cut
        tiles.append(cv2.resize(square, (tile, tile), interpolation=cv2.INTER_AREA))
    tiles += [np.zeros((tile, tile, 3), np.uint8)] * (-len(tiles) % per_row)
    rows = [np.concatenate(tiles[k:k + per_row], 1) for k in range(0, len(tiles), per_row)]
    ok, jpg = cv2.imencode(".jpg", np.concatenate(rows, 0), [cv2.IMWRITE_JPEG_QUALITY, 90])
    with open(path + ".tmp", "wb") as f:
        f.write(jpg.tobytes())
    os.replace(path + ".tmp", path)


def gaps(name, r):
    """How far below the direct reading the found faces read, and how much of that the pasting
    alone and the framing cost, each paired on the same faces (McNemar); and what the photo
    models' other networks add to the analysis model alone, on the found faces and directly."""
    from ferhw3.infer.evaluate import paired

    parts = []
    extra = (("alone", "found", "the photo models read the found faces"),
             ("alone_direct", "direct", "and the same faces directly")) if "alone" in r["right"] else ()
    for a, b, what in (("direct", "found", "the found faces read"), ("direct", "pasted", "the pasted squares"),
                       ("pasted", "found", "the framing"), *extra):
        if a.startswith("alone"):
            only_a, only_b, p = paired(r["right"][a], r["right"][b])
            parts.append(f"{what} {100 * (only_b - only_a) / max(len(r['right'][a]), 1):+.2f} points against the "
                         f"analysis model alone ({r['right'][a].mean():.4f}; {only_b} against {only_a}, McNemar p {p:.3f})")
            continue
        only_a, only_b, p = paired(r["right"][a], r["right"][b])
        parts.append(f"{what} {100 * (only_a - only_b) / max(len(r['right'][a]), 1):.2f} points below "
                     f"{'the direct reading' if a == 'direct' else 'the pasted squares'} (faces that only one of the "
                     f"two reads right: {only_a} against {only_b}, McNemar p {p:.3f})")
    return f"- {name}: " + "; ".join(parts)


def row(name, r, n_faces, n_pictures):
    return (f"| {name} | {r['found']}/{n_faces} ({100 * r['found'] / n_faces:.1f}%) | {r['otherwise']} | {r['false']} "
            f"({100 * r['false'] / n_pictures:.1f}) | {r['acc']:.4f} | {r['acc_aligned']:.4f} | {r['pasted']:.4f} | {r['direct']:.4f} | "
            f"{r['ms']:.0f} |")


def fer_row(args, pictures, truth, labels, direct, hopper):
    """The `fer` package's pipeline on the standard set, run by bench/photos_fer.py under --fer-python."""
    import numpy as np
    from PIL import Image

    from ferhw3.data.read import CLASS_NAMES

    with tempfile.TemporaryDirectory() as tmp:
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
    per_pic = fer["pictures"][:-1]
    found, otherwise, false = match(truth, [[tuple(d["box"]) for d in pic] for pic in per_pic])
    hit = [i for i, j in enumerate(found) if j is not None]
    order = [n.lower() for n in CLASS_NAMES]
    read = [int(np.argmax([per_pic[truth[i][0]][found[i]]["emotions"][n] for n in order])) for i in hit]
    acc = float(np.mean(np.array(read) == labels[hit]))
    r = dict(found=len(hit), otherwise=len(otherwise), false=false, acc=acc, acc_aligned=float("nan"), pasted=float("nan"), direct=float(np.mean(direct[hit] == labels[hit])),
             ms=1000 * fer["seconds"] / len(pictures))
    return row(f"`fer` {fer['version']} (its Haar cascade and model)", r, len(truth), len(pictures))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DATA)
    p.add_argument("--faces", type=int, default=400, help="faces to paste in each set")
    p.add_argument("--detectors", default="haar,blazeface,blazeface-full,mtcnn")
    p.add_argument("--fit", action="store_true", help="fit each detector's framing on training faces and print it")
    p.add_argument("--fer-python", help="a Python with the `fer` package, for its row")
    p.add_argument("--results", default=os.path.join(HERE, "results_photos.md"))
    args = p.parse_args()
    cli.quiet_tensorflow()
    import numpy as np
    from matplotlib import cbook

    from ferhw3 import detect
    from ferhw3.data.read import CLASS_NAMES
    from ferhw3.infer import evaluate as ev, manifest, photos

    model = manifest.role("analysis")[0]  # measured on validation faces: a model that never saw them
    # the photos role's networks as measured: the analysis model in the default's place
    stand_in = [os.path.join(manifest.MODELS_DIR, f) for f in manifest.load()["roles"]["photos"]["split_stand_in"]]
    x, y, _, _ = ev.validation_faces(args.data, model)
    order = np.random.default_rng(0).permutation(len(x))
    # fitted on other faces than those scored: the fit faces are a fixed stretch of the shuffle,
    # the scored ones the shuffle without it (the first 400 as ever, then on past the stretch)
    scored = np.concatenate([order[:FIT_FACES.start], order[FIT_FACES.stop:]])
    if not 0 < args.faces <= len(scored):
        sys.exit(f"photos: --faces {args.faces}: between 1 and {len(scored)} (the validation faces less the "
                 f"{FIT_FACES.stop - FIT_FACES.start} that --fit uses)")
    pick = order[FIT_FACES] if args.fit else scored[:args.faces]
    x, y = x[pick], y[pick]
    sets = {"standard": standard_pictures(x, np.random.default_rng(1 + 20 * args.fit)),
            "hard": hard_pictures(x, np.random.default_rng(3 + 20 * args.fit))}
    if args.fit:
        reader = photos.Recogniser(role="analysis", tta="flip", detector="haar")
        lines = [f"$ python bench/photos.py --fit --detectors {args.detectors}",
                 f"{os.cpu_count()} CPU cores; {time.strftime('%Y-%m-%d')}; 600 validation faces (the project's split) "
                 f"that bench/photos.py does not score, pasted into pictures of both sets; a face is found when the "
                 f"detector's framed square overlaps it with IoU >= {IOU}; accuracy of {os.path.basename(model)}, "
                 f"TTA {reader.tta}", ""]

        def say(line):
            lines.append(line)
            print(line, flush=True)

        direct = reader.read(x).argmax(1)
        sizes(say, x, np.random.default_rng(5))
        for name in args.detectors.split(","):
            if installed(name) is not None:
                fit(name, {k: v[0] for k, v in sets.items()}, {k: v[1] for k, v in sets.items()}, y, direct, reader, say)
        out = os.path.join(HERE, "results_photos_fit.md")
        with open(out + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(out + ".tmp", out)
        print(f"photos: wrote {out}")
        return
    detectors = {n: d for n in args.detectors.split(",") if (d := installed(n)) is not None}
    reader = photos.Recogniser(stand_in, tta="flip", detector=detectors[next(iter(detectors))])
    direct = reader.read(x).argmax(1)
    alone = photos.Recogniser([model], tta="flip", detector=reader.detector)
    alone = (alone, alone.read(x).argmax(1))
    hopper = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    out = [f"$ python bench/photos.py --faces {args.faces} --detectors {','.join(detectors)}"
           f"{' --fer-python PYTHON' if args.fer_python else ''}",
           f"{os.cpu_count()} CPU cores; {time.strftime('%Y-%m-%d')}; {len(x)} validation faces (the project's split) of "
           f"{' + '.join(map(os.path.basename, stand_in))} (the photos role's split stand-in: the shipped analysis "
           f"model in the default network's place; TTA {reader.tta}), read directly: accuracy "
           f"{np.mean(direct == y):.4f}. A face is found when the detector's framed square overlaps the pasted one with "
           f"IoU >= {IOU}; framed otherwise: faces not found whose pasted square holds the centre of a box that matches no "
           f"face (the photo's face boxed in another framing than FER2013's, as in a zoomed-out photo or a close-up: the "
           f"default's on the standard set are drawn in {os.path.basename(os.path.splitext(args.results)[0])}_otherwise.jpg); "
           f"false detections: the other boxes that match no face, on the background or a second box on a face (per 100 "
           f"pictures in brackets); the pasted squares read: each found face's own square cut out of the picture and read, "
           f"what pasting alone costs; ms: detection alone, per picture.", ""]
    for set_name, (pictures, truth) in sets.items():
        out += [f"**{set_name}** ({len(pictures)} pictures, {len(truth)} faces): "
                + ("two faces to a 480x360 picture, 2-4x their size, turned up to 10 degrees" if set_name == "standard"
                   else "1-4 faces to a 640x480 picture, 30-400 pixels, turned up to 15 degrees, a third partly hidden, "
                        "dimmed and unevenly lit"), "",
                "| detector | faces found | framed otherwise | false detections | accuracy on the found faces | "
                "eyes levelled | the pasted squares read | the same faces read directly | ms |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        paired_lines = []
        for name, d in detectors.items():
            r = evaluate(d, pictures, truth, y, direct, reader, alone)
            if set_name == "standard" and name == detect.DEFAULT and r["shown"]:
                sheet(pictures, r["shown"], os.path.splitext(args.results)[0] + "_otherwise.jpg")
            out.append(row(name + (" (the default)" if name == detect.DEFAULT else ""), r, len(truth), len(pictures)))
            print(out[-1], flush=True)
            paired_lines.append(gaps(name, r))
        if set_name == "standard" and args.fer_python:
            out.append(fer_row(args, pictures, truth, y, direct, hopper))
        out += ["", *paired_lines, ""]

    out += ["matplotlib's grace_hopper.jpg (512x600), read by the photo models' stand-in:", "",
            "| detector | square read (x, y, w, h) | expression | probabilities |", "|---|---|---|---|"]
    for name, d in detectors.items():
        reader.detector = d
        out += [f"| {name} | {f.box} | {f.emotion} | " + " ".join(f"{n} {q:.2f}" for n, q in zip(CLASS_NAMES, f.probs))
                + " |" for f in reader.faces(hopper)]
    text = "\n".join(out) + "\n"
    print("\n".join(out[-len(detectors) - 4:]))
    with open(args.results + ".tmp", "w") as f:
        f.write(text)
    os.replace(args.results + ".tmp", args.results)
    print(f"photos: wrote {args.results}")


if __name__ == "__main__":
    main()
