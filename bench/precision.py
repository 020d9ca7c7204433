#!/usr/bin/env python3
"""Does bfloat16 pay on this CPU? A recipe's training speed in float32 and mixed_bfloat16.

    python bench/precision.py [--data TRAIN] [--recipe one-hour] [--steps 10]

Times the recipe's training step (ferhw3.train.budget.training_speed: its network, augmentation
and optimiser on real training faces, `--steps` batches after 3 untimed ones) in each
precision, one after the other in this process, and says whether the CPU has bfloat16
instructions (ferhw3.train.step.cpu_has_bfloat16): train_cnn.py trains a mixed_bfloat16 recipe in
float32 where it has none (ferhw3.train.step.for_this_machine). Writes bench/results_precision.md.
"""

import argparse
import dataclasses
import os
import platform
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")
DATA = os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz")
PRECISIONS = ("float32", "mixed_bfloat16")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DATA)
    p.add_argument("--recipe", default="one-hour")
    p.add_argument("--steps", type=int, default=10, help="timed batches in each precision (default 10)")
    p.add_argument("--results", default=os.path.join(HERE, "results_precision.md"))
    args = p.parse_args()
    cli.quiet_tensorflow()
    from ferhw3.data.read import load_faces
    from ferhw3.train import budget
    from ferhw3.train.config import Config
    from ferhw3.train.models import build_cnn
    from ferhw3.train.recipes import get
    from ferhw3.train.step import BF16_FLAGS, cpu_has_bfloat16

    base = Config(**get(args.recipe).settings)
    faces = load_faces(args.data, expect="train")
    native = cpu_has_bfloat16()
    lines = [f"$ python bench/precision.py --recipe {args.recipe} --steps {args.steps}",
             f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}); {time.strftime('%Y-%m-%d')}; "
             f"bfloat16 instructions ({', '.join(BF16_FLAGS)} in /proc/cpuinfo): "
             f"{ {True: 'yes', False: 'no', None: 'unknown'}[native] }; the {args.recipe} recipe ({base.arch}, batch "
             f"{base.batch_size}), {args.steps} timed training steps after 3 untimed ones", "",
             "| precision | training faces/s | seconds a step | vs float32 |", "|---|---:|---:|---:|"]
    speeds = {}
    for precision in PRECISIONS:
        cfg = dataclasses.replace(base, precision=precision)
        speeds[precision] = budget.training_speed(lambda: build_cnn(cfg.arch, cfg.dropout), faces, cfg,
                                                  steps=args.steps, warmup=3)
        lines.append(f"| {precision} | {speeds[precision]:.0f} | {cfg.batch_size / speeds[precision]:.2f} | "
                     f"{speeds[precision] / speeds['float32']:.2f}x |")
        print(lines[-1], flush=True)
    lines += ["", f"train_cnn.py trains this recipe in "
                  f"{'float32' if native is False else base.precision} here."]
    with open(args.results + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(args.results + ".tmp", args.results)
    print(f"precision: wrote {args.results}")


if __name__ == "__main__":
    main()
