#!/usr/bin/env python3
"""Where does a training step of the one-hour recipe spend its time, and what makes it faster?

    python bench/train_profile.py [--data TRAIN] [--faces 2560] [--jax-python PATH]

1. The profile: TensorFlow's profiler traces `--steps` steps of the one-hour recipe
   (vgg-bn-deep-wide, mixed_bfloat16, batch 128, the tf.data pipeline with its
   augmentation, deterministic ops) with Keras's batch norm; op time is summed by part of the step and, for the
   convolutions, by stage and direction (forward, backward to the input, backward to the
   weights).
2. Variants side by side: each in its own process (determinism and thread settings are
   process-wide), the same pipeline on the first 8,192 faces of TRAIN, the median
   faces/s of three timed passes of `--faces` faces after a warm-up. With --jax-python, a
   Python that has Keras on JAX adds the JAX CPU backend as a row.
3. One layer at a time: the native bf16 backward convolution against the gradient rebuilt
   from fast kernels (a forward convolution with the flipped kernel for the input, an
   im2col matmul for the weights).
Writes bench/results_train_profile.md. A timing, not a test: compare rows of one run.
"""

import argparse
import collections
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")
DATA = os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz")

# name -> (what it changes, environment of its process)
VARIANTS = {
    "recipe": ("the one-hour recipe with Keras's batch norm (fused_bn=false)", {}),
    "no-determinism": ("TensorFlow's deterministic ops off", {"P_DET": "0"}),
    "no-augmentation": ("the same batches augmented once beforehand and replayed", {"P_CACHE": "1"}),
    "float32": ("float32 instead of mixed_bfloat16", {"P_PREC": "float32"}),
    "inter-op-1": ("one op at a time (inter-op threads 1), each on both cores", {"P_INTER": "1"}),
    "batch-256": ("batch 256", {"P_BATCH": "256"}),
    "fused-bn": ("batch norm through TensorFlow's fused kernel (fused_bn, the default)", {"P_FUSED_BN": "1"}),
    "xla": ("XLA (jit_compile=True)", {"P_XLA": "1"}),
    "bare-convs": ("upper bound: no batch norm, dropout or L2 (not the recipe's network)", {"P_BARE": "1"}),
}


# ---- one variant, in its own process ---------------------------------------------------------

def variant_model(arch, fused_bn: bool, bare: bool):
    """The recipe's network; bare: without batch norm, dropout and L2; fused_bn: its batch
    norms fused as training fuses them (ferhw3.train.models.fuse_batch_norm)."""
    import keras

    from ferhw3.train.models import build_cnn, fuse_batch_norm

    model = build_cnn(arch)
    if bare:
        class Pass(keras.layers.Layer):
            def call(self, x, training=None, mask=None):
                return x

        def clone(layer):
            if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout)):
                return Pass(name=layer.name)
            config = layer.get_config()
            if "kernel_regularizer" in config:
                config["kernel_regularizer"] = None
            return layer.__class__.from_config(config)

        model = keras.models.clone_model(model, clone_function=clone)
    return fuse_batch_norm(model) if fused_bn else model


def run_variant(data: str, n_faces: int, steps_profile: int, profile_dir: str | None) -> dict:
    env = os.environ
    import numpy as np
    import tensorflow as tf

    if env.get("P_INTER"):
        tf.config.threading.set_inter_op_parallelism_threads(int(env["P_INTER"]))
    if env.get("P_DET", "1") == "1":
        tf.config.experimental.enable_op_determinism()
    import keras

    from ferhw3.data.pipeline import train_dataset
    from ferhw3.data.read import load_csv
    from ferhw3.train import recipes
    from ferhw3.train.config import make_config
    from ferhw3.train.optim import compile_model
    from ferhw3.train.step import recipe_augmenter

    cfg = make_config(recipes.get("one-hour").settings)
    precision, batch = env.get("P_PREC", cfg.precision), int(env.get("P_BATCH", cfg.batch_size))
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    faces = load_csv(data, expect="train")
    x, y = faces.x[:8192], faces.labels[:8192]
    ds = train_dataset(x, y, batch, recipe_augmenter(cfg, x.shape[1]), seed=0, epochs=range(1000))
    steps = max(n_faces // batch, 1)
    if env.get("P_CACHE"):
        cached = list(ds.take(steps).as_numpy_iterator())
        ds = tf.data.Dataset.from_tensor_slices(tuple(np.stack(part) for part in zip(*cached))).repeat()
    model = variant_model(cfg.arch, bool(env.get("P_FUSED_BN")), bool(env.get("P_BARE")))
    compile_model(model, cfg, 100, jit_compile=True if env.get("P_XLA") else "auto")
    model.fit(ds.take(4), epochs=1, verbose=0)  # tracing, kernel selection
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        model.fit(ds.take(steps), epochs=1, verbose=0)
        rates.append(steps * batch / (time.perf_counter() - t))
    out = {"faces_per_s": statistics.median(rates), "passes": rates}
    if profile_dir:
        tf.profiler.experimental.start(profile_dir)
        t = time.perf_counter()
        model.fit(ds.take(steps_profile), epochs=1, verbose=0)
        out["profiled_wall_s"] = time.perf_counter() - t
        tf.profiler.experimental.stop()
        out["profile"] = read_profile(profile_dir)
    return out


# ---- the profile ---------------------------------------------------------------------------

PART_OF_OP = [  # (part, pattern on the op's scope and type), first match wins
    ("augmentation (tf.data map)", r"^data "),
    ("convolution, backward to the weights", r"Conv2DBackpropFilter"),
    ("convolution, backward to the input", r"Conv2DBackpropInput"),
    ("convolution, forward", r"Conv2D"),
    ("batch norm (statistics, casts, scaling, its gradient)", r"/bn\d_\d"),
    ("dropout (random masks and their gradient)", r"/drop\d|head_drop"),
    ("optimizer (SGD update, weight decay)", r"SGD|/sgd|AssignSub|AssignAdd|ResourceApply"),
    ("ReLU, pooling, loss, casts and the rest", r""),
]


def read_profile(log_dir: str) -> dict:
    """Op seconds from the trace (summed over TensorFlow's compute and tf.data threads), by
    part of the step and by convolution layer and direction."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(sorted(glob.glob(os.path.join(log_dir, "**", "*.xplane.pb"), recursive=True))[-1], "rb") as f:
        space.ParseFromString(f.read())
    parts, convs = collections.Counter(), collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            data = line.name.startswith("tf_data_private")
            if not (data or line.name.startswith("tf_Compute")):
                continue
            for ev in line.events:
                name = names.get(ev.metadata_id, "")
                if ":" not in name or "::" in name:  # executor wrappers around the ops, not ops
                    continue
                key = ("data " if data else "") + name
                seconds = ev.duration_ps / 1e12
                parts[next(p for p, pat in PART_OF_OP if re.search(pat, key))] += seconds
                m = re.search(r"/(conv\d_\d)", name)
                if m and not data and "Conv2D" in name:
                    way = "weights" if "BackpropFilter" in name else "input" if "BackpropInput" in name else "forward"
                    convs[f"{m.group(1)} {way}"] += seconds
    return {"parts": dict(parts), "convs": dict(convs)}


# ---- one layer at a time ---------------------------------------------------------------------

LAYERS = [(40, 1, 32), (20, 32, 64), (20, 64, 64), (10, 64, 160), (10, 160, 160), (5, 160, 320), (5, 320, 320)]


def layer_rows(batch=128, repeats=10) -> list[str]:
    import numpy as np
    import tensorflow as tf

    def native(x, k, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, k])
            y = tf.nn.conv2d(x, k, 1, "SAME")
        return tape.gradient(y, [x, k], output_gradients=dy)

    def rebuilt(x, k, dy):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        dx = tf.nn.conv2d(dy, tf.transpose(tf.reverse(k, [0, 1]), [0, 1, 3, 2]), 1, "SAME")
        xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        cols = tf.concat([xp[:, i:i + h, j:j + w, :] for i in range(3) for j in range(3)], axis=-1)
        dk = tf.matmul(tf.reshape(cols, [-1, 9 * c]), tf.reshape(dy, [-1, dy.shape[3]]), transpose_a=True)
        return dx, tf.reshape(dk, k.shape)

    def ms(fn, *args):
        for _ in range(3):
            [t.numpy() for t in tf.nest.flatten(fn(*args))]
        t = time.perf_counter()
        for _ in range(repeats):
            [t_.numpy() for t_ in tf.nest.flatten(fn(*args))]
        return (time.perf_counter() - t) / repeats * 1e3

    rng, rows = np.random.default_rng(0), []
    forward = tf.function(lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"))
    for h, c, o in LAYERS:
        x = tf.constant(rng.standard_normal((batch, h, h, c)), tf.bfloat16)
        k = tf.constant(rng.standard_normal((3, 3, c, o)) * 0.1, tf.bfloat16)
        dy = tf.constant(rng.standard_normal((batch, h, h, o)), tf.bfloat16)
        f, n, r = ms(forward, x, k), ms(tf.function(native), x, k, dy), ms(tf.function(rebuilt), x, k, dy)
        gflop = 2 * batch * h * h * 9 * c * o / 1e9
        rows.append(f"| {h}x{h}x{c} -> {o} | {f:.1f} ({gflop / f:.2f}) | {n:.1f} ({2 * gflop / n:.2f}) | "
                    f"{r:.1f} ({2 * gflop / r:.2f}) | {n / f:.1f}x |")
        print(rows[-1], flush=True)
    return rows


# ---- the report ------------------------------------------------------------------------------

def child(args, variant, profile_dir=None, python=None, backend="tensorflow") -> dict:
    env = {**os.environ, **VARIANTS.get(variant, ("", {}))[1], "KERAS_BACKEND": backend, "PYTHONPATH": ROOT}
    cmd = [python or sys.executable, __file__, "--child", variant, "--data", args.data, "--faces", str(args.faces),
           "--steps", str(args.steps)] + (["--profile-dir", profile_dir] if profile_dir else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(lines[-1])


def cpu_name() -> str:
    """The CPU's model name and its bf16 matrix features, from /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    return f"{name}, {'AVX512-BF16' if 'avx512_bf16' in flags else 'no AVX512-BF16'}, " \
           f"{'AMX' if 'amx_bf16' in flags else 'no AMX'}"


def jax_variant(data: str, n_faces: int) -> dict:
    """The recipe's network and precision on Keras's JAX backend (arrays; no augmentation)."""
    import keras

    from ferhw3.data.pipeline import smoothed_onehot
    from ferhw3.data.read import load_csv
    from ferhw3.train import recipes
    from ferhw3.train.config import make_config
    from ferhw3.train.models import build_cnn
    from ferhw3.train.optim import compile_model

    cfg = make_config(recipes.get("one-hour").settings)
    keras.mixed_precision.set_global_policy(cfg.precision)
    keras.utils.set_random_seed(0)
    faces = load_csv(data, expect="train")
    x = faces.x[:n_faces, 4:44, 4:44].astype("float32")
    y = smoothed_onehot(faces.labels[:n_faces])
    model = compile_model(build_cnn(cfg.arch), cfg, 100)
    model.fit(x[:4 * cfg.batch_size], y[:4 * cfg.batch_size], batch_size=cfg.batch_size, verbose=0)
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        model.fit(x, y, batch_size=cfg.batch_size, verbose=0)
        rates.append(len(x) / (time.perf_counter() - t))
    return {"faces_per_s": statistics.median(rates), "passes": rates}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DATA)
    p.add_argument("--faces", type=int, default=2560, help="faces per timed pass")
    p.add_argument("--steps", type=int, default=10, help="steps in the profiled trace")
    p.add_argument("--jax-python", help="a Python with Keras and JAX, for the JAX CPU row")
    p.add_argument("--results", default=os.path.join(HERE, "results_train_profile.md"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--profile-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        if os.environ.get("KERAS_BACKEND") == "jax":
            print(json.dumps(jax_variant(args.data, args.faces)))
        else:
            cli.quiet_tensorflow()
            print(json.dumps(run_variant(args.data, args.faces, args.steps, args.profile_dir)))
        return

    out = [f"$ python bench/train_profile.py{' --jax-python PYTHON' if args.jax_python else ''}",
           f"{os.cpu_count()} CPU cores ({cpu_name()}); {time.strftime('%Y-%m-%d')}; the one-hour recipe "
           "(vgg-bn-deep-wide, mixed_bfloat16, batch 128, 40x40 crops)", ""]
    with tempfile.TemporaryDirectory() as log:
        base = child(args, "recipe", profile_dir=log)
    if "error" in base:
        sys.exit(f"train_profile: the recipe's run failed: {base['error']}")
    parts, convs = base["profile"]["parts"], base["profile"]["convs"]
    total = sum(parts.values())
    out += [f"1. Where the time goes: {args.steps} profiled steps, {base['profiled_wall_s']:.2f} s wall, "
            f"{total:.2f} s of op time (ops of the two compute threads and the tf.data thread, summed)", "",
            "| part of the step | op seconds | share |", "|---|---:|---:|"]
    out += [f"| {part} | {parts.get(part, 0):.3f} | {100 * parts.get(part, 0) / total:.1f}% |" for part, _ in PART_OF_OP]
    out += ["", "Convolutions by layer: op seconds forward / backward to the input / backward to the weights",
            "", "| layer | forward | to the input | to the weights | backward / forward |", "|---|---:|---:|---:|---:|"]
    for layer in sorted({k.split()[0] for k in convs}):
        f, i, w = (convs.get(f"{layer} {way}", 0.0) for way in ("forward", "input", "weights"))
        out.append(f"| {layer} | {f:.3f} | {i:.3f} | {w:.3f} | {(i + w) / max(f, 1e-9):.1f}x |")
    print("\n".join(out), flush=True)

    out += ["", f"2. Variants, each in its own process: median faces/s of three passes of {args.faces} faces",
            "", "| variant | what changes | faces/s | vs the recipe |", "|---|---|---:|---:|"]
    rows = [("recipe (profiled run)", VARIANTS["recipe"][0], base)]
    rows += [(name, what, child(args, name)) for name, (what, _) in VARIANTS.items() if name != "recipe"]
    rows.append(("recipe (again, last)", "the drift of the machine during the run", child(args, "recipe")))
    if args.jax_python:
        rows.append(("jax-cpu", "Keras on JAX (XLA:CPU), arrays, no augmentation",
                     child(args, "jax", python=args.jax_python, backend="jax")))
    for name, what, r in rows:
        rate = r.get("faces_per_s")
        out.append(f"| {name} | {what} | {rate:.0f} | {rate / base['faces_per_s']:.2f}x |" if rate else
                   f"| {name} | {what} | failed: {r.get('error')} | |")
        print(out[-1], flush=True)

    out += ["", "3. One bf16 layer (batch 128): ms (TFLOP/s) of the forward convolution, the native backward "
            "(both gradients), and the backward rebuilt from a forward convolution and an im2col matmul", "",
            "| layer | forward | native backward | rebuilt backward | native backward / forward |",
            "|---|---:|---:|---:|---:|"]
    cli.quiet_tensorflow()
    out += layer_rows()
    text = "\n".join(out) + "\n"
    tmp = args.results + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.results)
    print(f"train_profile: wrote {args.results}")


if __name__ == "__main__":
    main()
