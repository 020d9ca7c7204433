"""The command-line layer: what the scripts and `python -m ferhw3` share (one-line errors
and exit codes, recipes from options, outputs checked before any work). The library below
it never imports it; its errors say what is wrong and this layer names the flag.
"""

from __future__ import annotations

import os
import sys

from ..errors import DataError, SettingError, UsageError  # noqa: F401
from ..infer.modelfile import load_model, quiet_tensorflow  # noqa: F401  (the scripts' imports)

DEBUG_ENV = "FERHW3_DEBUG"  # set to 1 for the traceback of an unexpected error
# the settings that have a flag of their own (train_cnn.py, train_dnn.py)
FLAGS = {"val_size": "--val-size", "batch_size": "--batch-size", "limit": "--limit", "epochs": "--epochs",
         "minutes": "--minutes", "lr": "--lr", "seed": "--seed", "arch": "--arch", "precision": "--precision"}


def flagged(e: SettingError) -> UsageError:
    """A library's SettingError as the command line says it: its flag where it has one."""
    flag = FLAGS.get(e.field)
    return UsageError(e.text(f"{flag} {e.value}") if flag else str(e))


def main_guard(fn):
    """Run `fn()`; turn expected failures into one line on stderr and exit code 2, and any
    other exception into one line and exit code 1 (FERHW3_DEBUG=1: the traceback instead)."""
    try:
        return fn()
    except SettingError as e:
        print(f"error: {flagged(e)}", file=sys.stderr)
        sys.exit(2)
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
    from ..train import recipes
    from ..train.config import make_config, parse_sets

    try:
        base = recipes.get(recipe).settings
        overrides = {**parse_sets(sets), **{k: v for k, v in flags.items() if v is not None}}
        cfg = make_config(base, overrides)
    except (KeyError, ValueError) as e:
        raise UsageError(e.args[0]) from None
    shown = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}
    return cfg, {"recipe": recipe, "overrides": shown}


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


def already_finished(out: str, cfg, init: str | None, resume: bool, same: dict | None = None) -> bool:
    """With --resume, a run that already ended with these settings (and the record fields
    `same`) is reported in one line and not started again (no model to build, no faces to read)."""
    from ..runfiles import RunFiles

    rec = RunFiles(out).finished(cfg.to_dict(), init) if resume else None
    rec = rec if rec and all(rec.get(k) == v for k, v in (same or {}).items()) else None
    if rec:
        print(f"DONE {out}: finished before (val_accuracy={rec.get('val_accuracy', float('nan')):.4f} "
              f"epochs={rec.get('epochs_run')}); nothing to train")
    return bool(rec)


def check_run_output(out: str, inputs=()) -> None:
    """check_output_path for every file a training run writes (ferhw3.runfiles), and a model
    suffix Keras can save."""
    from ..runfiles import MODEL_SUFFIXES, RunFiles

    if not out.endswith(MODEL_SUFFIXES):
        raise UsageError(f"{out}: --out must end in .h5 or .keras (the model's format)")
    for path in RunFiles(out).paths():
        check_output_path(path, inputs)
