#!/usr/bin/env python3
"""Training speed of the in-model augmentation (the array feed that ferhw3.train uses off
TensorFlow, e.g. KERAS_BACKEND=jax on a GPU): vgg-bn-deep-wide in mixed_bfloat16, batch 128,
random faces, with flips + RandomWindow 40px crops, and with rotation and zoom added.

    KERAS_BACKEND=jax python bench/aug_speed.py [--faces 8192]

Prints images/s of the second epoch (the first one compiles) and writes
bench/results_aug_speed_<backend>.md.
"""

import argparse
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from ferhw3 import cli  # noqa: E402  (sets TensorFlow's environment before it loads)

SETTINGS = {"flip + 40px window": dict(rotation_deg=0, zoom=0),
            "flip + rotation 10 + zoom 0.1 + 40px window": dict()}


def images_per_second(n: int, aug_kwargs: dict) -> float:
    import keras
    import numpy as np

    from ferhw3.models import build_cnn
    from ferhw3.pipeline import augmenter
    from ferhw3.config import Config
    from ferhw3.optim import compile_model

    x = np.random.default_rng(0).integers(0, 255, (n, 48, 48, 1)).astype("float32")
    y = np.eye(7, dtype="float32")[np.random.default_rng(1).integers(0, 7, n)]
    trainer = keras.Sequential([keras.Input((48, 48, 1)), augmenter(40, shift=0, in_model=True, **aug_kwargs),
                                build_cnn("vgg-bn-deep-wide", 0.5)])
    compile_model(trainer, Config(epochs=2), n // 128)
    for _ in range(2):
        start = time.time()
        trainer.fit(x, y, batch_size=128, epochs=1, verbose=0)
    return n / (time.time() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=int, default=8192)
    args = p.parse_args()
    cli.quiet_tensorflow()
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    rows = []
    for name, kw in SETTINGS.items():
        rows.append(f"| {name} | {images_per_second(args.faces, kw):,.0f} |")
        print(rows[-1], flush=True)
    backend = keras.backend.backend()
    device = "CPU"
    if backend == "jax":
        import jax

        device = jax.devices()[0].device_kind
    table = "\n".join([f"$ KERAS_BACKEND={backend} python bench/aug_speed.py --faces {args.faces}",
                       f"device: {device}", "",
                       "| in-model augmentation | training images/s |", "|---|---:|", *rows])
    with open(os.path.join(HERE, f"results_aug_speed_{backend}.md"), "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
