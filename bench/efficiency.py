#!/usr/bin/env python3
"""How much of this CPU's arithmetic do the models use? Measured side by side in one run.

    python bench/efficiency.py [--faces 2048] [--steps 12]

1. The rate the CPU reaches at the models' own layer shapes: one 3x3 convolution layer of
   each stage of vgg-bn-deep-wide (batch 256, 40x40 faces), on TensorFlow and on OpenVINO,
   in float32 and bfloat16. The reference is the fastest rate measured in this run, lone
   layers or whole networks (OpenVINO fuses a network's layers and can beat a lone layer).
2. For each shipped model: inference FLOP/s on TensorFlow (Keras predict) and on the
   OpenVINO engine (at the precision the engine uses), 40x40 windows, as a share of the reference.
3. For each architecture's training recipe: training FLOP/s (3 x the forward FLOPs per face:
   forward, and backward for activations and weights) of a Keras step without augmentation.
Writes bench/results_efficiency.md.
"""

import argparse
import os
import sys
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")
SIDE = 40


def fixed_side(model, side):
    """The same network with a fixed input side, so every layer's output shape is known."""
    import keras

    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = [None, side, side, 1]
    fixed = keras.Model.from_config(config)
    fixed.set_weights(model.get_weights())
    return fixed


def forward_flops(model, side=SIDE) -> float:
    """Multiply-adds x 2 of the convolutions and dense layers for one face of `side` pixels."""
    import keras

    total = 0.0
    for layer in fixed_side(model, side).layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2.0 * h * w * c_out * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.input.shape[-1] * layer.units
    return total


def timed(fn, repeats=3) -> float:
    fn()  # warm-up: tracing, compiling
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=int, default=2048)
    p.add_argument("--steps", type=int, default=12, help="training steps timed per recipe")
    p.add_argument("--results", default=os.path.join(HERE, "results_efficiency.md"))
    args = p.parse_args()
    cli.quiet_tensorflow()
    import keras
    import numpy as np
    import openvino as ov
    import tensorflow as tf

    from ferhw3.data.pipeline import smoothed_onehot
    from ferhw3.infer import engine, manifest
    from ferhw3.train import recipes
    from ferhw3.train.config import make_config
    from ferhw3.train.models import build_cnn
    from ferhw3.train.optim import compile_model

    rng = np.random.default_rng(0)
    lines = []

    # 1. the reference: single convolution layers at the deep-wide network's shapes
    shapes = [(40, 1, 32), (20, 32, 64), (10, 64, 160), (5, 160, 320)]
    kernel_rows, peak = [], 0.0
    for side, c_in, c_out in shapes:
        x = rng.normal(size=(256, side, side, c_in)).astype(np.float32)
        flops = 2.0 * 256 * side * side * c_out * 9 * c_in
        for precision in ("float32", "bfloat16"):
            layer = keras.layers.Conv2D(c_out, 3, padding="same", dtype=precision)
            xt = tf.constant(x, dtype=precision)
            f = tf.function(lambda a: layer(a))
            tf_rate = flops / timed(lambda: f(xt).numpy())
            inp = keras.Input((side, side, c_in))
            conv = keras.Model(inp, keras.layers.Conv2D(c_out, 3, padding="same")(inp))
            fn = tf.function(lambda a: conv(a), input_signature=[tf.TensorSpec([256, side, side, c_in], tf.float32)])
            compiled = ov.Core().compile_model(ov.convert_model(fn), "CPU", {
                "INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32"})
            ov_rate = flops / timed(lambda: compiled(x))
            peak = max(peak, tf_rate, ov_rate)
            kernel_rows.append((f"{side}x{side}x{c_in} -> {c_out}", precision, tf_rate, ov_rate))
    lines += ["1. 3x3 convolutions at the models' layer shapes (batch 256), TFLOP/s", "",
              "| layer | precision | TensorFlow | OpenVINO |", "|---|---|---:|---:|"]
    lines += [f"| {s} | {prec} | {a / 1e12:.2f} | {b / 1e12:.2f} |" for s, prec, a, b in kernel_rows]
    rows = []  # (section, cells, rates): shares are filled in once the reference is known

    # 2. inference of each shipped model
    x = rng.integers(0, 256, size=(args.faces, SIDE, SIDE, 1)).astype(np.float32)
    lines += ["", f"2. Inference, {args.faces} faces of 40x40 (the centre window), batch 256", "",
              "| model | GFLOP/face | TF faces/s | TF TFLOP/s | TF share | OpenVINO precision | OpenVINO faces/s "
              "| OpenVINO TFLOP/s | OpenVINO share |", "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for name in manifest.entries():
        path = os.path.join(manifest.MODELS_DIR, name)
        model = cli.load_model(path)
        if model.input_shape[1] is not None:
            continue  # the dense baseline takes whole faces only
        flops = forward_flops(model)
        tf_fps = len(x) / timed(lambda: model.predict(x, batch_size=256, verbose=0))
        pred = engine.load_predictor(path, "openvino")
        ov_fps = len(x) / timed(lambda: pred.predict(x))
        rows.append((2, [name, f"{flops / 1e9:.3f}", f"{tf_fps:.0f}", f"{tf_fps * flops / 1e12:.2f}", None,
                         pred.precision, f"{ov_fps:.0f}", f"{ov_fps * flops / 1e12:.2f}", None],
                     [tf_fps * flops, ov_fps * flops]))
        print(rows[-1], flush=True)

    # 3. training steps of the recipes' networks
    lines += ["", f"3. Training (Keras on TensorFlow, batch 128, 40x40 crops, no augmentation, {args.steps} steps "
              "after warm-up); FLOPs = 3 x forward", "",
              "| recipe | network, precision | faces/s | TFLOP/s | share |", "|---|---|---:|---:|---:|"]
    for rname in ("vgg-bn", "one-hour"):
        cfg = make_config(recipes.get(rname).settings)
        keras.mixed_precision.set_global_policy(cfg.precision)
        model = compile_model(build_cnn(cfg.arch, cfg.dropout), cfg, steps_per_epoch=100)
        flops = 3 * forward_flops(model)
        xs = x[: 128 * args.steps]
        ys = smoothed_onehot(rng.integers(0, 7, len(xs)), 0.1)
        model.fit(xs[:256], ys[:256], batch_size=128, epochs=1, verbose=0)
        t = time.perf_counter()
        model.fit(xs, ys, batch_size=128, epochs=1, verbose=0, shuffle=False)
        fps = len(xs) / (time.perf_counter() - t)
        keras.mixed_precision.set_global_policy("float32")
        rows.append((3, [rname, f"{cfg.arch}, {cfg.precision}", f"{fps:.0f}", f"{fps * flops / 1e12:.2f}", None],
                     [fps * flops]))
        print(rows[-1], flush=True)

    peak = max([peak] + [r for _, _, rates in rows for r in rates])
    for section, cells, rates in rows:
        shares = iter(f"{r / peak:.0%}" for r in rates)
        row = "| " + " | ".join(c if c is not None else next(shares) for c in cells) + " |"
        at = next(i for i, l in enumerate(lines) if l.startswith(f"{section}. ")) + 4
        while at < len(lines) and lines[at].startswith("| "):
            at += 1
        lines.insert(at, row)
    text = "\n".join(["$ python bench/efficiency.py " + " ".join(sys.argv[1:]), f"{os.cpu_count()} CPU cores; "
                      f"reference rate (the fastest measured here): {peak / 1e12:.2f} TFLOP/s", "", *lines])
    with open(args.results, "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
