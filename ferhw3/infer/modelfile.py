"""Loading a saved model for inference, checked to be a 48x48-grey-face, 7-class model."""

from __future__ import annotations

import os
import sys

from ..errors import UsageError


def quiet_tensorflow() -> None:
    """Import TensorFlow with stderr muted: its C++ start-up lines (oneDNN notices) are
    printed before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
    Under another Keras backend (KERAS_BACKEND=jax on a GPU machine without TensorFlow) it
    does nothing."""
    if "tensorflow" in sys.modules or os.environ.get("KERAS_BACKEND") != "tensorflow":
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def float32_config(config):
    """A Keras model config with every dtype policy float32 (a model trained in
    mixed_bfloat16 then computes in float32, as every CPU can without emulation)."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "config" in config:
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: ("float32" if k == "dtype" and v == "mixed_bfloat16" else float32_config(v))
                for k, v in config.items()}
    if isinstance(config, list):
        return [float32_config(v) for v in config]
    return config


def in_float32(model):
    """`model` rebuilt in float32 with its weights (the model's own class: a Sequential's
    config is not a functional Model's); the same model where it is float32 already."""
    if all(getattr(layer, "dtype_policy", None) is None or layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    plain = type(model).from_config(float32_config(model.get_config()))
    plain.set_weights(model.get_weights())
    return plain


def load_model(path: str, float32: bool = False):
    """A saved .h5/.keras model for inference, or a UsageError naming the file; with
    `float32`, computing in float32 whatever precision it trained in (`in_float32`)."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: model file not found")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a folder, not a model file (.h5 or .keras)")
    quiet_tensorflow()
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # h5py/zip errors differ by format; the message is what matters
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{path}: cannot load model ({first[:120]})") from None
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or shape[2] != 1 or any(s not in (None, 48) for s in shape[:2]):
        raise UsageError(f"{path}: model expects input {shape}, not 48x48 grey faces (48, 48, 1)")
    if tuple(model.output_shape[1:]) != (7,):
        raise UsageError(f"{path}: model has output {tuple(model.output_shape[1:])}, not the 7 expression classes")
    return in_float32(model) if float32 else model
