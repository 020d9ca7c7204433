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


def load_model(path: str):
    """A saved .h5/.keras model for inference, or a UsageError naming the file."""
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
    return model
