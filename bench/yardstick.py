#!/usr/bin/env python3
"""The speed yardstick: how fast this machine is, measured the same way on every CPU.

    python bench/yardstick.py [--data DIR] [--as-saved]

TensorFlow's `predict` of the 7,178 test faces, the centre 40x40 window, one view, with the
deep-wide VGG (models/vgg-bn-deep-wide_300ep-erase_all-faces.h5) in float32, batch 256,
start-up and a first warm-up batch excluded: seconds on the last line. Every CPU computes
float32, so the yardstick is the same work everywhere; bench/speed.py reports the project's
timings as multiples of it. --as-saved keeps the model's own mixed_bfloat16 policy instead
(fast where the CPU has bfloat16 instructions, emulated and far slower where it has not).
"""

import argparse
import os
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import MODELS_DIR, ROOT

MODEL = "vgg-bn-deep-wide_300ep-erase_all-faces.h5"
BATCH = 256


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013"))
    p.add_argument("--as-saved", action="store_true", help="the model's own precision (mixed_bfloat16)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs (the fastest is printed)")
    args = p.parse_args()
    import numpy as np

    from ferhw3.data.read import load_faces

    x = load_faces(os.path.join(args.data, "test.csv.gz")).x
    window = np.ascontiguousarray(x[:, 4:44, 4:44, :], np.float32)
    model = cli.load_model(os.path.join(MODELS_DIR, MODEL), float32=not args.as_saved)
    model.predict(window[:BATCH], batch_size=BATCH, verbose=0)
    best = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        model.predict(window, batch_size=BATCH, verbose=0)
        best = min(best, time.perf_counter() - t)
    print(f"yardstick ({'as saved' if args.as_saved else 'float32'}): {len(window)} faces in {best:.2f} s")
    print(f"{best:.3f}")


if __name__ == "__main__":
    main()
