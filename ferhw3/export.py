"""Write a saved model as an OpenVINO model (IR: NAME.xml + NAME.bin) for deployment.

    python -m ferhw3 export MODEL.h5 OUT_DIR

The IR takes faces of any size (48x48 grey, values 0-255, NHWC float32) and returns the 7
class probabilities; weights are stored as float16, as the shipped files store them. Load
it with `openvino.Core().read_model(...)`. ONNX is not written: the converters for Keras 3
on this TensorFlow are not installed here.
"""

from __future__ import annotations

import os
import shutil

from .modelfile import load_model


def export(model_path: str, out_dir: str) -> list[str]:
    """The IR files written for `model_path` into `out_dir`."""
    from .engine import convert

    model = load_model(model_path)
    name = os.path.splitext(os.path.basename(model_path))[0]
    os.makedirs(out_dir, exist_ok=True)
    work = os.path.join(out_dir, f".{name}.export")
    shutil.rmtree(work, ignore_errors=True)
    convert(model, work, half=True)
    written = []
    for ext in ("xml", "bin"):
        target = os.path.join(out_dir, f"{name}.{ext}")
        os.replace(os.path.join(work, f"model.{ext}"), target)
        written.append(target)
    shutil.rmtree(work, ignore_errors=True)
    return written
