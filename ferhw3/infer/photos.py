"""Faces in photos and video: find them, frame them as FER2013 frames its faces, read them.

    from ferhw3.infer.photos import Recogniser
    reader = Recogniser()                      # the shipped photo models and face detector
    for face in reader.faces("group.jpg"):     # a path, a PIL image or a numpy array
        print(face.box, face.emotion, face.probs.round(2))

The detectors (ferhw3.detect: BlazeFace by default, whose weights ship inside this package;
Haar; MTCNN where installed) give boxes of their own shape; each detector's fitted framing
turns its box into the square FER2013 would have cut (bench/photos.py --fit), which is
widened by `margin` of its side on every side, turned so the eyes are level with `align`,
and read by the shipped models of the `photos` role (models/manifest.json): the default
network and the ResNet that trained with rotation, scale and shifts, which reads a detector's
faces better than the default network alone (REPORT section 10, docs/photos.md).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

import numpy as np

from .. import detect
from .draw import annotate  # noqa: F401  (where it was first: ferhw3.infer.photos.annotate)
from ..data.read import CLASS_NAMES, IMG_SIZE, IMAGE_SUFFIXES, describe_found, files_under, open_image
from ..detect.base import cv2_module as _cv2
from ..errors import DataError

MARGIN = 0.0          # of the framed square's side, added on each side
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in the picture's pixels: the square that was read
    probs: np.ndarray               # the 7 class probabilities
    crop: np.ndarray                # the 48x48 grey face that was read (uint8, 48x48x1)
    score: float = 1.0              # the detector's confidence
    track: int | None = None        # in a video: the face's track (ferhw3.infer.video)

    @property
    def label(self) -> int:
        return int(self.probs.argmax())

    @property
    def emotion(self) -> str:
        return CLASS_NAMES[self.label]


def grey_array(image) -> np.ndarray:
    """A path, a PIL image or a numpy array (grey HxW or HxWx1, RGB HxWx3, RGBA HxWx4, of
    any integer or float type) as an 8-bit grey HxW array, by one set of pixel rules
    whatever the way in (ferhw3.data.read: upright by EXIF, 16-bit and other deep images
    scaled, transparency shown on white); a missing path is a FileNotFoundError."""
    from ..data.read import _grey8, array_image

    if isinstance(image, (str, os.PathLike)):
        return np.asarray(open_image(existing(os.fspath(image))), dtype=np.uint8)
    if not (hasattr(image, "convert") and hasattr(image, "size")):  # not a PIL image: an array
        a = np.asarray(image)
        if a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 and min(a.shape[:2]) >= 1:
            from PIL import Image  # a video frame: Pillow's conversion, without the checks below

            return np.asarray(Image.fromarray(np.ascontiguousarray(a), "RGB").convert("L"))
        image = array_image(a)
    return np.asarray(_grey8(image), dtype=np.uint8)


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

    models: model paths, or None for the shipped ones of `role` (models/manifest.json; the
    `photos` role by default).
    tta: test-time augmentation of each face (default: the role's, else flip).
    detector: a name of ferhw3.detect.DETECTORS or a detector object.
    """

    def __init__(self, models=None, role: str = "photos", tta: str | None = None, margin: float = MARGIN,
                 align: bool = False, detector=detect.DEFAULT):
        from . import manifest
        from .predict import load_predictors

        self.paths = list(models) if models else manifest.role(role)
        self.tta = tta or (None if models else manifest.role_tta(role)) or "flip"
        self.models = load_predictors(self.paths, self.tta)
        self.margin, self.align = margin, align
        self.detector = detect.create(detector) if isinstance(detector, str) else detector

    @property
    def engine(self) -> str:
        return self.models[0].engine

    def read(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 7) of 48x48 grey faces (N, 48, 48, 1)."""
        from .predict import predict_proba

        if not len(crops):
            return np.zeros((0, len(CLASS_NAMES)), np.float32)
        return predict_proba(self.models, crops, tta=self.tta)

    def faces(self, image, detector=None) -> list[Face]:
        """Every face found in `image` (a path, a PIL image or a numpy array), with its box,
        its 48x48 crop and its class probabilities; `detector`: another than the Recogniser's
        (a stream's follower, say)."""
        detector = detector or self.detector
        grey = grey_array(image)
        found = detect.reading_order(detector(grey))
        boxes = [detector.framing.square(d.box) for d in found]
        crops = np.stack([frame_face(grey, b, self.margin, d.angle if self.align else 0.0)
                          for b, d in zip(boxes, found)]) if found else np.zeros((0, IMG_SIZE, IMG_SIZE, 1), np.uint8)
        return [Face(b, p, c, d.score) for b, p, c, d in zip(boxes, self.read(crops), crops, found)]

    def stream(self, frames, smooth: float | None = None, thorough: bool = False):
        """The faces of each frame of `frames` (any iterable of what `faces` takes: a video's,
        a camera's), as each comes: followed from frame to frame at frame rate rather than
        searched for anew (ferhw3.detect.follow), each face with its track, its probabilities
        smoothed along it (`smooth`: the weight of the past, default ferhw3.infer.video.SMOOTH).
        With `thorough`, every frame is searched as a photo is."""
        from .video import SMOOTH, Stream

        live = Stream(self, SMOOTH if smooth is None else smooth, thorough)
        for frame in frames:
            yield live.update(frame)


# ---- files: photos, folders, videos ---------------------------------------------------------

def is_video(path: str) -> bool:
    return path.lower().endswith(VIDEO_SUFFIXES)


def media_files(path: str) -> list[str]:
    """The photos and videos to read: `path` itself, or the image and video files in the
    folder `path` and all its subfolders (top level first, each sorted)."""
    if os.path.isdir(path):
        names, others = files_under(path, IMAGE_SUFFIXES + VIDEO_SUFFIXES, hidden=False)
        if not names:
            raise DataError(f"{path}: no photos ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) or videos "
                            f"({', '.join(s[1:] for s in VIDEO_SUFFIXES)}) in this folder or its subfolders")
        print(f"{path}: {describe_found(names, 'photos and videos')}"
              + (f"; {others} other files skipped" if others else ""))
        return [os.path.join(path, f) for f in names]
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or folder")
    return [path]


def photo(path: str) -> np.ndarray:
    """A photo as an RGB array, upright (its EXIF orientation applied). Videos: ferhw3.infer.video."""
    return np.asarray(open_image(existing(path), convert="RGB"))


def existing(path):
    """`path`, or FileNotFoundError naming it where there is no such file (bad content is
    the project's DataError, a ValueError: a user's code tells the two apart)."""
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no such file", os.fspath(path))
    return path
