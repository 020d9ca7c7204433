#!/usr/bin/env python3
"""Train ensemble members: a queue of recipes one after another at the lowest CPU priority
(resumable, with a progress log), or several members side by side on a GPU.

    python train_members.py train.csv --queue members.txt --out models/members   # the queue
    python train_members.py --queue members.txt --status                          # where it stands
    KERAS_BACKEND=jax python train_members.py train.faces.npz --out OUT           # GPU defaults
    python train_members.py train.csv --member gpu-300-affine --twin gpu-300-affine --minutes 7 --out OUT

The queue (`--queue FILE`, one member a line: `NAME RECIPE [KEY=VALUE ...]`, see
ferhw3/train/members.py) trains each member on the project's split in WORK (default runs/queue)
with `train_cnn.py --resume`: stopped at any moment (Ctrl-C, a kill, the machine going
away), the same command continues each member exactly where its last epoch ended, skips
the finished ones and copies each finished member into OUT as float16 with its run record
and history. WORK/queue.log gets a line per epoch (member, epoch, validation accuracy, time
left). The queue reads FILE again whenever a member ends: a line added while it runs is
trained after the others, a line taken out is not begun. A second queue on the same WORK is
refused with the first one's process id.
`--parallel N` runs N members at a time (a GPU); on a 2-core CPU one at a time is fastest.

Without --queue: each --member RECIPE trains on all the labelled faces (val_size=0); each
--twin RECIPE on the training part of the project's split, whose validation accuracy
measures the recipe (a model that trained on the validation faces cannot be measured on
them; a recipe with a shipped split model has its twin already). Every run sizes its
epochs to --minutes from the speed it measures while the others run (at most
--max-epochs), so the cosine schedule ends with the budget. OUT then holds NAME.h5 (float16
weights, predicting as the float32 ones do), members.json (each run's epochs, minutes,
speed, validation accuracy and command) and runs.tar.gz (histories, run records, logs): few
files, as a machine that sends back only a handful wants.

On a GPU: KERAS_BACKEND=jax with jax[cuda] and keras installed (no TensorFlow needed);
each process may take 1/N of the GPU's memory. Faces may be a CSV or a pack
(`python -m ferhw3 pack`, small enough to travel with the repository).
"""

import argparse
import os
import signal
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
    p.add_argument("faces", nargs="?", help="labelled faces: a label,feature CSV or a pack (.npz)")
    p.add_argument("--out", help="folder for the members (created)")
    p.add_argument("--work", help="folder for the runs' own files: checkpoints, full-precision models "
                   "(default runs/queue with --queue, else runs/members)")
    q = p.add_argument_group("the queue")
    q.add_argument("--queue", metavar="FILE", help="train the members this file lists, one after another")
    q.add_argument("--status", action="store_true", help="with --queue: print where each member stands and exit")
    q.add_argument("--parallel", type=int, default=1, metavar="N", help="with --queue: N members at a time (default 1)")
    q.add_argument("--no-nice", dest="nice", action="store_false",
                   help="with --queue: keep this shell's CPU priority (default: the lowest, nice 19)")
    q.add_argument("--poll", type=float, default=20.0, metavar="S", help=argparse.SUPPRESS)
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
    args = p.parse_args(argv)
    if args.status and not args.queue:
        p.error("--status goes with --queue FILE (and --out, where finished members are)")
    if not args.status and (not args.faces or not args.out):
        p.error("the faces and --out are required (or --queue FILE --status)")
    if args.parallel < 1:
        p.error(f"--parallel must be 1 or more, got {args.parallel}")
    args.work = os.path.abspath(args.work or ("runs/queue" if args.queue else "runs/members"))
    return args


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
    from ferhw3.infer.compact import halve_h5
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


def member_command(args, member) -> list[str]:
    from ferhw3.train.members import model_of

    return [sys.executable, "train_cnn.py", os.path.abspath(args.faces), "--recipe", member.recipe,
            "--out", model_of(args.work, member), "--resume", *sum((["--set", s] for s in member.sets), []),
            *(["--init", os.path.abspath(member.init)] if member.init else []),
            *(["--limit", str(args.limit)] if args.limit else [])]


def run_queue(args) -> int:
    """Train the queue's members that are not done, `args.parallel` at a time; log each new
    epoch; collect each finished member into OUT. Returns the number of members that failed."""
    from ferhw3.errors import DataError
    from ferhw3.train import members as mq

    queue = mq.read_queue(args.queue)
    log_path = os.path.join(args.work, "queue.log")

    def say(text):
        line = f"{mq.stamp()} {text}"
        print(line, flush=True)
        with open(log_path, "a") as f:
            f.write(line + "\n")

    if args.nice:
        os.nice(19 - os.nice(0))  # the lowest priority: other work takes the CPU when it wants it
    todo, running, failed, elsewhere = [], {}, [], {}

    def admit(m):
        """Put member `m` on the to-do list unless it is done."""
        if mq.progress(args.work, m, args.out)["status"] == "done":  # its record is in OUT
            say(f"{m.name}: done, in {args.out}")
            return
        row = mq.progress(args.work, m)
        if row["status"] == "running":  # a train_cnn.py started by hand on the same files: wait for it
            elsewhere[m.name] = m
            say(f"{m.name}: process {row['pid']} is training it; the queue takes it over when that ends")
        elif row["status"] == "done":  # finished while no queue watched it
            say(f"{m.name}: done before -> {mq.collect(args.work, m, args.out)}")
            return
        todo.append(m)

    def reread():
        """The queue file again, when a member ends: lines added since it was read join the
        queue and lines taken out leave it (a running member goes on), without a restart."""
        nonlocal queue
        try:
            new = mq.read_queue(args.queue)
        except DataError as e:
            say(f"{e}; the queue goes on with the members it had")
            return
        names = {m.name for m in new}
        for m in [m for m in todo if m.name not in names]:
            todo.remove(m)
            elsewhere.pop(m.name, None)
            say(f"{m.name}: taken out of {args.queue}, not trained")
        known = {m.name for m in queue}
        added = [m for m in new if m.name not in known]
        queue = new + [m for m in queue if m.name in running and m.name not in names]
        for m in added:
            say(f"{m.name}: added to {args.queue}")
            admit(m)

    for m in queue:
        admit(m)
    say(f"queue {args.queue}: {len(queue) - len(todo)} of {len(queue)} members done, {len(todo)} to train "
        f"(process {os.getpid()}, nice {os.nice(0)})")

    def stop_children(signum, frame):  # a kill of the queue stops its members; each keeps its last epoch
        for _, proc, _, _ in running.values():
            proc.terminate()
        say(f"queue stopped by signal {signum}; the same command resumes it"
            + (f" ({', '.join(running)} from its last epoch)" if running else ""))
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop_children)
    try:
        while todo or running:
            for name, m in list(elsewhere.items()):  # runs that another process held: free again?
                if mq.progress(args.work, m)["status"] != "running":
                    del elsewhere[name]
            ready = [m for m in todo if m.name not in elsewhere]
            while ready and len(running) + len(elsewhere) < args.parallel:  # a run held elsewhere takes a slot
                m = ready.pop(0)
                todo.remove(m)
                if mq.progress(args.work, m)["status"] == "done":  # finished by the process it waited for
                    say(f"{m.name}: finished by that process -> {mq.collect(args.work, m, args.out)}")
                    continue
                log = open(os.path.join(args.work, m.name + ".log"), "a")
                env = process_env(len(running), args.parallel, args.gpus)
                proc = subprocess.Popen(member_command(args, m), stdout=log, stderr=subprocess.STDOUT, cwd=HERE, env=env)
                running[m.name] = (m, proc, log, mq.progress(args.work, m)["epoch"])
                say(f"{m.name}: started ({m.recipe}{''.join(' ' + s for s in m.sets)}), process {proc.pid}, "
                    f"log {log.name}")
            time.sleep(args.poll)
            for name, (m, proc, log, shown) in list(running.items()):
                row = mq.progress(args.work, m)
                if row["epoch"] != shown:
                    say(mq.progress_line(row))
                    running[name] = (m, proc, log, row["epoch"])
                if proc.poll() is None:
                    continue
                log.close()
                del running[name]
                if proc.returncode == 0 and mq.progress(args.work, m)["status"] == "done":
                    say(f"{m.name}: finished -> {mq.collect(args.work, m, args.out)}")
                else:
                    failed.append(m.name)
                    say(f"{m.name}: failed (exit {proc.returncode}): {_last_line(log.name)}")
                reread()
    except KeyboardInterrupt:  # Ctrl-C reached the members too: each saves its epoch and stops
        for _, proc, log, _ in running.values():
            proc.wait()
            log.close()
        say(f"queue stopped by Ctrl-C; the same command resumes it ({', '.join(running)} part-way)")
        raise
    say(f"queue {args.queue}: {len(queue) - len(failed)} of {len(queue)} members done"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return len(failed)


def _last_line(path: str) -> str:
    """The last line a member printed (its error), for the queue log."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4000))
            lines = [ln for ln in f.read().decode("utf-8", "replace").replace("\r", "\n").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "(no output)"
    except OSError:
        return "(no log)"


def queue_main(args) -> None:
    from ferhw3 import cli
    from ferhw3.runfiles import exclusive, lock_holder
    from ferhw3.train.members import read_queue, status_table

    lock = os.path.join(args.work, "queue.lock")
    if args.status:
        members = read_queue(args.queue)
        print(status_table(args.work, members, args.out))
        holder = lock_holder(lock)
        print(f"queue running in {args.work} (process {holder})" if holder else f"no queue running in {args.work}")
        return
    if not os.path.exists(args.faces):
        raise cli.UsageError(f"{args.faces}: faces file not found")
    read_queue(args.queue)  # a bad line fails before the lock is taken
    with exclusive(lock, lambda pid: f"{args.queue}: a queue (process {pid}) is already training in {args.work}; "
                                     f"see --status, or stop that process first"):
        if run_queue(args):
            sys.exit(1)


def main(argv=None):
    args = parse_args(argv)
    from ferhw3 import cli

    if args.queue:
        return queue_main(args)
    if not os.path.exists(args.faces):
        raise cli.UsageError(f"{args.faces}: faces file not found")
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
