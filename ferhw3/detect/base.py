"""What every face detector gives: boxes with a score and, where the detector finds them, the
eyes; and how a box becomes FER2013's framing of the face."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..errors import UsageError


def cv2_module():
    """OpenCV, imported quietly: FFmpeg inside it prints its own lines about a file it cannot
    read, and our errors say it in one line."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    try:
        import cv2
    except ImportError:
        raise UsageError("face detection needs OpenCV: pip install opencv-python-headless") from None
    return cv2


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # x, y, w, h in the picture's pixels
    score: float = 1.0                      # the detector's confidence, 0-1 (1 where it has none)
    eyes: tuple | None = None               # ((x, y), (x, y)): the eye on the picture's left, then right

    @property
    def angle(self) -> float:
        """Degrees the face is turned (positive: the eye on the picture's right is lower);
        0 without eyes."""
        if self.eyes is None:
            return 0.0
        (ax, ay), (bx, by) = self.eyes
        return math.degrees(math.atan2(by - ay, bx - ax)) if bx > ax else 0.0


@dataclass(frozen=True)
class Framing:
    """A detector's box -> FER2013's square: the square's side is `scale` times the box's
    mean side, its centre the box's moved by `dx`, `dy` of that side. Each detector carries
    the framing chosen for it by bench/photos.py --fit: of a grid of scales and vertical
    offsets, the one whose crops the model read best, on pasted faces whose true squares
    are known."""
    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def square(self, box) -> tuple[int, int, int, int]:
        x, y, w, h = box
        side = (w + h) / 2
        cx, cy = x + w / 2 + self.dx * side, y + h / 2 + self.dy * side
        s = max(int(round(side * self.scale)), 1)
        return int(round(cx - s / 2)), int(round(cy - s / 2)), s, s


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def reading_order(detections: list[Detection]) -> list[Detection]:
    """Top to bottom by rows of about a face's height, left to right within a row."""
    return sorted(detections, key=lambda d: (int(d.box[1] // max(d.box[3], 1)), d.box[0]))
