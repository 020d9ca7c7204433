"""MTCNN (the `mtcnn` package, MIT: three small cascaded networks whose weights ship in its
wheel) on TensorFlow: an image pyramid, so small faces are found without tiling. Optional:
`pip install mtcnn` beside the training extra's TensorFlow."""

from __future__ import annotations

import threading

import numpy as np

from ..errors import UsageError
from .base import Detection, Framing

THRESHOLD = 0.8  # the last network's confidence (the package's default)
# chosen by `python bench/photos.py --fit`: the framing that read the faces found best, on pasted
# validation faces that the bench does not score (bench/results_photos_fit.md)
FRAMING = Framing(1.15, 0.0, 0.05)


class MTCNN:
    name = "mtcnn"

    def __init__(self, threshold: float = THRESHOLD, min_face: int = 30):
        try:
            from mtcnn import MTCNN as Net
        except ImportError:
            raise UsageError("--detector mtcnn needs the mtcnn package and TensorFlow: "
                             "pip install mtcnn tensorflow-cpu") from None
        self.net, self.threshold, self.min_face = Net(), threshold, min_face
        self.framing = FRAMING
        self._lock = threading.Lock()

    def __call__(self, grey: np.ndarray) -> list[Detection]:
        rgb = np.repeat(grey[..., None], 3, axis=2)
        with self._lock:
            # the package's own smallest face (20 px): mtcnn 1.0.0 found no face at all in some
            # 640x480 pictures when given another min_face_size
            found = self.net.detect_faces(rgb, threshold_onet=self.threshold)
        out = []
        for f in found or []:
            if max(f["box"][2], f["box"][3]) < self.min_face:
                continue
            k = f.get("keypoints", {})
            eyes = sorted([k["left_eye"], k["right_eye"]]) if "left_eye" in k and "right_eye" in k else None
            out.append(Detection(tuple(float(v) for v in f["box"]), float(f["confidence"]),
                                 tuple(tuple(float(v) for v in e) for e in eyes) if eyes else None))
        return out
