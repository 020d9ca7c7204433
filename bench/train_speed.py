#!/usr/bin/env python3
"""Training throughput, side by side in one process: the seed report's VGG recipe against
this project's recipes, on real faces.

    python bench/train_speed.py [--data ../shared/data/fer2013/train.csv.gz] [--steps 25]

Each recipe: the real tf.data pipeline with its augmentation, model.fit for 5 warm-up
steps, then `--steps` timed steps. Prints images/s and the ratio to the seed recipe, and
writes bench/results_train_speed.md. A timing, not a test: the machine's other load counts.
"""

import argparse
import os
import time

from ferhw3.infer.manifest import ROOT  # noqa: E402

HERE = os.path.join(ROOT, "bench")

from ferhw3 import cli  # noqa: E402

RECIPES = [
    # name, arch, optimizer, lr, crop, precision, XLA, random-erasing probability
    ("seed report VGG (float32, batch 128, Adam)", "vgg-report", "adam", 1e-3, 0, "float32", False, 0.0),
    ("vgg-bn, 40px crops, SGD (default)", "vgg-bn", "sgd", 0.05, 40, "float32", False, 0.0),
    ("vgg-bn, 48px, SGD", "vgg-bn", "sgd", 0.05, 0, "float32", False, 0.0),
    ("vgg-bn-wide, 40px crops, SGD", "vgg-bn-wide", "sgd", 0.05, 40, "float32", False, 0.0),
    ("vgg-bn-deep-wide, crops, bf16 (hw3_train.sh)", "vgg-bn-deep-wide", "sgd", 0.05, 40, "mixed_bfloat16", False, 0.0),
    ("  the same with random erasing 0.5", "vgg-bn-deep-wide", "sgd", 0.05, 40, "mixed_bfloat16", False, 0.5),
    ("  the same with XLA (jit_compile=True)", "vgg-bn-deep-wide", "sgd", 0.05, 40, "mixed_bfloat16", True, 0.0),
]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz"))
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args()
    cli.quiet_tensorflow()
    import keras

    from ferhw3.data.pipeline import augmenter, train_dataset
    from ferhw3.data.read import load_csv
    from ferhw3.train.config import Config
    from ferhw3.train.models import build_cnn, trainable_params
    from ferhw3.train.optim import compile_model

    faces = load_csv(args.data, expect="train")
    x, y = faces.x[:4096], faces.labels[:4096]
    rows, base = [], None
    for name, arch, opt, lr, crop, precision, jit, erase in RECIPES:
        keras.mixed_precision.set_global_policy(precision)
        keras.utils.set_random_seed(0)
        cfg = Config(arch=arch, optimizer=opt, lr=lr, crop=crop, precision=precision)
        # "auto" leaves XLA off on a CPU-only machine; True asks for it
        model = compile_model(build_cnn(arch), cfg, steps_per_epoch=100, jit_compile=jit or "auto")
        ds = train_dataset(x, y, args.batch_size, augmenter(crop, erase=erase), seed=0, epochs=range(1000))
        model.fit(ds.take(5), epochs=1, verbose=0)
        t = time.perf_counter()
        model.fit(ds.take(args.steps), epochs=1, verbose=0)
        ips = args.steps * args.batch_size / (time.perf_counter() - t)
        base = base or ips
        rows.append(f"| {name} | {trainable_params(model) / 1e6:.2f}M | {ips:.0f} | {ips / base:.2f}x |")
        print(rows[-1], flush=True)
    keras.mixed_precision.set_global_policy("float32")
    table = "\n".join([f"$ python bench/train_speed.py --steps {args.steps}",
                       f"{os.cpu_count()} CPU cores, batch {args.batch_size}, {args.steps} timed steps after 5 warm-up",
                       "", "| recipe | parameters | training images/s | vs seed VGG |", "|---|---:|---:|---:|", *rows])
    with open(os.path.join(HERE, "results_train_speed.md"), "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
