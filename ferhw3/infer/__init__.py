"""Prediction: predict (probabilities of a model or an ensemble, with test-time views; an
ensemble's labels without the views that cannot change them), engine (OpenVINO or Keras,
one `predict` for both), precision (f32, bf16 or int8: the fastest measured on this CPU),
quantize (int8 copies of a model), cache (what is worked out once per machine), h5graph (an .h5 model built into
OpenVINO without TensorFlow), modelfile (loading a model, checked), manifest (the shipped
models and their roles), compact (float16 model files), export (OpenVINO IR), outputs
(every prediction file), evaluate (a model on its validation faces), photos and video
(faces in pictures and films: detect, frame, read, track), draw (faces drawn on them)."""

import contextlib
import importlib


@contextlib.contextmanager
def no_telemetry():
    """OpenVINO's telemetry off while the block runs. `import openvino` (and its model
    converter) otherwise sends a usage event to Google Analytics from a forked process unless a
    consent file says no (openvino_telemetry treats a missing file as consent); predicting
    here must not reach the network. Its checker declines when it believes it runs in CI,
    so the block makes it believe that, and only for the block."""
    try:
        from openvino_telemetry.utils.opt_in_checker import OptInChecker
    except ImportError:  # no telemetry package: nothing to turn off
        yield
        return
    saved = OptInChecker.__dict__["_run_in_ci"]
    OptInChecker._run_in_ci = staticmethod(lambda: True)
    try:
        yield
    finally:
        OptInChecker._run_in_ci = saved


def openvino():
    """The openvino module, imported without its telemetry (`no_telemetry`)."""
    with no_telemetry():
        return importlib.import_module("openvino")
