#!/usr/bin/env python3
"""Training speed of the in-model augmentation (the array feed that ferhw3.train.fit uses off
TensorFlow, e.g. KERAS_BACKEND=jax on a GPU): vgg-bn-deep-wide in mixed_bfloat16, batch 128,
random faces, with flips + RandomWindow 40px crops; with Keras's rotation and zoom layers
added; and with ferhw3.data.affine's RandomAffine (flip, rotation 10, scale 0.2, shift 0.1 and
the 40px crop in one batched gather), the geometry of the gpu-300-affine recipe.

    KERAS_BACKEND=jax python bench/aug_speed.py [--faces 8192] [--out FILE]

Prints, per setting, training images/s of the second epoch (the first one compiles) and
images/s of the augmentation alone (compiled, batches of 128), and writes
bench/results_aug_speed_<backend>.md (or --out).
"""

import argparse
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from ferhw3 import cli  # noqa: E402  (sets TensorFlow's environment before it loads)


def settings():
    from keras import Sequential

    from ferhw3.data.pipeline import _keras_steps, augmenter

    return {"flip + 40px window": augmenter(40, 0, 0, 0, in_model=True),
            "flip + rotation 10 + zoom 0.1 + 40px window (Keras layers)":
                Sequential(_keras_steps(40, 10, 0.1, 0, 0, in_model=True)),
            "flip + rotation 10 + scale 0.2 + shift 0.1 + 40px window (RandomAffine)":
                augmenter(40, 10, 0.2, 0.1, in_model=True)}


def training_speed(n: int, aug) -> float:
    import keras
    import numpy as np

    from ferhw3.train.config import Config
    from ferhw3.train.models import build_cnn
    from ferhw3.train.optim import compile_model

    x = np.random.default_rng(0).integers(0, 255, (n, 48, 48, 1)).astype("float32")
    y = np.eye(7, dtype="float32")[np.random.default_rng(1).integers(0, 7, n)]
    trainer = keras.Sequential([keras.Input((48, 48, 1)), aug, build_cnn("vgg-bn-deep-wide", 0.5)])
    compile_model(trainer, Config(epochs=2), n // 128)
    for _ in range(2):
        start = time.time()
        trainer.fit(x, y, batch_size=128, epochs=1, verbose=0)
    return n / (time.time() - start)


def augmentation_speed(aug, batches: int = 20) -> float:
    """Images/s of the augmentation alone, compiled as a training step would compile it."""
    import keras
    import numpy as np

    x = keras.ops.convert_to_tensor(np.random.default_rng(0).integers(0, 255, (128, 48, 48, 1)).astype("float32"))
    aug(x, training=True)  # builds it
    if keras.backend.backend() == "jax":
        import jax

        fn = jax.jit(lambda v, s: aug.stateless_call(v, s, x, training=True)[0])
        trainable, state = [v.value for v in aug.trainable_variables], [v.value for v in aug.non_trainable_variables]
        run = lambda: fn(trainable, state).block_until_ready()  # noqa: E731
    else:
        import tensorflow as tf

        f = tf.function(lambda: aug(x, training=True), jit_compile=False)
        run = lambda: f().numpy()  # noqa: E731
    for _ in range(3):
        run()
    start = time.time()
    for _ in range(batches):
        run()
    return batches * 128 / (time.time() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=int, default=8192)
    p.add_argument("--out", help="the results file (default bench/results_aug_speed_<backend>.md)")
    args = p.parse_args()
    cli.quiet_tensorflow()
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    rows = []
    for name, aug in settings().items():
        alone = augmentation_speed(aug)
        rows.append(f"| {name} | {training_speed(args.faces, aug):,.0f} | {alone:,.0f} |")
        print(rows[-1], flush=True)
    backend = keras.backend.backend()
    device = "CPU"
    if backend == "jax":
        import jax

        device = jax.devices()[0].device_kind
    table = "\n".join([f"$ KERAS_BACKEND={backend} python bench/aug_speed.py --faces {args.faces}",
                       f"device: {device}", "",
                       "| in-model augmentation | training images/s | augmentation alone, images/s |",
                       "|---|---:|---:|", *rows])
    with open(args.out or os.path.join(HERE, f"results_aug_speed_{backend}.md"), "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
