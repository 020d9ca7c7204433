"""Every prediction file the project writes, in one place: the Kaggle submission (`id,label`),
the labels of image files (`file,label,probabilities`) and the faces found in photos and
videos (one row a face). Each is written all or nothing, through a temporary file and a
rename (or straight into a special file the user named: /dev/stdout, a FIFO)."""

from __future__ import annotations

import os

import numpy as np

from ..data.read import CLASS_NAMES
from ..errors import DataError

FACE_COLUMNS = ("file", "frame", "face", "track", "x", "y", "w", "h", "label", "emotion") + CLASS_NAMES
TRACK_COLUMNS = ("file", "track", "first_frame", "last_frame", "frames_seen", "emotion") + CLASS_NAMES


def csv_field(text: str) -> str:
    """`text` as one CSV field: quoted (quotes doubled) where a comma, quote or line end needs it."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv_atomic(path: str, header: str, rows, flush: bool = False) -> None:
    """Write `header` then one line per row (an iterable of str), all or nothing: through a
    temporary file and a rename, or straight into a special file the user named (/dev/stdout,
    a FIFO); with `flush`, each row reaches the file as it comes (a camera's rows)."""
    from ..runfiles import replace_atomically

    def write(target):
        with open(target, "w", newline="\n") as f:
            f.write(header + "\n")
            for row in rows:
                f.write(row + "\n")
                if flush:
                    f.flush()

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise DataError(f"{path}: output folder {directory} does not exist")
    try:
        if os.path.exists(path) and not os.path.isfile(path):
            write(path)
        else:
            replace_atomically(path, write)
    except OSError as e:
        raise DataError(f"{path}: cannot write: {e.strerror}") from None


def submission(ids: np.ndarray, labels: np.ndarray, probs: np.ndarray | None = None):
    """(header, rows) of the Kaggle `id,label` CSV in the given id order; with `probs`, the
    seven class probabilities follow as columns named by class."""
    if probs is None:
        return "id,label", (f"{i},{l}" for i, l in zip(ids.tolist(), labels.tolist()))
    return (",".join(("id", "label") + CLASS_NAMES),
            (f"{i},{l}," + ",".join(f"{q:.4f}" for q in p) for i, l, p in zip(ids.tolist(), labels.tolist(), probs)))


def image_labels(names: list[str], labels: np.ndarray, probs: np.ndarray):
    """(header, rows) of image files' labels: `file,label,probabilities` (the seven, space-separated)."""
    return "file,label,probabilities", (f"{csv_field(n)},{l},{' '.join(f'{q:.4f}' for q in p)}"
                                        for n, l, p in zip(names, labels, probs))


def write_submission(path: str, ids: np.ndarray, labels: np.ndarray) -> None:
    """The Kaggle `id,label` CSV, in the given id order."""
    write_csv_atomic(path, *submission(ids, labels))


def write_image_labels(path: str, names: list[str], labels: np.ndarray, probs: np.ndarray) -> None:
    """Image files' labels: `file,label,probabilities` (the seven, space-separated)."""
    write_csv_atomic(path, *image_labels(names, labels, probs))


def face_rows(name: str, frame, faces) -> list[str]:
    """The rows of one picture (a photo, or frame `frame` of a video): one per face found
    (`ferhw3.infer.photos.Face`), or one with an empty box when none was; `track` is empty
    outside videos."""
    frame = "" if frame is None else str(frame)
    if not faces:
        return [",".join([csv_field(name), frame] + [""] * (len(FACE_COLUMNS) - 2))]
    return [",".join([csv_field(name), frame, str(i), "" if f.track is None else str(f.track), *map(str, f.box),
                      str(f.label), f.emotion,
                      *(f"{p:.4f}" for p in f.probs)]) for i, f in enumerate(faces)]


def write_faces(path: str, rows, flush: bool = False) -> None:
    """The faces found in photos and videos: FACE_COLUMNS, rows from `face_rows`."""
    write_csv_atomic(path, ",".join(FACE_COLUMNS), rows, flush)


def write_tracks(path: str, rows) -> None:
    """The faces tracked through videos: TRACK_COLUMNS, one row per (file, summary row of
    ferhw3.infer.video.Tracker.summary)."""
    write_csv_atomic(path, ",".join(TRACK_COLUMNS), (
        ",".join([csv_field(name), str(r["track"]), str(r["first_frame"]), str(r["last_frame"]),
                  str(r["frames_seen"]), r["emotion"], *(f"{p:.4f}" for p in r["probs"])]) for name, r in rows))
