"""A whole training run of train_cnn.py: data, teachers, time budget, fit, self-training."""

from __future__ import annotations

import os

from ..data.read import load_faces, take_faces
from ..errors import UsageError
from ..infer.manifest import shipped
from ..infer.modelfile import load_model
from ..runfiles import RunFiles
from . import budget, distill
from .config import Config
from .fit import Extras, Result, fit
from .models import build_cnn
from .step import for_this_machine


def model_path(path: str) -> str:
    """`path` as given, or, when it does not exist there, the shipped model it names (a
    recipe names its teachers as models/NAME.h5, wherever the command runs)."""
    return shipped(path)


def train_cnn(train_csv: str, cfg: Config, out: str, resume: bool = False, init: str | None = None,
              strategy=None, limit: int = 0, record: dict | None = None) -> Result:
    """Train the CNN of `cfg` on the labelled faces of `train_csv` into `out`; then, if the
    config asks, self-train it on `cfg.self_train`'s faces. Bad files fail before training."""
    RunFiles(out).refuse_if_busy()  # before the data loads: a second run on OUT fails at once
    cfg = for_this_machine(cfg)
    # many answers per face (teacher_windows) go to the prediction engine, 4x Keras's speed for a VGG
    from ..infer.engine import load_predictor

    load = load_predictor if cfg.teacher_windows else load_model
    teachers = [load(model_path(t)) for t in cfg.teachers]  # a bad model fails before the data loads
    faces = take_faces(load_faces(train_csv, expect="train"), limit, cfg, train_csv)
    unlabelled = load_faces(cfg.self_train) if cfg.self_train else None
    distil_on = load_faces(cfg.unlabelled) if cfg.unlabelled else None
    build = lambda: build_cnn(cfg.arch, cfg.dropout)  # noqa: E731

    teacher, extra = None, None
    if teachers:
        for path in cfg.teachers:
            distill.warn_if_other_split(model_path(path), cfg.validation_seed, cfg.val_size, len(faces))
        if cfg.teacher_windows:
            teacher = distill.window_teacher(teachers, [model_path(t) for t in cfg.teachers], cfg.crop,
                                             cfg.teacher_windows, RunFiles(out).stem)
        else:
            teacher = distill.ensemble_teacher(teachers)
    if distil_on is not None:  # their target is the teacher's alone: (1 - w) x teacher + w x teacher
        extra = (distil_on.x, teacher(distil_on.x))
        print(f"distillation: {len(distil_on):,} unlabelled faces from {cfg.unlabelled} join the training part")
    deadline = (budget.plan(build, faces, cfg, RunFiles(out), resume, n_extra=len(extra[0]) if extra else 0),) \
        if cfg.minutes else ()
    res = fit(build, faces, cfg, out, Extras(resume=resume, init=init, teacher=teacher, extra_train=extra,
                                             callbacks=deadline, record=record), strategy=strategy)
    print(f"train {res.n_train} / validation {res.n_val} faces (stratified, seed {cfg.validation_seed})")
    if unlabelled is not None and cfg.mean_teacher:
        from .meanteacher import fine_tune

        res = fine_tune(build, faces, cfg, unlabelled.x, res, out)
    elif unlabelled is not None:
        from .selftrain import self_train

        res, _ = self_train(build, faces, cfg, unlabelled.x, res, out)
    return res


def make_strategy(cpu_devices: int = 0):
    """Data parallel training over all GPUs, or over `cpu_devices` CPU devices: on TensorFlow
    a tf.distribute.MirroredStrategy (returned, for fit's scope); on JAX the Keras
    distribution API's DataParallel, set for the process (None returned). Either way the
    batch size is the global batch, split evenly over the devices."""
    import keras

    if keras.backend.backend() == "jax":
        return _jax_data_parallel(cpu_devices)
    import tensorflow as tf

    devices = None
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices=devices)
    print(f"Distributing over {strategy.num_replicas_in_sync} devices: {', '.join(strategy.extended.worker_devices)}")
    return strategy


def _jax_data_parallel(cpu_devices: int):
    if cpu_devices > 1:
        # read when JAX starts its CPU backend, which no step before this one has asked for
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={cpu_devices}").strip()
    import jax
    import keras

    devices = jax.devices("cpu") if cpu_devices > 1 else jax.devices()
    if cpu_devices > 1 and len(devices) != cpu_devices:
        raise UsageError(f"{cpu_devices} CPU devices asked for, but JAX had started with {len(devices)}; "
                         f"set XLA_FLAGS=--xla_force_host_platform_device_count={cpu_devices}")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    print(f"Distributing over {len(devices)} devices (Keras DataParallel on JAX): "
          f"{', '.join(str(d) for d in devices)}")
    return None
