#!/usr/bin/env python3
"""Train several ensemble members side by side on one machine (a GPU, above all), each in
its own train_cnn.py process under one time budget, and collect them as float16 .h5 files.

    KERAS_BACKEND=jax python train_members.py train.faces.npz --out OUT      # the defaults
    python train_members.py train.csv --member gpu-300-affine --twin gpu-300-affine --minutes 7 --out OUT

Each --member RECIPE trains on all the labelled faces (val_size=0); each --twin RECIPE on
the training part of the project's split, whose validation accuracy measures the recipe
(a model that trained on the validation faces cannot be measured on them; a recipe with a
shipped split model has its twin already). Every run sizes its epochs to --minutes from the speed it
measures while the others run (at most --max-epochs), so the cosine schedule ends with the
budget. OUT then holds NAME.h5 (float16 weights, predicting as the float32 ones do),
members.json (each run's epochs, minutes, speed, validation accuracy and command) and
runs.tar.gz (histories, run records, logs): few files, as a machine that sends back only
a handful wants.

On a GPU: KERAS_BACKEND=jax with jax[cuda] and keras installed (no TensorFlow needed);
each process may take 1/N of the GPU's memory. Faces may be a CSV or a pack
(`python -m ferhw3.pack`, small enough to travel with the repository).
"""

import argparse
import os
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MEMBERS = ("gpu-300-affine", "gpu-300-erase")
TWINS = ("gpu-300-affine",)  # gpu-300-erase has one: vgg-bn-deep-wide_300ep-erase.h5 (manifest split_models)
MAX_EPOCHS = 300


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("faces", help="labelled faces: a label,feature CSV or a pack (.npz)")
    p.add_argument("--out", required=True, help="folder for the members (created)")
    p.add_argument("--work", default="runs/members", help="folder for the runs' own files: checkpoints, "
                   "full-precision models (default runs/members)")
    p.add_argument("--member", action="append", default=[], metavar="RECIPE",
                   help=f"a recipe to train on all the faces (repeatable; default {' '.join(MEMBERS)})")
    p.add_argument("--twin", action="append", default=[], metavar="RECIPE",
                   help=f"a recipe to train on the split's training part (repeatable; default {' '.join(TWINS)}; "
                        f"'none': no twin)")
    p.add_argument("--minutes", type=float, default=7.0, help="training budget of every run (default 7)")
    p.add_argument("--max-epochs", type=int, default=MAX_EPOCHS, help=f"at most this many epochs (default {MAX_EPOCHS})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to every run")
    p.add_argument("--gpus", type=int, default=1, metavar="N",
                   help="spread the runs over N GPUs, one GPU a run in turn (default 1: all on one)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="first N faces only (quick checks)")
    return p.parse_args(argv)


def plan_runs(args) -> list[dict]:
    """One dict per process: name, recipe, whether on all faces, its command."""
    twins = [] if args.twin == ["none"] else args.twin or TWINS
    runs = [dict(name=f"{r}_all", recipe=r, all_faces=True) for r in args.member or MEMBERS]
    runs += [dict(name=f"{r}_twin", recipe=r, all_faces=False) for r in twins]
    for r in runs:
        r["model"] = os.path.join(os.path.abspath(args.work), r["name"] + ".h5")
        r["command"] = [sys.executable, "train_cnn.py", os.path.abspath(args.faces), "--recipe", r["recipe"],
                        "--out", r["model"], "--resume", "--set", f"minutes={args.minutes:g}",
                        "--set", f"max_epochs={args.max_epochs}", *sum((["--set", s] for s in args.set), []),
                        *(["--set", "val_size=0"] if r["all_faces"] else []),
                        *(["--limit", str(args.limit)] if args.limit else [])]
    return runs


def process_env(i: int, n: int, gpus: int) -> dict:
    """Run i of n: its GPU (with several) and its share of that GPU's memory."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if gpus > 1:
        env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
    sharing = -(-n // gpus)  # runs on the busiest GPU
    # JAX would take 75% of the GPU's memory in the first process; the runs on a GPU share it
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{min(0.75, 0.9 / sharing):.2f}")
    return env


def run_side_by_side(runs: list[dict], work: str, gpus: int = 1) -> None:
    os.makedirs(work, exist_ok=True)
    procs = []
    for i, r in enumerate(runs):
        log = open(os.path.join(work, r["name"] + ".log"), "w")
        procs.append((r, subprocess.Popen(r["command"], stdout=log, stderr=subprocess.STDOUT, cwd=HERE,
                                          env=process_env(i, len(runs), gpus)), log))
        print(f"started {r['name']}: {' '.join(r['command'][1:])}", flush=True)
    for r, proc, log in procs:
        r["returncode"] = proc.wait()
        log.close()
        print(f"finished {r['name']}: exit {r['returncode']}", flush=True)


def collect(runs: list[dict], out: str, work: str) -> list[dict]:
    """Float16 copies into OUT, the run records into members.json, the rest into runs.tar.gz."""
    from ferhw3.compact import halve_h5
    from ferhw3.runfiles import RunFiles, replace_atomically, write_json

    rows = []
    for r in runs:
        rec = RunFiles(r["model"]).record() or {}
        row = dict(name=r["name"], recipe=r["recipe"], all_faces=r["all_faces"], exit=r["returncode"],
                   epochs=rec.get("epochs_run"), minutes=round(rec.get("seconds_this_run", 0) / 60, 2),
                   n_train=rec.get("n_train"), n_val=rec.get("n_val"),
                   val_accuracy=None if r["all_faces"] else rec.get("val_accuracy"),
                   images_per_second=(rec.get("config") or {}).get("extra", {}).get("measured_images_per_second"),
                   command=" ".join(r["command"][1:]))
        if r["returncode"] == 0 and os.path.exists(r["model"]):
            halve_h5(r["model"], os.path.join(out, r["name"] + ".h5"))
            row["file"] = r["name"] + ".h5"
        rows.append(row)
    write_json(os.path.join(out, "members.json"), rows)

    def bundle(tmp):
        with tarfile.open(tmp, "w:gz") as tar:
            for r in runs:
                for suffix in (".log", ".history.csv", ".config.json"):  # models in OUT; checkpoints stay
                    path = os.path.join(work, r["name"] + suffix)
                    if os.path.exists(path):
                        tar.add(path, arcname=os.path.basename(path))

    replace_atomically(os.path.join(out, "runs.tar.gz"), bundle)
    return rows


def main(argv=None):
    args = parse_args(argv)
    from ferhw3 import cli

    if not os.path.exists(args.faces):
        raise cli.UsageError(f"{args.faces}: faces file not found")
    args.work = os.path.abspath(args.work)
    runs = plan_runs(args)
    start = time.time()
    os.makedirs(args.out, exist_ok=True)
    run_side_by_side(runs, args.work, args.gpus)
    rows = collect(runs, args.out, args.work)
    for row in rows:
        val = "-" if row["val_accuracy"] is None else f"{row['val_accuracy']:.4f}"
        print(f"{row['name']}: exit {row['exit']}, {row['epochs']} epochs in {row['minutes']} min, "
              f"{row['images_per_second']} img/s, val {val}")
    failed = [r["name"] for r in rows if r["exit"] != 0]
    print(f"DONE train_members.py: {len(rows) - len(failed)} of {len(rows)} runs in "
          f"{(time.time() - start) / 60:.1f} min -> {args.out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    from ferhw3.cli import main_guard

    main_guard(main)
