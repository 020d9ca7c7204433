"""Faces in photos and video: find them, frame them as FER2013 frames its faces, read them.

    from ferhw3.photos import Recogniser
    reader = Recogniser()                      # the shipped default model, OpenCV's face detector
    for face in reader.faces("group.jpg"):     # a path, a PIL image or a numpy array
        print(face.box, face.emotion, face.probs.round(2))

The detector is OpenCV's Haar cascade for frontal faces, whose weights ship inside the
`opencv-python-headless` wheel: nothing is downloaded. FER2013's faces are tight crops,
roughly registered; a detector's box is tighter still, so each box is widened by `MARGIN`
of its side on every side before it is cut out (the margin that read pasted validation
faces best, bench/results_photos.md) and, with `align`, turned so the eyes are level.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass

import numpy as np

from .data import CLASS_NAMES, IMG_SIZE, IMAGE_SUFFIXES, describe_found, files_under, open_image
from .errors import DataError, UsageError

CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
MARGIN = 0.0          # of the box's side, added on each side (bench/photos.py: the best of 0-0.2)
MIN_FACE = 36         # pixels: the smallest face looked for (FER2013's are 48; smaller boxes were
                      # mostly false detections in textured backgrounds)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in the picture's pixels
    probs: np.ndarray               # the 7 class probabilities
    crop: np.ndarray                # the 48x48 grey face that was read (uint8, 48x48x1)

    @property
    def label(self) -> int:
        return int(self.probs.argmax())

    @property
    def emotion(self) -> str:
        return CLASS_NAMES[self.label]


def _cv2():
    # FFmpeg inside OpenCV prints its own lines about a file it cannot read; the error we
    # raise says it in one line
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    try:
        import cv2
    except ImportError:
        raise UsageError("face detection needs OpenCV: pip install opencv-python-headless") from None
    return cv2


def grey_array(image) -> np.ndarray:
    """A path, a PIL image or a numpy array (grey HxW or HxWx1, RGB HxWx3, RGBA HxWx4) as
    an 8-bit grey HxW array; a path is read upright (its EXIF orientation applied)."""
    if isinstance(image, (str, os.PathLike)):
        return np.asarray(open_image(os.fspath(image)), dtype=np.uint8)
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        from .data import _grey8

        return np.asarray(_grey8(image), dtype=np.uint8)
    a = np.asarray(image)
    kind = a.dtype
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[:, :, :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"an image must be HxW, HxWx1, HxWx3 or HxWx4, got shape {np.shape(image)}")
    # the range comes from the type the caller gave: 8-bit as it is, 16-bit scaled, floats 0-1 or 0-255
    if np.issubdtype(kind, np.floating):
        top = 1.0 if float(np.max(image, initial=0)) <= 1.0 else 255.0
    else:
        top = 65535.0 if np.iinfo(kind).max > 255 else 255.0
    if a.dtype != np.uint8 or top != 255.0:
        a = np.clip(np.rint(a.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


class Detector:
    """OpenCV's frontal-face Haar cascade: boxes (x, y, w, h), top to bottom, left to right."""

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = MIN_FACE):
        cv2 = _cv2()
        self.cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, CASCADE))
        self.eyes = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, EYE_CASCADE))
        if self.cascade.empty() or self.eyes.empty():
            raise UsageError(f"OpenCV's Haar cascades are missing from {cv2.data.haarcascades}; "
                             f"install opencv-python-headless 4.x (OpenCV 5 no longer ships them)")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def __call__(self, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
        # no histogram equalisation: on the pasted faces it found fewer (264 against 277 of 400)
        found = self.cascade.detectMultiScale(grey, self.scale_factor, self.min_neighbors,
                                              minSize=(self.min_size, self.min_size))
        boxes = [tuple(int(v) for v in b) for b in (found if len(found) else [])]
        return sorted(boxes, key=lambda b: (b[1] // max(b[3], 1), b[0]))

    def eye_angle(self, grey: np.ndarray, box) -> float:
        """Degrees the face is turned (positive: its right side lower), from the two largest
        eyes found in the box's upper half; 0 when two eyes are not found."""
        x, y, w, h = box
        upper = grey[y:y + h // 2, x:x + w]
        eyes = self.eyes.detectMultiScale(upper, 1.1, 3, minSize=(max(w // 8, 5), max(w // 8, 5)))
        if len(eyes) < 2:
            return 0.0
        (ax, ay, aw, ah), (bx, by, bw, bh) = sorted(sorted(eyes, key=lambda e: -e[2] * e[3])[:2], key=lambda e: e[0])
        dx, dy = (bx + bw / 2) - (ax + aw / 2), (by + bh / 2) - (ay + ah / 2)
        if dx < w / 5:  # two detections of one eye
            return 0.0
        return math.degrees(math.atan2(dy, dx))


def frame_face(grey: np.ndarray, box, margin: float = MARGIN, angle: float = 0.0) -> np.ndarray:
    """The face in `box` as FER2013 frames it: the square around the box's centre, its side
    the box's widened by `margin` on each side, turned by `angle` degrees about the centre
    (eyes level), edge pixels repeated where it leaves the picture, resized to 48x48 by area
    averaging. Returns uint8 (48, 48, 1)."""
    cv2 = _cv2()
    x, y, w, h = box
    side = max(int(round(max(w, h) * (1 + 2 * margin))), 1)
    # pixel centres: pixel u covers [u, u + 1), so the box's centre is at (x + w/2 - 0.5)
    cx, cy = x + w / 2 - 0.5, y + h / 2 - 0.5
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    m[:, 2] += ((side - 1) / 2 - cx, (side - 1) / 2 - cy)
    # cut at full resolution (an exact crop when not turned), then area-average down to 48x48
    square = cv2.warpAffine(grey, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    face = cv2.resize(square, (IMG_SIZE, IMG_SIZE), interpolation=cv2.INTER_AREA if side > IMG_SIZE else cv2.INTER_LINEAR)
    return face[..., None]


class Recogniser:
    """A face detector and an expression model (or ensemble), loaded once; threads may share it.

    models: model paths, or None for the shipped ones of `role` (models/manifest.json).
    tta: test-time augmentation of each face (default: the role's, else flip).
    """

    def __init__(self, models=None, role: str = "default", tta: str | None = None, margin: float = MARGIN,
                 align: bool = False, detector: Detector | None = None):
        from . import manifest
        from .predict import load_predictors

        paths = list(models) if models else manifest.role(role)
        self.tta = tta or (None if models else manifest.role_tta(role)) or "flip"
        self.models = load_predictors(paths, self.tta)
        self.margin, self.align = margin, align
        self.detector = detector or Detector()
        self._detecting = threading.Lock()  # OpenCV's cascade is not safe to share between threads

    @property
    def engine(self) -> str:
        return self.models[0].engine

    def read(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 7) of 48x48 grey faces (N, 48, 48, 1)."""
        from .predict import predict_proba

        if not len(crops):
            return np.zeros((0, len(CLASS_NAMES)), np.float32)
        return predict_proba(self.models, crops, tta=self.tta)

    def faces(self, image) -> list[Face]:
        """Every face found in `image` (a path, a PIL image or a numpy array), with its box,
        its 48x48 crop and its class probabilities."""
        grey = grey_array(image)
        with self._detecting:
            boxes = self.detector(grey)
            angles = [self.detector.eye_angle(grey, b) if self.align else 0.0 for b in boxes]
        crops = np.stack([frame_face(grey, b, self.margin, a) for b, a in zip(boxes, angles)]) if boxes else \
            np.zeros((0, IMG_SIZE, IMG_SIZE, 1), np.uint8)
        return [Face(b, p, c) for b, p, c in zip(boxes, self.read(crops), crops)]


# ---- files: photos, folders, videos ---------------------------------------------------------

def is_video(path: str) -> bool:
    return path.lower().endswith(VIDEO_SUFFIXES)


def media_files(path: str) -> list[str]:
    """The photos and videos to read: `path` itself, or the image and video files in the
    folder `path` and all its subfolders (top level first, each sorted)."""
    if os.path.isdir(path):
        names, others = files_under(path, IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        if not names:
            raise DataError(f"{path}: no photos ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) or videos "
                            f"({', '.join(s[1:] for s in VIDEO_SUFFIXES)}) in this folder or its subfolders")
        print(f"{path}: {describe_found(names, 'photos and videos')}"
              + (f"; {others} other files skipped" if others else ""))
        return [os.path.join(path, f) for f in names]
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or folder")
    return [path]


def video_frames(path: str, every: int):
    """(frame number, RGB frame) for frames 0, every, 2*every, ... of a video OpenCV reads."""
    cv2 = _cv2()
    video = cv2.VideoCapture(path)
    if not video.isOpened():
        raise DataError(f"{path}: not a video OpenCV can read")
    try:
        n = 0
        ok, frame = video.read()
        if not ok:
            raise DataError(f"{path}: frame 0: no frame could be decoded")
        while ok:
            if n % every == 0:
                yield n, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            ok = video.grab()
            n += 1
            if ok and n % every == 0:
                ok, frame = video.retrieve()
    finally:
        video.release()


def pictures(path: str, every: int = 10):
    """(frame number or None, RGB array) of each picture in the file: a photo once (upright,
    EXIF applied), a video's every `every`-th frame."""
    if is_video(path):
        yield from video_frames(path, every)
    else:
        yield None, np.asarray(open_image(path, convert="RGB"))


def annotate(rgb: np.ndarray, faces: list[Face]):
    """A copy of the picture with each face's box, number and expression drawn (PIL image)."""
    from PIL import Image, ImageDraw, ImageFont

    im = Image.fromarray(rgb).convert("RGB")
    draw = ImageDraw.Draw(im)
    size = max(12, min(im.size) // 30)
    try:
        font = ImageFont.load_default(size)
    except TypeError:  # Pillow without FreeType sizes
        font = ImageFont.load_default()
    for i, face in enumerate(faces):
        x, y, w, h = face.box
        width = max(2, min(im.size) // 200)
        draw.rectangle((x, y, x + w, y + h), outline=(255, 210, 0), width=width)
        text = f"{i} {face.emotion} {face.probs.max():.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        ty = y - (bottom - top) - 2 * width if y - (bottom - top) - 2 * width >= 0 else y + h + width
        draw.rectangle((x, ty, x + right - left + 2 * width, ty + bottom - top + 2 * width), fill=(255, 210, 0))
        draw.text((x + width - left, ty + width - top), text, fill=(0, 0, 0), font=font)
    return im
