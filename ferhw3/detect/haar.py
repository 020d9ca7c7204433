"""OpenCV's frontal-face Haar cascade, whose weights ship inside the opencv-python-headless
wheel; the eye cascade turns a face so its eyes are level."""

from __future__ import annotations

import os
import threading

import numpy as np

from ..errors import UsageError
from .base import Detection, Framing, cv2_module

CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
MIN_FACE = 36  # pixels: smaller boxes were mostly false detections in textured backgrounds
# chosen by `python bench/photos.py --fit`: the framing that read the faces found best, on pasted
# validation faces that the bench does not score (bench/results_photos_fit.md)
FRAMING = Framing(0.95, 0.0, 0.05)


class Haar:
    """Boxes from the frontal-face cascade, each with the eyes the eye cascade finds in its
    upper half (two of them, far enough apart) or none. Calls may come from several threads."""

    name = "haar"

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_face: int = MIN_FACE):
        cv2 = cv2_module()
        self.cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, CASCADE))
        self.eyes = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, EYE_CASCADE))
        if self.cascade.empty() or self.eyes.empty():
            raise UsageError(f"OpenCV's Haar cascades are missing from {cv2.data.haarcascades}; "
                             f"install opencv-python-headless 4.x (OpenCV 5 no longer ships them)")
        self.scale_factor, self.min_neighbors, self.min_face = scale_factor, min_neighbors, min_face
        self.framing = FRAMING
        self._lock = threading.Lock()  # a cascade is not safe to share between threads

    def __call__(self, grey: np.ndarray) -> list[Detection]:
        # no histogram equalisation: on the pasted faces it found fewer (264 against 277 of 400)
        with self._lock:
            found = self.cascade.detectMultiScale(grey, self.scale_factor, self.min_neighbors,
                                                  minSize=(self.min_face, self.min_face))
            boxes = [tuple(int(v) for v in b) for b in (found if len(found) else [])]
            return [Detection(b, 1.0, self.find_eyes(grey, b)) for b in boxes]

    def find_eyes(self, grey: np.ndarray, box):
        """The two largest eyes found in the box's upper half, picture-left first; None when
        two are not found or they are one eye found twice."""
        x, y, w, h = box
        upper = grey[y:y + h // 2, x:x + w]
        eyes = self.eyes.detectMultiScale(upper, 1.1, 3, minSize=(max(w // 8, 5), max(w // 8, 5)))
        if len(eyes) < 2:
            return None
        (ax, ay, aw, ah), (bx, by, bw, bh) = sorted(sorted(eyes, key=lambda e: -e[2] * e[3])[:2], key=lambda e: e[0])
        a, b = (x + ax + aw / 2, y + ay + ah / 2), (x + bx + bw / 2, y + by + bh / 2)
        return None if b[0] - a[0] < w / 5 else (a, b)
