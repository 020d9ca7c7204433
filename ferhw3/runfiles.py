"""The files of a training run, and the one place that knows their names and formats.

For `--out runs/vgg-bn.h5` (the model path may end in .h5 or .keras):

    runs/vgg-bn.h5             the best epoch's model (by validation accuracy)
    runs/vgg-bn.history.csv    one row per epoch (Keras CSVLogger, plus `minutes`)
    runs/vgg-bn.last.keras     the latest epoch with its optimizer state, for --resume
    runs/vgg-bn.last.json      that checkpoint's epoch and config
    runs/vgg-bn.config.json    the run's recipe, overrides, config, command and result

Every write goes through a temporary file in the same folder (unique to the process) and
a rename, so a kill at any instant leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile

MODEL_SUFFIXES = (".h5", ".keras")


def stem_of(path: str) -> str:
    """The model path without its model suffix: what the run's other files are named from."""
    for suffix in MODEL_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _temporary(path: str, suffix: str = "") -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=f".tmp{suffix}",
                               dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    return tmp


def replace_atomically(path: str, write, suffix: str = "") -> None:
    """Call write(temporary path), flush it to disk, then rename it over `path`."""
    tmp = _temporary(path, suffix)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model, path: str) -> None:
    """model.save(path) through a temporary file (Keras picks the format by the suffix)."""
    replace_atomically(path, model.save, suffix=os.path.splitext(path)[1])


def write_json(path: str, obj) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
    replace_atomically(path, write)


def read_json(path: str):
    """The JSON object in `path`, or None if it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class RunFiles:
    """The paths and records of the run whose best model is `out`."""

    def __init__(self, out: str):
        self.out = out
        self.stem = stem_of(out)
        self.history = f"{self.stem}.history.csv"
        self.checkpoint = f"{self.stem}.last.keras"
        self.state_path = f"{self.stem}.last.json"
        self.config_path = f"{self.stem}.config.json"

    # the latest checkpoint (resume)
    def has_checkpoint(self) -> bool:
        return os.path.exists(self.checkpoint) and os.path.exists(self.state_path)

    def state(self) -> dict | None:
        return read_json(self.state_path)

    def checkpoint_epoch(self) -> int:
        s = self.state()
        return int(s["epoch"]) if s else 0

    def save_checkpoint(self, model, epoch: int, config: dict, logs: dict) -> None:
        save_model(model, self.checkpoint)
        write_json(self.state_path, {"epoch": epoch, "config": config,
                                     "logs": {k: float(v) for k, v in (logs or {}).items()}})

    # the per-epoch history
    def read_history(self):
        """The history written so far as a DataFrame, or None."""
        import pandas as pd

        try:
            h = pd.read_csv(self.history)
        except (OSError, ValueError):
            return None
        return h if len(h) else None

    def minutes_spent(self) -> float:
        """Training minutes the run has spent: the last `minutes` of its history (0 without)."""
        h = self.read_history()
        return float(h["minutes"].iloc[-1]) if h is not None and "minutes" in h else 0.0

    def truncate_history(self, epochs: int) -> None:
        """Drop history rows past the checkpoint (a kill can land between the two writes)."""
        h = self.read_history()
        if h is not None:
            replace_atomically(self.history, lambda tmp: h[h["epoch"] < epochs].to_csv(tmp, index=False))

    # the run's record
    def record(self) -> dict | None:
        return read_json(self.config_path)

    def write_record(self, record: dict) -> None:
        write_json(self.config_path, record)

    def split(self) -> tuple[int, float] | None:
        """(seed, val_size) of the validation split the model was chosen on, if recorded."""
        cfg = (self.record() or {}).get("config")
        return (int(cfg["seed"]), float(cfg["val_size"])) if cfg else None

    def faces_seen(self) -> int | None:
        """How many labelled faces the run was drawn from (its split's whole), if recorded."""
        return (self.record() or {}).get("n_faces")


def init_chain(model_path: str) -> list[tuple[str, str, int]]:
    """[(label, history CSV, epochs before it)] for a model and the models it continued from
    (`init` in each run record), oldest first: a continued run's curves follow its start's."""
    chain, path = [], model_path
    while path and os.path.exists(RunFiles(path).history) and path not in [p for p, _ in chain]:
        run = RunFiles(path)
        chain.insert(0, (path, run.history))
        init = (run.record() or {}).get("init")
        path = os.path.join(os.path.dirname(path), os.path.basename(init)) if init else None
    out, before = [], 0
    for path, csv in chain:
        out.append((os.path.basename(stem_of(path)), csv, before))
        h = RunFiles(path).read_history()
        before += 0 if h is None else len(h)
    return out
