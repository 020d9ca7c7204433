"""What the command-line scripts share: quiet TensorFlow, one-line errors, run options."""

from __future__ import annotations

import os
import sys

# Set before TensorFlow is imported anywhere: hide its C++ chatter, errors included (tf.data
# logs an "E" line about an unknown attribute at every run's start; a failing op still raises).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from .errors import DataError, UsageError  # noqa: E402,F401

DEBUG_ENV = "FERHW3_DEBUG"  # set to 1 for the traceback of an unexpected error


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


def take_faces(faces, limit: int, cfg, path: str):
    """Keep the first `limit` faces (0: all), and check that the validation split can be
    drawn from what is left and leaves a batch to train on, so a bad --limit, --val-size or
    --batch-size fails here in one line."""
    from .data import stratified_split

    if limit < 0:
        raise UsageError(f"--limit {limit}: must be >= 0 (0: all the faces)")
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
    """Run `fn()`; turn expected failures into one line on stderr and exit code 2, and any
    other exception into one line and exit code 1 (FERHW3_DEBUG=1: the traceback instead)."""
    try:
        return fn()
    except (DataError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}" if str(e) else "interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # the reader of our output left (e.g. `| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as e:  # noqa: BLE001  the last resort: still one line, no traceback
        if os.environ.get(DEBUG_ENV):
            raise
        text = " ".join(str(e).split())[:200] or "no message"
        print(f"error: unexpected {type(e).__name__}: {text} ({DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
        sys.exit(1)


def config_from(recipe: str, sets, flags: dict):
    """The checked Config of recipe `recipe`, then the `--set key=value` strings, then the
    dedicated options that were given (`flags`, None for those that were not); with the
    recipe's name and the overrides, for the run record. A bad value is a UsageError."""
    from . import recipes
    from .config import make_config, parse_sets

    try:
        base = recipes.get(recipe).settings
        overrides = {**parse_sets(sets), **{k: v for k, v in flags.items() if v is not None}}
        cfg = make_config(base, overrides)
    except (KeyError, ValueError) as e:
        raise UsageError(e.args[0]) from None
    shown = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}
    return cfg, {"recipe": recipe, "overrides": shown}


def csv_field(text: str) -> str:
    """`text` as one CSV field: quoted (quotes doubled) where a comma, quote or line end needs it."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(path: str, inputs=()) -> None:
    """Refuse, before any work, an output that cannot or must not be written: a folder, one
    of the `inputs` (the same file, also through a link or another path), or a place whose
    folder cannot be created or written. Special files (/dev/stdout, a FIFO) are allowed."""
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a folder; give the output a file name")
    for i in inputs:
        if i and os.path.exists(path) and _same_file(path, i):
            raise UsageError(f"{path}: is also an input ({i}); writing it would destroy it, choose another output")
    if os.path.exists(path) and not os.path.isfile(path):
        return  # a device or a FIFO the user named: written straight into
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{path}: cannot create output folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{path}: output folder {folder} is not writable")


def check_run_output(out: str, inputs=()) -> None:
    """check_output_path for every file a training run writes (ferhw3.runfiles), and a model
    suffix Keras can save."""
    from .runfiles import MODEL_SUFFIXES, RunFiles

    if not out.endswith(MODEL_SUFFIXES):
        raise UsageError(f"{out}: --out must end in .h5 or .keras (the model's format)")
    for path in RunFiles(out).paths():
        check_output_path(path, inputs)


def load_model(path: str):
    """A saved .h5/.keras model for inference, or a UsageError naming the file."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: model file not found")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a folder, not a model file (.h5 or .keras)")
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
    if tuple(model.output_shape[1:]) != (7,):
        raise UsageError(f"{path}: model has output {tuple(model.output_shape[1:])}, not the 7 expression classes")
    return model
