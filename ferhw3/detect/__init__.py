"""Face detectors, looked up by name: each takes an 8-bit grey picture (HxW) and gives
Detections (box, score, eyes), and carries the framing that turns its box into FER2013's.

    from ferhw3 import detect
    finder = detect.create("blazeface")
    for d in finder(grey): print(d.box, d.score, finder.framing.square(d.box))

The default is the one that found most pasted faces with few false detections on
bench/photos.py (bench/results_photos.md).
"""

from __future__ import annotations

from .base import Detection, Framing, iou, reading_order

DEFAULT = "blazeface"
DETECTORS = {
    "blazeface": "MediaPipe's BlazeFace, short range, on OpenVINO over an image pyramid, upright and turned "
                 "25 degrees each way (weights in this package)",
    "blazeface-full": "MediaPipe's BlazeFace, full range, on OpenVINO over tiles, upright and turned (weights in "
                      "this package)",
    "haar": "OpenCV's Haar cascade for frontal faces (weights in the opencv-python-headless wheel)",
    "mtcnn": "MTCNN's three networks on TensorFlow (optional: pip install mtcnn tensorflow-cpu)",
}


def create(name: str = DEFAULT, **options):
    """The detector called `name` (one of DETECTORS), with its options (threshold, min_face, ...)."""
    if name in ("blazeface", "blazeface-full"):
        from .blazeface import BlazeFace
        return BlazeFace("short" if name == "blazeface" else "full", **options)
    if name == "haar":
        from .haar import Haar
        return Haar(**options)
    if name == "mtcnn":
        from .mtcnn import MTCNN
        return MTCNN(**options)
    raise KeyError(name)


__all__ = ["DEFAULT", "DETECTORS", "Detection", "Framing", "create", "iou", "reading_order"]
