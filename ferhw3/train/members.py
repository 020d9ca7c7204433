"""A queue of ensemble members: a file of recipes, trained one after another (or several
at a time on a GPU), each run resumable, its progress readable at any moment.

A queue file has one member a line, `NAME RECIPE [KEY=VALUE ...]` (the recipe's fields
changed as with `train_cnn.py --set`, and `init=MODEL` for `--init`: a start, possibly an
earlier member of the queue); `#` starts a comment:

    # name              recipe          overrides
    resnet-affine       resnet-affine   minutes=150
    resnet_all-faces    resnet-affine   init=runs/members/resnet-affine.h5 epochs=8 lr=0.005 val_size=0
    vgg-mixup           gpu-300-affine  mixup=0.2 epochs=150

Each member is a train_cnn.py run whose files live in the queue's work folder
(`ferhw3.runfiles`: WORK/NAME.h5, its history, checkpoint and record). A member is done
when its record is written (train_cnn.py writes it when the run ends: all its epochs,
early stopping or its time budget), and its float16 copy then goes to the queue's output
folder with its record and history, ready to commit.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..runfiles import RunFiles, lock_holder

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Member:
    name: str
    recipe: str
    sets: tuple = ()   # "key=value" strings, as train_cnn.py --set takes them
    line: int = 0
    init: str = ""     # a model to start from (train_cnn.py --init)


def member_config(recipe: str, sets: tuple):
    """The training config a queue line asks for: its recipe with its settings (KeyError,
    ValueError where the line is wrong)."""
    from . import recipes
    from .config import make_config, parse_sets

    return make_config(recipes.get(recipe).settings, parse_sets(sets))


def planned_epochs(member: Member) -> int | None:
    """The epochs a member's recipe and settings ask for, or None where a time budget sizes them."""
    cfg = member_config(member.recipe, member.sets)
    return None if cfg.minutes else cfg.epochs


def read_queue(path: str) -> list[Member]:
    """The members of queue file `path`, each checked (name, recipe, settings) so that a bad
    line fails at once, naming the file and the line, not hours later."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: queue file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the queue file ({e})") from None
    members, seen = [], {}
    for n, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{path}: line {n}"
        if len(words) < 2:
            raise DataError(f"{where}: expected NAME RECIPE [KEY=VALUE ...], got {raw.strip()!r}")
        name, recipe = words[0], words[1]
        init = [w.split("=", 1)[1] for w in words[2:] if w.startswith("init=")]
        sets = tuple(w for w in words[2:] if not w.startswith("init="))
        if not NAME.match(name):
            raise DataError(f"{where}: member name {name!r} must be letters, digits, '.', '_', '+' or '-'")
        if name in seen:
            raise DataError(f"{where}: member {name!r} is already on line {seen[name]}")
        try:
            member_config(recipe, sets)
        except KeyError as e:
            raise DataError(f"{where}: {e.args[0]}") from None
        except ValueError as e:
            raise DataError(f"{where}: {e}") from None
        seen[name] = n
        members.append(Member(name, recipe, sets, n, init[-1] if init else ""))
    if not members:
        raise DataError(f"{path}: the queue file lists no members")
    return members


def model_of(work: str, member: Member) -> str:
    return os.path.join(work, member.name + ".h5")


def progress(work: str, member: Member, out: str | None = None) -> dict:
    """Where a member stands, read from its files: status (done, running, stopped: a
    checkpoint to resume, waiting: not begun), epochs done and planned, last and best
    validation accuracy, training minutes so far, and the minutes its remaining epochs need
    at the median pace of its last ten epochs. A member whose run record is in `out` (collected, and
    committed with the models) is done, whatever `work` holds: a new machine starts
    without it."""
    shipped = out is not None and os.path.exists(RunFiles(os.path.join(out, member.name + ".h5")).config_path)
    files = RunFiles(os.path.join(out, member.name + ".h5") if shipped else model_of(work, member))
    record, state, history = files.record(), files.state(), files.read_history()
    done = record is not None and (shipped or os.path.exists(files.out))
    running = None if shipped else lock_holder(files.lock_path)
    epochs = ((state or {}).get("config", {}).get("epochs") or (record or {}).get("config", {}).get("epochs")
              or planned_epochs(member))
    row = dict(name=member.name, recipe=member.recipe, status="done" if done else "running" if running else
               "stopped" if state else "waiting", pid=running, epoch=0, epochs=epochs, val=None, best=None,
               minutes=0.0, left=None)
    if history is not None:
        row["epoch"] = int(history["epoch"].iloc[-1]) + 1
        if "val_accuracy" in history:
            row["val"], row["best"] = float(history["val_accuracy"].iloc[-1]), float(history["val_accuracy"].max())
        if "minutes" in history:
            minutes = history["minutes"].to_numpy()
            row["minutes"] = float(minutes[-1])
            # the median of the last ten epochs' times: the epoch a resumed run starts with pays
            # for loading and compiling, and one beside foreground work runs slow
            pace = float(np.median(np.diff(minutes[-11:]))) if len(minutes) > 1 else minutes[-1]
            if epochs and not done:
                row["left"] = max(epochs - row["epoch"], 0) * float(pace)
                budget = (state or {}).get("config", {}).get("minutes") or 0  # a time budget ends it sooner
                if budget:
                    row["left"] = min(row["left"], max(budget - row["minutes"], 0.0))
    if done:
        row["epoch"], row["val"] = record.get("epochs_run", row["epoch"]), record.get("val_accuracy", row["val"])
        row["left"] = 0.0
    return row


def progress_line(row: dict) -> str:
    """One line of a member's progress, as the queue log and --status show it."""
    def acc(v):
        return "-" if v is None or v != v else f"{v:.4f}"

    epochs = f"{row['epoch']}/{row['epochs'] or '?'}"
    left = "" if row["left"] is None or row["status"] == "done" else f", ~{row['left']:.0f} min left"
    who = f" (process {row['pid']})" if row.get("pid") else ""
    return (f"{row['name']:<24} {row['status']:<8} epoch {epochs:<8} val {acc(row['val'])} best {acc(row['best'])}, "
            f"{row['minutes']:.0f} min{left}{who}")


def status_table(work: str, members: list[Member], out: str | None = None) -> str:
    """Every member's progress line, then what the queue still needs."""
    rows = [progress(work, m, out) for m in members]
    lines = [progress_line(r) for r in rows]
    pending = [r for r in rows if r["status"] != "done"]
    known = [r["left"] for r in pending if r["left"] is not None]
    spent = sum(r["minutes"] for r in rows)  # done members' too: their histories are kept in `out`
    lines.append(f"{len(rows) - len(pending)} of {len(rows)} members done, {spent / 60:.1f} h of training spent"
                 + (f"; ~{sum(known):.0f} min left for the {len(known)} begun" if known else "")
                 + (f", {len(pending) - len(known)} not begun" if len(pending) > len(known) else ""))
    return "\n".join(lines)


def collect(work: str, member: Member, out: str) -> str:
    """A done member into `out`: NAME.h5 with float16 weights (predicting as the float32
    file does), its run record and its history. Returns the float16 file's path."""
    from ..infer.compact import halve_h5
    from ..runfiles import copy_file

    files = RunFiles(model_of(work, member))
    os.makedirs(out, exist_ok=True)
    dst = RunFiles(os.path.join(out, member.name + ".h5"))
    halve_h5(files.out, dst.out)
    for src, to in ((files.config_path, dst.config_path), (files.history, dst.history)):
        if os.path.exists(src):
            copy_file(src, to)
    return dst.out


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
