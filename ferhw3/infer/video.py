"""Faces through a video: tracked from read to read, their probabilities smoothed over time
per track, summarised per track, and drawn into an annotated copy of the video.

    from ferhw3.infer.photos import Recogniser
    from ferhw3.infer.video import read_video
    tracks = read_video(Recogniser(), "clip.mp4", every=5, smooth=0.5)
    for frame, faces in tracks.frames: ...           # faces carry .track; probs smoothed
    for row in tracks.summary(): print(row)

A video's faces are followed from frame to frame (`Stream`, ferhw3.detect.follow) rather
than searched for in each frame as a photo's are; `video_faces` yields each frame's faces as
it is read (a camera or stream URL too, until it ends or is stopped).

Tracking matches each read's faces to the tracks of the reads before by box overlap (IoU,
greedily, best pair first); a face that matches none starts a track, and a track unseen for
more than `max_gap` reads ends. Smoothing is an exponential moving average of each track's
probabilities: smoothed = smooth x previous + (1 - smooth) x this read (0: none).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from queue import Full, Queue

import numpy as np

from ..data.read import CLASS_NAMES
from ..detect.base import cv2_module, iou
from ..errors import DataError

MIN_IOU = 0.3   # a face continues a track when its box overlaps the track's last box this much
MAX_GAP = 3     # reads a track may go unseen (a missed detection, a turned head) and continue
SMOOTH = 0.5    # the weight of the past in the moving average: 0.5 halves a flicker's weight each read
AHEAD = 4       # frames decoded ahead of the reading


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


def is_live(source) -> bool:
    """Whether `source` is a camera (its index: 0, 1, ...) or a stream URL (rtsp://, http://...),
    rather than a video file."""
    return isinstance(source, int) or str(source).isdigit() or "://" in str(source)


def open_video(source):
    """A cv2.VideoCapture of a video file, a camera index or a stream URL; a DataError
    naming it if OpenCV cannot open it."""
    cv2 = cv2_module()
    video = cv2.VideoCapture(int(source) if str(source).isdigit() else str(source))
    if not video.isOpened():
        what = "camera" if str(source).isdigit() else "stream" if "://" in str(source) else "video"
        video.release()
        raise DataError(f"{source}: not a {what} OpenCV can open")
    return video


def frames(path, every: int, all_frames: bool = False, ahead: int = AHEAD, info: dict | None = None):
    """(frame number, RGB frame, whether to read it) of a video file, camera or stream OpenCV
    opens: frames 0, every, 2 x every, ...; with `all_frames` every frame (the others not to
    be read), as an annotated copy needs. Also the video's frames per second, first. Frames
    are decoded in a thread of their own, up to `ahead` frames ahead of the reading (OpenCV
    decodes without holding Python's lock), so decoding overlaps the networks' work. (Finding
    the faces in that thread too, while the networks read the frame before, was slower on
    two cores: 62 frames/s against 86, each stage's OpenVINO calls taking both cores.)
    `info`, where given, gets the frames decoded ("decoded") and the frames the file's
    container lists ("listed"; 0 for a camera or stream) once the video has ended."""
    cv2 = cv2_module()
    video = open_video(path)
    listed = 0 if is_live(path) else max(0, int(video.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    info = {} if info is None else info
    queue, stop = Queue(maxsize=max(1, ahead)), threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                return queue.put(item, timeout=0.1)
            except Full:
                continue

    def decode():
        try:
            n = 0
            ok, frame = video.read()
            if not ok:
                put(DataError(f"{path}: frame 0: no frame could be decoded"))
            while ok and not stop.is_set():
                if all_frames or n % every == 0:
                    put((n, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), n % every == 0))
                n += 1
                if all_frames or n % every == 0:
                    ok, frame = video.read()
                else:
                    ok = video.grab()  # skipped frames are not decoded
            info.update(decoded=n, listed=listed)
        except Exception as e:  # noqa: BLE001  handed to the reading thread, which raises it
            put(e)
        put(None)

    worker = threading.Thread(target=decode, name="ferhw3-decode", daemon=True)
    try:
        yield float(video.get(cv2.CAP_PROP_FPS) or 0) or 25.0
        worker.start()
        while (item := queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        if worker.is_alive():
            worker.join()
        video.release()


class AnnotatedVideo:
    """An .mp4 with each frame's latest faces drawn, written to a temporary file beside
    `path` and renamed onto it when complete (removed if not)."""

    def __init__(self, path: str, fps: float):
        self.path, self.fps, self.writer = path, fps, None
        folder, name = os.path.split(path)
        base, ext = os.path.splitext(name)
        # hidden, as the CSV's temporaries are: a killed run leaves no file that looks like a video
        self.tmp = os.path.join(folder, f".{base}.tmp-{os.getpid()}{ext or '.mp4'}")  # OpenCV picks the container by the suffix

    def write(self, rgb: np.ndarray, faces: list) -> None:
        from .draw import annotate

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


class Stream:
    """Faces through consecutive frames of one stream, frame by frame (`update`): followed
    from frame to frame (ferhw3.detect.follow: a search of the whole frame a part at a time,
    and a look around each face already found), tracked and smoothed. With `thorough`, or a
    detector that cannot be followed, each frame is searched as a photo is."""

    def __init__(self, reader, smooth: float = SMOOTH, thorough: bool = False):
        from ..detect.follow import following

        self.reader, self.tracker = reader, Tracker(smooth)
        self.finder = None if thorough else following(reader.detector)
        self.frame = 0

    @property
    def mode(self) -> str:
        return "thorough" if self.finder is None else "followed"

    def update(self, image, frame: int | None = None) -> list:
        """The faces of the next frame (`image`: as Recogniser.faces takes it), each with its
        track and its probabilities smoothed along it; `frame`: its number (default: counted)."""
        frame = self.frame if frame is None else frame
        self.frame = frame + 1
        return self.tracker.update(frame, self.reader.faces(image, detector=self.finder))


@dataclass
class VideoFaces:
    frames: list      # (frame number, faces) of each read frame
    tracker: Tracker
    decoded: int = 0  # the frames the video had
    listed: int = 0   # the frames its container lists (0: not said); more than decoded: cut short

    @property
    def cut_short(self) -> bool:
        return self.decoded < self.listed - 1  # containers may list one frame they do not hold

    def summary(self) -> list[dict]:
        return self.tracker.summary()


def video_faces(stream: Stream, path, every: int = 10, annotated: str | None = None,
                stop: threading.Event | None = None, info: dict | None = None):
    """(frame number, faces) of every `every`-th frame of a video file, camera or stream URL,
    as each frame is read by `stream` (a Stream of a Recogniser: faces followed, tracked and
    smoothed); with `annotated`, an .mp4 of every frame with the latest read's faces drawn.
    Once `stop` is set the reading ends as at the stream's end (what was read kept, the
    annotated copy complete up to there): how a camera is stopped. `info`: as `frames` fills
    it (a video that ended before the frames its container lists was cut short)."""
    source = frames(path, every, all_frames=annotated is not None, info=info)
    fps = next(source)
    faces = []
    with AnnotatedVideo(annotated, fps) if annotated else contextlib.nullcontext() as out:
        for n, rgb, to_read in source:
            if stop is not None and stop.is_set():
                source.close()
                break
            if to_read:
                faces = stream.update(rgb, n)
                yield n, faces
            if out:
                out.write(rgb, faces)


def read_video(reader, path, every: int = 10, smooth: float = SMOOTH, annotated: str | None = None,
               on_read=None, thorough: bool = False) -> VideoFaces:
    """Every `every`-th frame of the video read by `reader` (`video_faces`), collected: each
    read frame's faces, the tracks and their summary. `on_read(frame, faces)` is called after
    each read."""
    stream, read, info = Stream(reader, smooth, thorough), [], {}
    for n, faces in video_faces(stream, path, every, annotated, info=info):
        read.append((n, faces))
        if on_read:
            on_read(n, faces)
    return VideoFaces(read, stream.tracker, info.get("decoded", 0), info.get("listed", 0))
