"""int8 copies of the networks: post-training quantization with NNCF, calibrated on training faces.

    ferhw3 quantize models/NAME.h5 --data train.csv     # -> models/NAME.int8.xml/.bin/.json

The int8 model sits beside its `.h5` (`int8_files`) and records the `.h5`'s SHA-256: the
engine reads it only while it matches, so a retrained or replaced `.h5` never runs with a
stale int8 copy. The `.h5` stays the one source of each model.

The settings are those that kept the labels closest to float32's on the test faces
(bench/results_speed.md): NNCF's defaults (8-bit, per-channel weights, per-tensor
activations) with the full bias correction instead of the fast one, and the first
convolution and the classifier kept in float32 (the raw 0-255 grey input and the seven
scores are where a quantization step moves labels most). Calibration reads the faces as
prediction shows them: the whole face, the centre 40x40 window, and their mirrors.

NNCF is a tool for making these files (`pip install nncf`), not a dependency of prediction:
OpenVINO alone runs them.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .cache import file_hash

CALIBRATION_FACES = 1000  # faces of the training part, each in four views: 4,000 calibration inputs
CALIBRATION_SEED = 0
WINDOW = 40               # the centre window "center" TTA reads
SUFFIX = ".int8"


def int8_files(h5_path: str) -> tuple[str, str, str]:
    """(xml, bin, json) of the int8 copy of the model at `h5_path`."""
    stem = os.path.splitext(h5_path)[0] + SUFFIX
    return stem + ".xml", stem + ".bin", stem + ".json"


def int8_model(h5_path: str):
    """The int8 copy of `h5_path` as an openvino.Model, or None where there is none or it
    was made from another version of the file."""
    xml, _, meta_path = int8_files(h5_path)
    if not (os.path.isfile(xml) and os.path.isfile(meta_path)):
        return None
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("source_sha256") != file_hash(h5_path):
            return None
        from . import openvino

        return openvino().Core().read_model(xml)
    except (OSError, ValueError, RuntimeError):
        return None


def calibration_views(faces: np.ndarray) -> list[np.ndarray]:
    """Each face (N, 48, 48, 1) as prediction reads it: whole, the centre window, and the
    mirror of each; one array (1, side, side, 1) per calibration input."""
    x = np.asarray(faces, np.float32)
    o = (x.shape[1] - WINDOW) // 2
    views = [x, x[:, o:o + WINDOW, o:o + WINDOW, :]]
    views += [v[:, :, ::-1, :] for v in views]
    return [np.ascontiguousarray(v[i:i + 1]) for v in views for i in range(len(v))]


def kept_in_float32(model) -> list[str]:
    """The first and the last weighted operations (convolution or matrix product)."""
    weighted = [op.get_friendly_name() for op in model.get_ordered_ops()
                if op.get_type_name() in ("Convolution", "MatMul")]
    return sorted({weighted[0], weighted[-1]}) if weighted else []


def quantize(h5_path: str, faces: np.ndarray, source: str) -> list[str]:
    """Write the int8 copy of the `.h5` at `h5_path`, calibrated on `faces` (N, 48, 48, 1,
    0-255), each file through a temporary name and a rename; `source` says where the faces
    came from (kept in the metadata). Returns the files written."""
    import nncf

    from . import no_telemetry, openvino
    from .h5graph import build

    ov = openvino()
    model, _, _ = build(h5_path)
    items = calibration_views(faces)
    keep = kept_in_float32(model)
    with no_telemetry():
        quantized = nncf.quantize(model, nncf.Dataset(items), subset_size=len(items), fast_bias_correction=False,
                                  ignored_scope=nncf.IgnoredScope(names=keep))
    xml, binary, meta_path = int8_files(h5_path)
    tmp = f"{os.path.splitext(xml)[0]}.tmp-{os.getpid()}"
    meta = {"source": os.path.basename(h5_path), "source_sha256": file_hash(h5_path),
            "calibration": f"{len(faces):,} faces x 4 views (whole, centre {WINDOW}x{WINDOW}, mirrors) of {source}",
            "settings": {"fast_bias_correction": False, "kept_in_float32": keep},
            "nncf": nncf.__version__, "openvino": ov.__version__.split("-")[0]}
    try:
        ov.save_model(quantized, tmp + ".xml", compress_to_fp16=False)
        with open(tmp + ".json", "w") as f:
            json.dump(meta, f, indent=1)
        os.replace(tmp + ".xml", xml)
        os.replace(tmp + ".bin", binary)
        os.replace(tmp + ".json", meta_path)  # last: the copy counts only once it is whole
    finally:
        for ext in (".xml", ".bin", ".json"):
            if os.path.exists(tmp + ext):
                os.remove(tmp + ext)
    return [xml, binary, meta_path]


def calibration_faces(train_path: str, n: int = CALIBRATION_FACES, seed: int = CALIBRATION_SEED,
                      val_size: int = 2871, split_seed: int = 0) -> tuple[np.ndarray, str]:
    """`n` faces drawn (seed `seed`) from the training part of the project's split of a
    labelled CSV, never its validation faces; and a line saying so."""
    from ..data.read import load_faces, stratified_split

    data = load_faces(train_path, expect="train")
    train_rows, _ = stratified_split(data.labels, val_size, split_seed)
    rows = np.sort(np.random.default_rng(seed).choice(train_rows, min(n, len(train_rows)), replace=False))
    return data.x[rows], (f"{os.path.basename(train_path)}'s training part (the split's {val_size:,} validation "
                          f"faces left out, split seed {split_seed}), drawn with seed {seed}")
