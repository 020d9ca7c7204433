"""Write a saved model as an OpenVINO model (IR: NAME.xml + NAME.bin) for deployment.

    ferhw3 export MODEL.h5 OUT_DIR

The IR takes faces of any size (48x48 grey, values 0-255, NHWC float32) and returns the 7
class probabilities; weights are stored as float16, as the shipped files store them. Load
it with `openvino.Core().read_model(...)`. An `.h5` of the layers `ferhw3.infer.h5graph`
knows is built without TensorFlow; another model is converted through Keras (the `train`
extra). ONNX is not written: the converters for Keras 3 on this TensorFlow are not installed.
"""

from __future__ import annotations

import os
import shutil


def export(model_path: str, out_dir: str) -> list[str]:
    """The IR files written for `model_path` into `out_dir`."""
    from . import openvino
    from .engine import NEEDS_KERAS, built_predictor, convert, keras_available
    from .h5graph import Unsupported

    ov = openvino()
    name = os.path.splitext(os.path.basename(model_path))[0]
    os.makedirs(out_dir, exist_ok=True)
    work = os.path.join(out_dir, f".{name}.export")
    shutil.rmtree(work, ignore_errors=True)
    try:
        try:
            built = built_predictor(model_path).model
        except Unsupported as e:
            if not keras_available():
                from ..errors import UsageError

                raise UsageError(f"{model_path}: this model needs Keras to be converted ({e}); {NEEDS_KERAS}") from None
            from .modelfile import load_model

            convert(load_model(model_path), work, half=True)
        else:
            os.makedirs(work)
            ov.save_model(built, os.path.join(work, "model.xml"), compress_to_fp16=True)
        written = []
        for ext in ("xml", "bin"):
            target = os.path.join(out_dir, f"{name}.{ext}")
            os.replace(os.path.join(work, f"model.{ext}"), target)
            written.append(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return written
