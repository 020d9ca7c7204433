"""Faces packed small enough to travel: WebP mosaics of 64 x 64 faces in one `.npz`.

    python -m ferhw3 pack train.csv.gz runs/gpu/train.faces.npz --max-mib 26

A GPU machine that receives the repository with its data has a size limit: the 28,709
labelled faces take 66 MB as pixels, 77 MB as train.csv.gz, 49.6 MiB as lossless WebP and
32.2 / 27.2 MiB as WebP at quality 95 / 90 (mean error 0.9 / 1.4 grey levels). `pack`
writes lossless when it fits `max_mib`, else the highest quality that does, and says
which; `ferhw3.data.read.load_faces` reads the pack like a CSV, in the same order, with the
same labels, so the project's split is the same faces.
"""

from __future__ import annotations

import io
import os
import sys

import numpy as np

from ..errors import DataError
from ..runfiles import replace_atomically
from .faces import Faces

TILE = 64                                  # faces per mosaic side: 3072 x 3072 pixels
QUALITIES = (None, 98, 95, 92, 90, 85, 80)  # None: lossless; tried in this order


def _mosaics(x: np.ndarray):
    per = TILE * TILE
    side = x.shape[1]
    for s in range(0, len(x), per):
        b = x[s:s + per, :, :, 0]
        b = np.concatenate([b, np.zeros((per - len(b), side, side), np.uint8)])
        yield b.reshape(TILE, TILE, side, side).transpose(0, 2, 1, 3).reshape(TILE * side, TILE * side)


def _encode(x: np.ndarray, quality) -> list[bytes]:
    from PIL import Image

    out = []
    for m in _mosaics(x):
        buf = io.BytesIO()
        kw = dict(lossless=True, quality=100, method=6) if quality is None else dict(quality=quality, method=6)
        Image.fromarray(m).save(buf, "WEBP", **kw)
        out.append(buf.getvalue())
    return out


def pack(faces: Faces, path: str, max_mib: float = 0.0, quality=None, verbose: bool = True) -> dict:
    """Write `faces` (labelled or not) to `path` (.npz): lossless if that fits `max_mib` (0: no
    limit), else the highest quality of QUALITIES that does, unless `quality` fixes it.
    Returns {quality, bytes, mean_abs_error}."""
    tries = (quality,) if quality is not None else QUALITIES
    if max_mib and quality is None and len(faces) > 2 * TILE * TILE:
        # one mosaic in every few predicts the whole: start at the best quality it says fits
        sample = faces.x[::max(1, len(faces) // (TILE * TILE))][:TILE * TILE]
        share = len(faces) / len(sample)
        fits = [q for q in QUALITIES if share * len(_encode(sample, q)[0]) <= 0.97 * max_mib * 2 ** 20]
        tries = QUALITIES[QUALITIES.index(fits[0]):] if fits else QUALITIES[-1:]
    for q in tries:
        blobs = _encode(faces.x, q)
        size = sum(map(len, blobs))
        if not max_mib or size <= max_mib * 2 ** 20 or q == tries[-1]:
            break
        if verbose:
            print(f"pack: {'lossless' if q is None else f'quality {q}'} is {size / 2 ** 20:.1f} MiB, over "
                  f"{max_mib:g}", file=sys.stderr)
    if max_mib and size > max_mib * 2 ** 20:
        raise DataError(f"{path}: the faces do not fit {max_mib:g} MiB even at quality {q} "
                        f"({size / 2 ** 20:.1f} MiB)")
    arrays = dict(blobs=np.frombuffer(b"".join(blobs), np.uint8), offsets=np.cumsum([0] + [len(b) for b in blobs]),
                  n=np.array(len(faces)), side=np.array(faces.x.shape[1]), quality=np.array(q or 0))
    arrays["labels" if faces.labels is not None else "ids"] = faces.labels if faces.labels is not None \
        else faces.ids
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    replace_atomically(path, write)
    back = unpack(path)
    err = float(np.abs(back.x.astype(np.int16) - faces.x).mean())
    return dict(quality="lossless" if q is None else q, bytes=os.path.getsize(path), mean_abs_error=err)


def is_pack(path: str) -> bool:
    return path.endswith(".npz")


def unpack(path: str) -> Faces:
    """The faces of a pack written by `pack`."""
    from PIL import Image

    try:
        with np.load(path) as z:
            blobs, offsets, n, side = z["blobs"], z["offsets"], int(z["n"]), int(z["side"])
            labels = z["labels"].astype(np.int64) if "labels" in z else None
            ids = z["ids"].astype(np.int64) if "ids" in z else None
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path}: not a face pack ({str(e).splitlines()[0][:100]})") from None
    tiles = []
    for a, b in zip(offsets[:-1], offsets[1:]):
        m = np.asarray(Image.open(io.BytesIO(blobs[a:b].tobytes())).convert("L"))
        tiles.append(m.reshape(TILE, side, TILE, side).transpose(0, 2, 1, 3).reshape(-1, side, side))
    x = np.concatenate(tiles)[:n, :, :, None]
    return Faces(x=np.ascontiguousarray(x), labels=labels, ids=ids, path=path)
