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

import contextlib
import errno
import json
import os
import shutil
import tempfile

from .errors import NoRoomError, UsageError

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


def real_target(path: str) -> str:
    """Where writing `path` lands: a symbolic link's target (followed to the end), so that
    the rename replaces the file the link points to and the link stays a link."""
    return os.path.realpath(path) if os.path.islink(path) else path


def file_mode(path: str) -> int:
    """The permissions a file written at `path` gets: the file's own where it exists, else
    what open() would give a new one (0666 less the umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def replace_atomically(path: str, write, suffix: str = "") -> None:
    """Call write(temporary path), flush it to disk, then rename it over `path` (over the
    target of `path` when it is a symbolic link: the link is kept)."""
    path = real_target(path)
    tmp = _temporary(path, suffix)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode(path))  # mkstemp's file is private (0600): give it the mode the file would have
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_ROOM_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
# how HDF5 and zip writers word the same failures when they do not pass the errno on
_ROOM_WORDS = ("no space left", "file too large", "disk quota", "errno = 27", "errno = 28", "errno = 122")


def is_out_of_room(e: BaseException) -> bool:
    """Whether `e` says the disk is full or a file-size limit (ulimit -f, quota) was reached."""
    return getattr(e, "errno", None) in _ROOM_ERRNOS or any(w in str(e).lower() for w in _ROOM_WORDS)


def _room_left(folder: str) -> float:
    """Bytes this process may still write into a file in `folder`: the free space there and
    the file-size limit, whichever is smaller."""
    import resource

    st = os.statvfs(folder)
    room = float(st.f_bavail * st.f_frsize)
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return room if soft == resource.RLIM_INFINITY else min(room, float(soft))


def ensure_room(path: str, nbytes: int) -> None:
    """NoRoomError before writing `nbytes` to `path` where they cannot fit: HDF5, once a write
    fails half-way, can take the whole process down instead of raising."""
    folder = os.path.dirname(os.path.abspath(real_target(path)))
    if _room_left(folder) < nbytes:
        raise NoRoomError(f"{path}: the disk is full (or a file-size limit was reached): {nbytes / 2**20:.1f} MiB "
                          f"needed; the previous file is intact")


def _model_bytes(model) -> int:
    """About how large a saved `model` is: its variables and its optimizer's, plus room for
    the layer configuration."""
    import numpy as np

    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    variables += list(getattr(optimizer, "variables", []) or [])
    n = 0
    for v in variables:
        try:
            n += int(np.prod(v.shape)) * np.dtype(str(v.dtype)).itemsize
        except TypeError:  # a dtype numpy does not name (bfloat16): two bytes
            n += int(np.prod(v.shape)) * 2
    return n + (256 << 10)


def save_model(model, path: str) -> None:
    """model.save(path) through a temporary file (Keras picks the format by the suffix),
    after checking there is room for it (NoRoomError, the old file intact)."""
    existing = os.path.getsize(path) if os.path.isfile(path) else 0
    ensure_room(path, max(existing, _model_bytes(model)))
    try:
        replace_atomically(path, model.save, suffix=os.path.splitext(path)[1])
    except (OSError, RuntimeError) as e:
        if is_out_of_room(e):
            raise NoRoomError(f"{path}: the disk is full (or a file-size limit was reached); the previous file "
                              f"is intact") from None
        raise


def copy_file(src: str, dst: str) -> None:
    """shutil.copyfile(src, dst) through a temporary file and a rename."""
    replace_atomically(dst, lambda tmp: shutil.copyfile(src, tmp), suffix=os.path.splitext(dst)[1])


def write_json(path: str, obj) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
    replace_atomically(path, write)


def write_text(path: str, text: str) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    replace_atomically(path, write)


def read_json(path: str):
    """The JSON object in `path`, or None if it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def exclusive(lock_path: str, busy):
    """Hold the lock file `lock_path` (an flock that the system releases when the process
    dies, holding this process's id) for the block; while another process holds it, a
    UsageError with busy(its process id) is raised instead."""
    import fcntl

    os.makedirs(os.path.dirname(os.path.abspath(lock_path)), exist_ok=True)
    while True:
        f = open(lock_path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            other = f.read().strip() or "unknown"
            f.close()
            raise UsageError(busy(other)) from None
        try:  # the holder before us may have removed the file between our open and flock
            if os.stat(lock_path).st_ino == os.fstat(f.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        f.close()
    f.seek(0), f.truncate(), f.write(str(os.getpid())), f.flush()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        f.close()


def lock_holder(lock_path: str) -> str | None:
    """The process id that `exclusive` wrote in `lock_path` while that process still holds
    the lock; None for no file or a stale one (its process gone: the system released it)."""
    import fcntl

    try:
        f = open(lock_path)
    except OSError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return f.read().strip() or "unknown"
        fcntl.flock(f, fcntl.LOCK_UN)
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
        self.lock_path = f"{self.stem}.lock"

    def paths(self) -> list[str]:
        """Every file the run writes."""
        return [self.out, self.history, self.checkpoint, self.state_path, self.config_path, self.lock_path]

    def lock(self):
        """Hold the run's lock (STEM.lock): a second training with the same OUT is refused
        with the first one's process id."""
        return exclusive(self.lock_path, lambda pid: f"{self.out}: another training (process {pid}) is writing "
                                                     f"this run; wait for it, or choose another --out")

    def refuse_if_busy(self) -> None:
        """The refusal `lock` gives while another process trains this run, now, without
        keeping the lock (for a check before slow work)."""
        if os.path.exists(self.lock_path):
            with self.lock():
                pass

    @contextlib.contextmanager
    def saving(self, what: str):
        """Writes of the run's files inside this block that find no room end the run with one
        line that says what is kept and how to go on."""
        try:
            yield
        except NoRoomError:
            raise NoRoomError(self.no_room_message(what)) from None
        except (OSError, RuntimeError) as e:
            if not is_out_of_room(e):
                raise
            raise NoRoomError(self.no_room_message(what)) from None

    def no_room_message(self, what: str) -> str:
        return (f"{self.out}: the disk is full (or a file-size limit was reached) while saving {what}; the previous "
                f"checkpoint and best model are intact; free space and rerun with --resume")

    # the latest checkpoint (resume)
    def has_checkpoint(self) -> bool:
        return os.path.exists(self.checkpoint) and os.path.exists(self.state_path)

    def state(self) -> dict | None:
        return read_json(self.state_path)

    def checkpoint_epoch(self) -> int:
        s = self.state()
        return int(s["epoch"]) if s else 0

    def save_checkpoint(self, model, epoch: int, config: dict, logs: dict) -> None:
        with self.saving("the checkpoint"):
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
            with self.saving("the history"):
                replace_atomically(self.history, lambda tmp: h[h["epoch"] < epochs].to_csv(tmp, index=False))

    # the run's record
    def record(self) -> dict | None:
        return read_json(self.config_path)

    def write_record(self, record: dict) -> None:
        with self.saving("the run record"):
            write_json(self.config_path, record)

    def finished(self, config: dict, init: str | None = None) -> dict | None:
        """The run record if this run already ended with `config` (and `init`): every epoch
        trained and the best model saved, so that a --resume has nothing to do. Self-training
        runs, whose record is written before their last stage, never count as finished here."""
        rec, state = self.record(), self.state()
        if not (rec and state and os.path.exists(self.out)) or config.get("self_train"):
            return None
        done = min(int(rec.get("epochs_run", 0)), int(state.get("epoch", 0)))

        def settings(c):  # the precision aside: a run continues in either (ferhw3.train.step.for_this_machine)
            return {k: v for k, v in (c or {}).items() if k != "precision"}

        same = settings(rec.get("config")) == settings(config) == settings(state.get("config")) and rec.get("init") == init
        return rec if same and done >= int(config["epochs"]) else None

    def split(self) -> tuple[int, float] | None:
        """(seed, val_size) of the validation split the model was chosen on, if recorded."""
        cfg = (self.record() or {}).get("config")
        if not cfg:
            return None
        seed = cfg["split_seed"] if cfg.get("split_seed", -1) >= 0 else cfg["seed"]
        return int(seed), float(cfg["val_size"])

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
