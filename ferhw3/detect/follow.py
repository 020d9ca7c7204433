"""Faces followed through consecutive frames (a video, a camera, the page's webcam) at frame
rate: BlazeFace searches the whole frame a part at a time, and looks again only around each
face it follows.

A face in a video is where it was a frame ago. The photo search (ferhw3.detect.blazeface: the
pyramid's levels, upright and turned 25 degrees each way, then a second look at each face)
reads a 640x480 frame in some ten network calls, the finest on an input larger than the
frame. Here it runs whole on the first frame only; after that its parts (one level of one
view each) are read in turn, a part whenever the frames since the last have earned its
pixels (SEARCH_PIXELS), so a face that comes into view is found within one round of the
parts (26 frames for 640x480 and 30-pixel faces), as the photo search finds it.
Each face already followed is looked for in every frame in a window twice its size around
its last box, scaled so that the face fills half the network's input (the second look's
window, where the network reads faces best): one 128x128 input a face, all of a frame's
faces in one call. The face is where the best box of its window is, near the window's centre
and about the face's last size; a window with no such box scoring KEEP or more for more than
MISSES frames in a row lets the face go, and two followed faces that come to overlap become one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Detection, cv2_module, iou
from .blazeface import MERGE_IOU, TURNED_MIN, corners, pyramid, turned, turned_back

MISSES = 2      # frames a followed face may go unseen in its window before it is let go
# The score a box in a followed face's window needs: lower than a new face's (the face is
# known to be there; the search found it with both looks). On 300 validation faces in clips
# of 8 frames (bench/live.py's), of the 262 the search found on the first frame, 241 were still
# followed on the last at 0.5, 250 at 0.3 and 254 at 0.2 with STEP 0.35, 256 at 0.2 with STEP
# 0.5; the photo path found 257 there.
KEEP = 0.2
# The search's parts cost about what they read: on a 640x480 frame with 30-pixel faces the
# finest upright level is an 832x624 input (20 ms on two AVX-512 cores), the coarsest 128x128
# (1.5 ms). A part is read once the frames since the last have earned its pixels at this many
# network input pixels a frame: a round of such a frame's 10 parts (1.3 megapixels, 68 ms)
# takes 26 frames, under a second at 30 frames/s, for about 2.6 ms a frame.
SEARCH_PIXELS = 50_000
# A box in a face's window is that face if its centre is within STEP of the face's side of
# the window's centre (where the face was) and its side within GROWTH of the last: a face
# moves and grows little from a frame to the next, and a looser rule let a window that had
# lost its face wander and grow onto texture that scored as a face.
STEP = 0.5
GROWTH = 1.25


@dataclass
class Followed:
    detection: Detection
    key: int        # the same number for as long as the face is followed
    missed: int = 0


class Follower:
    """A face detector for consecutive frames of one stream (`__call__(grey)` -> Detections,
    `.framing`, `.name` as ferhw3.detect's detectors), keeping what it follows between calls:
    one Follower per stream. `detector`: a BlazeFace of the short-range network."""

    def __init__(self, detector):
        if not getattr(detector, "convolutional", False):
            raise ValueError("following faces needs the short-range BlazeFace (detector 'blazeface')")
        self.detector = detector
        self.name, self.framing = f"{detector.name} (followed)", detector.framing
        self.reset()

    def reset(self) -> None:
        """Forget every face: the next frame is searched whole."""
        self.followed: list[Followed] = []
        self.turn, self.credit, self.keys, self.shape, self.parts = 0, 0.0, 0, None, []

    def _parts(self, grey: np.ndarray) -> list[tuple]:
        """The photo search cut into parts: (angle, pyramid level, the input's pixels) of each
        view it reads."""
        d = self.detector
        parts = []
        for angle in (0.0, *d.turns):
            picture, min_face = (grey, d.min_face) if angle == 0 else (turned(grey, angle)[0], d.min_face * TURNED_MIN)
            h, w = picture.shape
            parts += [(angle, k, max(d.side, w * s) * max(d.side, h * s)) for k, s in
                      enumerate(pyramid(w, h, min_face, d.side))]
        return parts

    def _search(self, grey: np.ndarray, part) -> list[Detection]:
        """The faces the photo search finds in one of its parts."""
        angle, level, _ = part
        d = self.detector
        known = [f.detection.box for f in self.followed]  # no second look at the faces followed
        if angle == 0:
            return d.upright(grey, d.min_face, levels=[level], known=known)
        picture, back = turned(grey, angle)
        m = cv2_module().invertAffineTransform(back)
        known = [turned_back(Detection(b), m).box for b in known]
        return [turned_back(f, back) for f in d.upright(picture, d.min_face * TURNED_MIN, levels=[level], known=known)]

    def _follow(self, grey: np.ndarray) -> None:
        """Each followed face looked for in its window of this frame."""
        d, side = self.detector, self.detector.side
        if not self.followed:
            return
        windows, views = [], []
        for f in self.followed:
            x, y, w, h = f.detection.box
            half = (w + h) / 2  # the window: twice the face's side, the face in its centre half
            x0, y0, scale = x + w / 2 - half, y + h / 2 - half, side / (2 * half)
            windows.append((x0, y0, scale))
            views.append(d._view(grey, x0, y0, scale, side, side))
        boxes, eyes, scores = d._infer(np.stack(views))
        for f, (x0, y0, scale), b, e, sc in zip(self.followed, windows, boxes, eyes, scores):
            last = (f.detection.box[2] + f.detection.box[3]) / 2 * scale  # in the window's pixels
            size = (b[:, 2] + b[:, 3]) / 2
            # the face where it was, about as large: its window's centre (overlapping the last box)
            near = np.abs(b[:, :2] - side / 2).max(1) <= STEP * last
            pick = (sc >= KEEP) & (size >= last / GROWTH) & (size <= last * GROWTH) & near
            if pick.any():
                f.detection, f.missed = best(*_in_picture(b[pick], e[pick], sc[pick], x0, y0, scale)), 0
            else:
                f.missed += 1
        self.followed = [f for f in self.followed if f.missed <= MISSES]
        kept = []  # two faces that came to overlap are one: the better seen one stays
        for f in sorted(self.followed, key=lambda f: (f.missed, -f.detection.score)):
            if not any(iou(f.detection.box, k.detection.box) > MERGE_IOU for k in kept):
                kept.append(f)
        self.followed = sorted(kept, key=lambda f: f.key)

    def __call__(self, grey: np.ndarray) -> list[Detection]:
        """The faces of this frame: those followed, found again in their windows, and those
        this frame's part of the search finds anew (the whole search on the first frame)."""
        if grey.shape != self.shape:  # the first frame (or a stream that changed its size)
            self.reset()
            self.shape, self.parts = grey.shape, self._parts(grey)
            new = self.detector(grey)
        else:
            self._follow(grey)
            new, part = [], self.parts[self.turn % len(self.parts)]
            self.credit += SEARCH_PIXELS
            if self.credit >= part[2]:
                self.credit -= part[2]
                new = self._search(grey, part)
                self.turn += 1
        for g in sorted(new, key=lambda g: -g.score):
            if not any(iou(g.box, f.detection.box) > MERGE_IOU for f in self.followed):
                self.followed.append(Followed(g, self.keys))
                self.keys += 1
        return [f.detection for f in self.followed if f.missed == 0]


def best(boxes, scores, eyes) -> Detection:
    """The best-scoring box merged with those overlapping it by more than MERGE_IOU, as
    blazeface.merge merges (score-weighted means), for a window's one face."""
    top = int(np.argmax(scores))
    x0, y0 = np.maximum(boxes[:, 0], boxes[top, 0]), np.maximum(boxes[:, 1], boxes[top, 1])
    x1 = np.minimum(boxes[:, 0] + boxes[:, 2], boxes[top, 0] + boxes[top, 2])
    y1 = np.minimum(boxes[:, 1] + boxes[:, 3], boxes[top, 1] + boxes[top, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = boxes[:, 2] * boxes[:, 3] + boxes[top, 2] * boxes[top, 3] - inter
    group = inter > MERGE_IOU * np.maximum(union, 1e-6)
    w = scores[group] / scores[group].sum()
    box = (boxes[group] * w[:, None]).sum(0)
    e = (eyes[group] * w[:, None]).sum(0)
    return Detection(tuple(float(v) for v in box), float(scores[top]),
                     ((float(e[0]), float(e[1])), (float(e[2]), float(e[3]))))


def _in_picture(boxes, eyes, scores, x0, y0, scale):
    """A window's boxes (the network's centre form, in the window's pixels) in the picture's
    pixels, as best() takes them."""
    b, e = corners(boxes, eyes)
    b = b / scale + np.array([x0, y0, 0, 0], np.float32)
    e = e / scale + np.array([x0, y0, x0, y0], np.float32)
    return b, scores, e


def following(detector):
    """A Follower of `detector` where it can be followed (the short-range BlazeFace), else None."""
    try:
        return Follower(detector)
    except ValueError:
        return None


__all__ = ["Follower", "following"]
