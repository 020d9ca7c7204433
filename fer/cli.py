"""What the command-line scripts share: quiet TensorFlow, one-line errors, run options."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

# Set before TensorFlow is imported anywhere: hide its C++ start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from .data import DataError  # noqa: E402


def quiet_tensorflow() -> None:
    """Import TensorFlow with stderr muted: its C++ start-up lines (oneDNN notices) are
    printed before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
    Under another Keras backend (KERAS_BACKEND=jax on a GPU machine without TensorFlow) it
    does nothing."""
    if "tensorflow" in sys.modules or os.environ.get("KERAS_BACKEND") != "tensorflow":
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class UsageError(Exception):
    """A bad command-line value or missing model: reported like DataError."""


def take_faces(faces, limit: int, cfg, path: str):
    """Keep the first `limit` faces (0: all), and check that the validation split can be
    drawn from what is left and leaves a batch to train on, so a bad --limit, --val-size or
    --batch-size fails here in one line."""
    from .data import stratified_split

    if limit:
        faces.x, faces.labels = faces.x[:limit], faces.labels[:limit]
    try:
        tr, _ = stratified_split(faces.labels, cfg.val_size, cfg.seed)
    except ValueError as e:
        raise UsageError(f"{path}: --val-size {cfg.val_size:g} cannot be held out of its {len(faces):,} faces "
                         f"({str(e).splitlines()[0]})") from None
    if len(tr) < cfg.batch_size:
        raise UsageError(f"{path}: --batch-size {cfg.batch_size} is larger than the {len(tr):,} training faces "
                         f"left after the validation split")
    return faces


def main_guard(fn):
    """Run `fn()`; turn expected failures into one line on stderr and exit code 2."""
    try:
        return fn()
    except (DataError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}" if str(e) else "interrupted", file=sys.stderr)
        sys.exit(130)


def add_run_options(p: argparse.ArgumentParser, defaults, skip: tuple = ()) -> None:
    """One option per field of train.Config (`--batch-size`, `--lr`, ...), except `skip`."""
    for f in fields(defaults):
        if f.name == "extra" or f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            p.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes", "on"), default=value,
                           metavar="BOOL", help=f"(default {value})")
        else:
            p.add_argument(flag, type=type(value), default=value, help=f"(default {value})")


def config_from(args, cls):
    """The Config of the parsed options (fields without an option keep their defaults),
    checked: a value that cannot work is a UsageError before any data is read."""
    cfg = cls(**{f.name: getattr(args, f.name) for f in fields(cls) if f.name != "extra" and hasattr(args, f.name)})
    try:
        cfg.check()
    except ValueError as e:
        raise UsageError(str(e)) from None
    return cfg


def check_output_path(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{path}: cannot create output folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{path}: output folder {folder} is not writable")


def load_model(path: str):
    """A saved .h5/.keras model for inference, or a UsageError naming the file."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: model file not found")
    quiet_tensorflow()
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # h5py/zip errors differ by format; the message is what matters
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{path}: cannot load model ({first[:120]})") from None
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or shape[2] != 1 or any(s not in (None, 48) for s in shape[:2]):
        raise UsageError(f"{path}: model expects input {shape}, not 48x48 grey faces (48, 48, 1)")
    return model
