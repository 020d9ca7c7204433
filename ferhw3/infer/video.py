"""Faces through a video: tracked from read to read, their probabilities smoothed over time
per track, summarised per track, and drawn into an annotated copy of the video.

    from ferhw3.infer.photos import Recogniser
    from ferhw3.infer.video import read_video
    tracks = read_video(Recogniser(), "clip.mp4", every=5, smooth=0.5)
    for frame, faces in tracks.frames: ...           # faces carry .track; probs smoothed
    for row in tracks.summary(): print(row)

Tracking matches each read's faces to the tracks of the reads before by box overlap (IoU,
greedily, best pair first); a face that matches none starts a track, and a track unseen for
more than `max_gap` reads ends. Smoothing is an exponential moving average of each track's
probabilities: smoothed = smooth x previous + (1 - smooth) x this read (0: none).
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from ..data.read import CLASS_NAMES
from ..detect.base import cv2_module, iou
from ..errors import DataError

MIN_IOU = 0.3   # a face continues a track when its box overlaps the track's last box this much
MAX_GAP = 3     # reads a track may go unseen (a missed detection, a turned head) and continue
SMOOTH = 0.5    # the weight of the past in the moving average: 0.5 halves a flicker's weight each read


@dataclass
class Track:
    id: int
    box: tuple
    probs: np.ndarray                       # smoothed
    first: int                              # frame numbers
    last: int
    last_read: int
    raw: list = field(default_factory=list)     # each read's probabilities, unsmoothed
    labels: list = field(default_factory=list)  # each read's smoothed label


class Tracker:
    """Gives each read's faces their tracks and smoothed probabilities (`update`)."""

    def __init__(self, smooth: float = SMOOTH, min_iou: float = MIN_IOU, max_gap: int = MAX_GAP):
        if not 0 <= smooth < 1:
            raise ValueError(f"smooth must be at least 0 and below 1, got {smooth}")
        self.smooth, self.min_iou, self.max_gap = smooth, min_iou, max_gap
        self.tracks: list[Track] = []
        self.reads = 0

    def update(self, frame: int, faces: list) -> list:
        """The faces (ferhw3.infer.photos.Face) of frame `frame`, as copies with `track` set and
        `probs` smoothed along their tracks."""
        read, self.reads = self.reads, self.reads + 1
        live = [t for t in self.tracks if read - t.last_read <= self.max_gap + 1]
        pairs = sorted(((iou(t.box, f.box), k, j) for k, t in enumerate(live) for j, f in enumerate(faces)), reverse=True)
        taken, of_face = set(), {}
        for overlap, k, j in pairs:
            if overlap >= self.min_iou and k not in taken and j not in of_face:
                taken.add(k)
                of_face[j] = live[k]
        out = []
        for j, face in enumerate(faces):
            t = of_face.get(j)
            if t is None:
                t = Track(len(self.tracks), face.box, face.probs.astype(np.float32), frame, frame, read)
                self.tracks.append(t)
            else:
                t.probs = self.smooth * t.probs + (1 - self.smooth) * face.probs
                t.box, t.last, t.last_read = face.box, frame, read
            t.raw.append(face.probs)
            t.labels.append(int(t.probs.argmax()))
            out.append(replace(face, probs=t.probs.copy(), track=t.id))
        return out

    def summary(self) -> list[dict]:
        """One row per track: its first and last frame, reads seen, the emotion it was most
        often labelled (smoothed) and its mean unsmoothed probabilities."""
        rows = []
        for t in self.tracks:
            mean = np.mean(t.raw, axis=0)
            rows.append(dict(track=t.id, first_frame=t.first, last_frame=t.last, frames_seen=len(t.raw),
                             emotion=CLASS_NAMES[Counter(t.labels).most_common(1)[0][0]], probs=mean))
        return rows


def frames(path: str, every: int, all_frames: bool = False):
    """(frame number, RGB frame, whether to read it) of a video OpenCV reads: frames 0,
    every, 2 x every, ...; with `all_frames` every frame (the others not to be read), as an
    annotated copy needs. Also the video's frames per second, first."""
    cv2 = cv2_module()
    video = cv2.VideoCapture(path)
    if not video.isOpened():
        raise DataError(f"{path}: not a video OpenCV can read")
    try:
        yield float(video.get(cv2.CAP_PROP_FPS) or 0) or 25.0
        n = 0
        ok, frame = video.read()
        if not ok:
            raise DataError(f"{path}: frame 0: no frame could be decoded")
        while ok:
            if all_frames or n % every == 0:
                yield n, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), n % every == 0
            n += 1
            if all_frames or n % every == 0:
                ok, frame = video.read()
            else:
                ok = video.grab()  # skipped frames are not decoded
    finally:
        video.release()


class AnnotatedVideo:
    """An .mp4 with each frame's latest faces drawn, written to a temporary file beside
    `path` and renamed onto it when complete (removed if not)."""

    def __init__(self, path: str, fps: float):
        self.path, self.fps, self.writer = path, fps, None
        base, ext = os.path.splitext(path)
        self.tmp = f"{base}.tmp-{os.getpid()}{ext or '.mp4'}"  # OpenCV picks the container by the suffix

    def write(self, rgb: np.ndarray, faces: list) -> None:
        from .photos import annotate

        cv2 = cv2_module()
        if self.writer is None:
            h, w = rgb.shape[:2]
            self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise DataError(f"{self.path}: OpenCV cannot write an .mp4 video here")
        picture = np.asarray(annotate(rgb, faces))
        self.writer.write(cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if self.writer is not None:
            self.writer.release()
        if kind is None and self.writer is not None:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)
        return False


@dataclass
class VideoFaces:
    frames: list      # (frame number, faces) of each read frame
    tracker: Tracker

    def summary(self) -> list[dict]:
        return self.tracker.summary()


def read_video(reader, path: str, every: int = 10, smooth: float = SMOOTH, annotated: str | None = None,
               on_read=None) -> VideoFaces:
    """Every `every`-th frame of the video read by `reader` (ferhw3.infer.photos.Recogniser), its
    faces tracked and smoothed; with `annotated`, an .mp4 of every frame with the latest
    read's faces drawn. `on_read(frame, faces)` is called after each read."""
    tracker, read = Tracker(smooth), []
    stream = frames(path, every, all_frames=annotated is not None)
    fps = next(stream)
    faces = []
    with AnnotatedVideo(annotated, fps) if annotated else contextlib.nullcontext() as out:
        for n, rgb, to_read in stream:
            if to_read:
                faces = tracker.update(n, reader.faces(rgb))
                read.append((n, faces))
                if on_read:
                    on_read(n, faces)
            if out:
                out.write(rgb, faces)
    return VideoFaces(read, tracker)
