"""Prediction engines: OpenVINO on the CPU's matrix units, with Keras (TensorFlow) as the fallback.

`load_predictor(path)` gives an object with Keras's `predict(x, batch_size, verbose)` and
`input_shape`, so `ferhw3.predict` works with either. With OpenVINO installed (and
FERHW3_ENGINE not set to `keras`), a shipped `.h5` is converted once, on first use, into an
OpenVINO model in a cache outside the repository (FERHW3_CACHE, default ~/.cache/ferhw3),
keyed by the file's hash; later runs read the cached model and never start TensorFlow.
A shipped model runs at the precision its manifest entry names (`openvino_precision`: bf16
where its labels agree with TensorFlow's float32 ones on >= 99.5% of the validation faces
and its accuracy moves by <= 0.1 point, bench/results_engine.md); another model in bf16 if
it was trained in bfloat16, else in f32.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np

from .errors import UsageError

ENGINE_ENV, CACHE_ENV = "FERHW3_ENGINE", "FERHW3_CACHE"
BATCH = 256  # faces per inference request; requests run asynchronously, several at a time


def engine_name() -> str:
    """"openvino" when it is installed and not turned off, else "keras"."""
    wanted = os.environ.get(ENGINE_ENV, "").lower()
    if wanted in ("keras", "tensorflow", "tf"):
        return "keras"
    try:
        import openvino  # noqa: F401
    except ImportError:
        if wanted == "openvino":
            raise UsageError(f"{ENGINE_ENV}=openvino, but openvino is not installed (pip install openvino)") from None
        return "keras"
    return "openvino"


def cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "ferhw3")


class KerasPredictor:
    """A loaded Keras model as a predictor (the fallback engine)."""

    engine = "keras"

    def __init__(self, model):
        self.model, self.input_shape, self.name = model, model.input_shape, model.name

    def predict(self, x, batch_size=512, verbose=0):
        return self.model.predict(x, batch_size=batch_size, verbose=verbose)


class OpenVINOPredictor:
    """An OpenVINO model compiled for each face size it is asked about, at `precision`."""

    engine = "openvino"

    def __init__(self, folder: str, meta: dict):
        import openvino as ov

        self.core, self.meta = ov.Core(), meta
        self.model_path = os.path.join(folder, "model.xml")
        self.precision, self.name = meta["precision"], meta["name"]
        side = meta["input_side"]
        self.input_shape = (None, side, side, 1)
        self.compiled = {}

    def _compiled(self, side: int):
        if side not in self.compiled:
            model = self.core.read_model(self.model_path)
            model.reshape([BATCH, side, side, 1])
            self.compiled[side] = self.core.compile_model(
                model, "CPU", {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "THROUGHPUT"})
        return self.compiled[side]

    def predict(self, x, batch_size=None, verbose=0):
        """Class probabilities of faces `x` (N, side, side, 1): batches of BATCH faces on as
        many inference requests as the device runs at once, without Python callbacks."""
        x = np.asarray(x, np.float32)
        n, side = len(x), x.shape[1]
        padded = np.zeros((-(-n // BATCH) * BATCH, *x.shape[1:]), np.float32)
        padded[:n] = x
        out = np.zeros((len(padded), 7), np.float32)
        compiled = self._compiled(side)
        requests = [compiled.create_infer_request()
                    for _ in range(max(1, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))]
        running = {}  # request number -> batch number

        def collect(r):
            requests[r].wait()
            b = running.pop(r)
            out[b * BATCH:(b + 1) * BATCH] = requests[r].get_output_tensor(0).data

        for b in range(len(padded) // BATCH):
            r = b % len(requests)
            if r in running:
                collect(r)
            requests[r].start_async({0: padded[b * BATCH:(b + 1) * BATCH]})
            running[r] = b
        for r in list(running):
            collect(r)
        return out[:n]


def _float32_config(config):
    """A Keras model config with every dtype policy float32 (OpenVINO's converter cannot take
    bfloat16 constants; it applies bf16 itself when compiling)."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "config" in config:
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: ("float32" if k == "dtype" and v == "mixed_bfloat16" else _float32_config(v))
                for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_config(v) for v in config]
    return config


def trained_in_bfloat16(model) -> bool:
    return any(getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.name == "mixed_bfloat16"
               for layer in model.layers)


def convert(model, folder: str, half: bool = False) -> dict:
    """Write `model` (Keras) as an OpenVINO model into `folder` (through a temporary folder
    and a rename), its weights as float16 with `half` (lossless for the shipped files, which
    store float16); returns its metadata."""
    import keras
    import openvino as ov
    import tensorflow as tf

    # the model's own class rebuilds it: a Sequential's config is not a functional Model's
    plain = type(model).from_config(_float32_config(model.get_config()))
    plain.set_weights(model.get_weights())
    side = model.input_shape[1]
    fn = tf.function(lambda x: plain(x, training=False),
                     input_signature=[tf.TensorSpec([None, side, side, 1], tf.float32)])
    meta = {"name": model.name, "input_side": side, "precision": "bf16" if trained_in_bfloat16(model) else "f32",
            "openvino": ov.__version__}
    tmp = f"{folder}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        ov.save_model(ov.convert_model(fn), os.path.join(tmp, "model.xml"), compress_to_fp16=half)
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process cached it first: theirs is the same model
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_predictor(path: str, engine: str | None = None):
    """The model saved at `path` as a predictor of the chosen (or best available) engine."""
    from .modelfile import load_model

    engine = engine or engine_name()
    if engine == "keras" or not os.path.isfile(path):  # a missing file or folder: load_model says which
        return KerasPredictor(load_model(path))
    import openvino as ov

    folder = os.path.join(cache_dir(), "openvino", f"{file_hash(path)[:20]}-{ov.__version__.split('-')[0]}")
    meta_path = os.path.join(folder, "meta.json")
    if not os.path.exists(meta_path):
        model = load_model(path)  # checks the input and output shapes first
        try:
            os.makedirs(os.path.dirname(folder), exist_ok=True)
            convert(model, folder)
        except OSError:  # no writable cache here: predict with Keras rather than fail
            return KerasPredictor(model)
        except Exception as e:  # noqa: BLE001  a layer OpenVINO's converter does not take: still predict
            import sys

            print(f"note: {path}: OpenVINO cannot convert this model ({' '.join(str(e).split())[:100]}); "
                  f"predicting with Keras", file=sys.stderr)
            return KerasPredictor(model)
    with open(meta_path) as f:
        predictor = OpenVINOPredictor(folder, json.load(f))
    from .manifest import entry_for

    predictor.precision = (entry_for(path) or {}).get("openvino_precision", predictor.precision)
    return predictor
