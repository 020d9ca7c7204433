"""The training step, built in one place: the network of a config at its precision, batch
norm in TensorFlow's fused kernel, the augmentation where the feed wants it, the optimiser
and loss. `fit`, the budget's speed probe and the mean teacher all train what `build_step`
returns, so a setting added to the step reaches all three."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import keras

from ..cpu import CPUINFO, cpu_flags
from ..data.pipeline import augmenter, eraser
from .config import Config
from .models import fuse_batch_norm
from .optim import compile_model

FEEDS = ("auto", "tf.data", "arrays")
# CPU flags (Linux's /proc/cpuinfo) of bfloat16 arithmetic: AVX512-BF16 and AMX on x86, BF16 on Arm.
# Without them TensorFlow emulates bfloat16: the one-hour recipe trained at 15 s a step of 128 faces
# in mixed_bfloat16 on a 2-core AVX2-only AMD EPYC, about 1.4 s in float32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@dataclass
class Step:
    model: keras.Model    # the classifier: what is validated and saved
    trainer: keras.Model  # what fit() trains: the classifier, or the augmentation then it (fed arrays)
    aug: object           # the augmentation for a tf.data stream (None: none, or inside `trainer`)
    arrays: bool          # fed arrays that Keras shuffles, not a tf.data stream
    on_tf: bool           # on TensorFlow's backend


def recipe_augmenter(cfg: Config, side: int, in_model: bool = False):
    """The run's augmentation layers for faces of `side` pixels, or None without augmentation
    (a crop as large as the face is no crop)."""
    if not cfg.augment:
        return None
    crop = cfg.crop if cfg.crop and cfg.crop < side else 0
    if cfg.teacher_windows and cfg.teachers and not in_model:
        # the tf.data stream cuts and mirrors the windows itself (ferhw3.data.pipeline.window_batch)
        return eraser(cfg.erase, seed=cfg.seed) if cfg.erase else None
    return augmenter(crop, cfg.rotation, cfg.zoom, cfg.shift, seed=cfg.seed, erase=cfg.erase, in_model=in_model,
                     side=side)


def feeds_arrays(feed: str) -> bool:
    """Whether a run with `feed` trains from arrays: "tf.data" (batches augmented in a tf.data
    pipeline, resume-exact; TensorFlow only), "arrays" (the augmentation runs inside the
    trained model, on the accelerator), or "auto": tf.data on TensorFlow, arrays elsewhere."""
    on_tf = keras.backend.backend() == "tensorflow"
    if feed not in FEEDS or (feed == "tf.data" and not on_tf):
        raise ValueError(f"feed {feed!r}: must be auto, arrays, or tf.data (TensorFlow backend only)")
    return feed == "arrays" or (feed == "auto" and not on_tf)


def cpu_has_bfloat16(cpuinfo: str = CPUINFO) -> bool | None:
    """Whether this CPU does bfloat16 arithmetic itself (BF16_FLAGS); None where its flags
    cannot be read (not Linux)."""
    flags = cpu_flags(cpuinfo)
    return None if flags is None else any(flag in flags for flag in BF16_FLAGS)


def for_this_machine(cfg: Config, cpuinfo: str = CPUINFO, say=print) -> Config:
    """`cfg`, or, when it asks for mixed_bfloat16 on TensorFlow's CPU and the CPU has no
    bfloat16 instructions, the same config in float32: there TensorFlow emulates bfloat16 and
    a time budget would buy a tenth of the epochs or fewer. GPUs and other backends keep it."""
    if cfg.precision != "mixed_bfloat16" or keras.backend.backend() != "tensorflow" or cpu_has_bfloat16(cpuinfo) is not False:
        return cfg
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return cfg
    say(f"precision: float32, not mixed_bfloat16: this CPU has no bfloat16 instructions "
        f"({', '.join(BF16_FLAGS[:2])}), so TensorFlow would emulate them, far slower")
    return dataclasses.replace(cfg, precision="float32")


def _deterministic_ops() -> None:
    """Same seed, same result: ask TensorFlow for deterministic kernels (it raises if an op
    has none). Must run before any op is executed, so it is skipped when that is too late."""
    import tensorflow as tf

    try:
        tf.config.experimental.enable_op_determinism()
    except RuntimeError:
        pass


def build_step(model_fn, cfg: Config, side: int, steps_per_epoch: int, feed: str = "auto", strategy=None,
               start=None, compiled: bool = True) -> Step:
    """The training step of `cfg` for faces of `side` pixels: seeds, precision (every run
    sets it: a float32 run after a bfloat16 one stays float32), the model `model_fn()` builds
    (in `strategy`'s scope when given), its batch norms fused on TensorFlow (cfg.fused_bn),
    `start(model)` called on it (weights to begin from), the augmentation, and with `compiled`
    the optimiser and loss of cfg over `steps_per_epoch` steps an epoch."""
    arrays = feeds_arrays(feed)
    on_tf = keras.backend.backend() == "tensorflow"
    if arrays and cfg.mixup:
        raise ValueError(f"mixup={cfg.mixup:g}: mixup runs in the tf.data feed, which needs TensorFlow's backend")
    keras.utils.set_random_seed(cfg.seed)
    if on_tf:
        _deterministic_ops()
    keras.mixed_precision.set_global_policy(cfg.precision)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = model_fn()
        if on_tf and cfg.fused_bn:
            fuse_batch_norm(model)
        if start is not None:
            start(model)
        aug = recipe_augmenter(cfg, side, in_model=arrays)
        # fed arrays, fit() trains the augmentation layers then the model (they pass faces through
        # unchanged outside training); the saved models are always `model` itself
        trainer = model if not arrays or aug is None else keras.Sequential(
            [keras.Input((side, side, 1), name="face"), aug, model], name="augment_then_model")
        if compiled:
            compile_model(trainer, cfg, steps_per_epoch)
    return Step(model, trainer, None if arrays else aug, arrays, on_tf)
