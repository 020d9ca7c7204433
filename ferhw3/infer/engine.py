"""Prediction engines: OpenVINO on the CPU's matrix units, with Keras (TensorFlow) as the fallback.

`load_predictor(path)` gives an object with Keras's `predict(x, batch_size, verbose)` and
`input_shape`, so `ferhw3.infer.predict` works with either. With OpenVINO (the base install) and
FERHW3_ENGINE not set to `keras`, an `.h5` file of the layers `ferhw3.infer.h5graph` knows
(every shipped model, most small CNNs) is built into an OpenVINO model straight from the
file, in milliseconds, without TensorFlow or Keras. Any other model (a `.keras` file, other
layers) is converted through Keras when the `train` extra is installed, once, into a cache
outside the repository (FERHW3_CACHE, default ~/.cache/ferhw3) keyed by the file's hash,
and refused in one line naming the extra when it is not.
Each model runs at the fastest precision, measured on this CPU (`ferhw3.infer.precision`),
among those its accuracy allows: f32 always; bf16 where its manifest entry names it
(`openvino_precision`: labels agreeing with TensorFlow's float32 ones on >= 99.5% of the
validation faces, bench/results_engine.md), or, for another model, where it trained in
bfloat16; int8 where an int8 copy made from this very file sits beside it
(`ferhw3.infer.quantize`; the shipped ones were measured paired per role,
bench/results_precision_roles.md).
"""

from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np

from ..errors import UsageError
from . import no_telemetry, openvino
from .cache import cache_dir, file_hash

ENGINE_ENV = "FERHW3_ENGINE"
BATCH = 256  # faces per inference request; requests run asynchronously, several at a time
# A call of a few faces (a video frame's, a photo's, a service request's) is one request on
# every core at once (OpenVINO's LATENCY hint), padded to the smallest of these batches: on
# two cores a frame's 2 faces x 2 views read in 2.1 ms, where 8 faces on one core took 7.4 ms.
SMALL = (4, 8, 16, 32)


def engine_name() -> str:
    """"openvino" when it is installed and not turned off, else "keras"."""
    wanted = os.environ.get(ENGINE_ENV, "").lower()
    if wanted in ("keras", "tensorflow", "tf"):
        return "keras"
    try:
        openvino()
    except ImportError:
        if wanted == "openvino":
            raise UsageError(f"{ENGINE_ENV}=openvino, but openvino is not installed (pip install openvino)") from None
        return "keras"
    return "openvino"


class KerasPredictor:
    """A loaded Keras model as a predictor (the fallback engine)."""

    engine = "keras"

    def __init__(self, model):
        self.model, self.input_shape, self.name = model, model.input_shape, model.name

    def predict(self, x, batch_size=512, verbose=0):
        return self.model.predict(x, batch_size=batch_size, verbose=verbose)


class OpenVINOPredictor:
    """An OpenVINO model (an `openvino.Model`, and its int8 copy where there is one)
    compiled for each face size it is asked about, at the fastest precision it allows
    (`runs_at`)."""

    engine = "openvino"

    def __init__(self, model, meta: dict, int8=None):
        ov = openvino()

        self.core, self.meta, self.model, self.int8 = ov.Core(), meta, model, int8
        self.precision, self.name = meta["precision"], meta["name"]
        side = meta["input_side"]
        self.input_shape = (None, side, side, 1)
        self.compiled = {}
        self._compiling = threading.Lock()
        self._runs_at = None

    def allowed(self) -> list[str]:
        """The precisions its accuracy allows: f32, bf16 where `precision` is bf16, int8
        where it has an int8 copy."""
        return ["f32"] + (["bf16"] if self.precision == "bf16" else []) + (["int8"] if self.int8 is not None else [])

    def runs_at(self) -> str:
        """The precision it computes in: the fastest allowed on this CPU, measured once
        (`ferhw3.infer.precision.choose`)."""
        if self._runs_at is None:
            from .precision import choose

            self._runs_at = choose(self.allowed(), self.model, self.int8)
        return self._runs_at

    def _compiled(self, side: int, batch: int = BATCH):
        with self._compiling:  # threads share a predictor (the service): one compilation a shape
            if (side, batch) not in self.compiled:
                precision = self.runs_at()
                model = (self.int8 if precision == "int8" else self.model).clone()
                model.reshape([batch, side, side, 1])
                self.compiled[side, batch] = self.core.compile_model(model, "CPU", {
                    "INFERENCE_PRECISION_HINT": "f32" if precision == "int8" else precision,
                    "PERFORMANCE_HINT": "LATENCY" if batch in SMALL else "THROUGHPUT"})
            return self.compiled[side, batch]

    def predict(self, x, batch_size=None, verbose=0):
        """Class probabilities of faces `x` (N, side, side, 1): batches of BATCH faces on as
        many inference requests as the device runs at once, without Python callbacks; a few
        faces in one small batch (SMALL)."""
        x = np.asarray(x, np.float32)
        n, side = len(x), x.shape[1]
        batch = next((b for b in SMALL if n <= b), BATCH)  # a few faces are not padded to a whole batch
        padded = np.zeros((-(-n // batch) * batch, *x.shape[1:]), np.float32)
        padded[:n] = x
        out = np.zeros((len(padded), 7), np.float32)
        compiled = self._compiled(side, batch)
        requests = [compiled.create_infer_request()
                    for _ in range(max(1, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))]
        running = {}  # request number -> batch number

        def collect(r):
            requests[r].wait()
            b = running.pop(r)
            out[b * batch:(b + 1) * batch] = requests[r].get_output_tensor(0).data

        for b in range(len(padded) // batch):
            r = b % len(requests)
            if r in running:
                collect(r)
            requests[r].start_async({0: padded[b * batch:(b + 1) * batch]})
            running[r] = b
        for r in list(running):
            collect(r)
        return out[:n]


def trained_in_bfloat16(model) -> bool:
    return any(getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.name == "mixed_bfloat16"
               for layer in model.layers)


def convert(model, folder: str, half: bool = False) -> dict:
    """Write `model` (Keras) as an OpenVINO model into `folder` (through a temporary folder
    and a rename), its weights as float16 with `half` (lossless for the shipped files, which
    store float16); returns its metadata."""
    import keras  # noqa: F401  (before TensorFlow: Keras 3 sets up its backend)
    import tensorflow as tf

    ov = openvino()

    from .modelfile import in_float32

    # OpenVINO's converter cannot take bfloat16 constants; it applies bf16 itself when compiling
    plain = in_float32(model)
    side = model.input_shape[1]
    fn = tf.function(lambda x: plain(x, training=False),
                     input_signature=[tf.TensorSpec([None, side, side, 1], tf.float32)])
    meta = {"name": model.name, "input_side": side, "precision": "bf16" if trained_in_bfloat16(model) else "f32",
            "openvino": ov.__version__}
    tmp = f"{folder}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        with no_telemetry():  # the converter sends usage events too
            converted = ov.convert_model(fn)
        ov.save_model(converted, os.path.join(tmp, "model.xml"), compress_to_fp16=half)
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


def keras_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("keras") is not None


NEEDS_KERAS = "install the training extra for it: pip install 'ferhw3[train]'"


def load_predictor(path: str, engine: str | None = None):
    """The model saved at `path` as a predictor of the chosen (or best available) engine."""
    engine = engine or engine_name()
    if engine == "keras" or not os.path.isfile(path):  # a missing file or folder: load_model says which
        return KerasPredictor(_load_keras(path))
    from .h5graph import Unsupported

    try:
        return built_predictor(path)
    except Unsupported as e:
        why = str(e)
    if not keras_available():
        raise UsageError(f"{path}: this model needs Keras to be converted ({why}); {NEEDS_KERAS}")
    return converted_predictor(path)


def _load_keras(path: str):
    from .modelfile import load_model

    if os.path.isfile(path) and not keras_available():
        raise UsageError(f"{path}: FERHW3_ENGINE=keras needs Keras; {NEEDS_KERAS}")
    return load_model(path)


def check_io(path: str, side, channels, classes) -> None:
    """A UsageError unless the model reads 48x48 grey faces (or any side) into 7 classes."""
    if channels != 1 or side not in (None, 48):
        raise UsageError(f"{path}: model expects input {(side, side, channels)}, not 48x48 grey faces (48, 48, 1)")
    if classes != 7:
        raise UsageError(f"{path}: model has output ({classes},), not the 7 expression classes")


def built_predictor(path: str) -> OpenVINOPredictor:
    """The .h5 at `path` built into OpenVINO by `h5graph` (no Keras); `Unsupported` if it
    holds a layer the builder does not know, a UsageError if it is no model file."""
    from .h5graph import Unsupported, build, config_in_bfloat16, input_channels

    if not path.lower().endswith((".h5", ".hdf5")):
        raise Unsupported("not an .h5 file")
    try:
        model, side, config = build(path)
    except Unsupported:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError) as e:  # not HDF5, or not a Keras model in it
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{path}: cannot load model ({first[:120]})") from None
    out = model.output(0).get_partial_shape()
    check_io(path, side, input_channels(config), out[1].get_length() if out[1].is_static else None)
    from .manifest import entry_for

    meta = {"name": model.get_friendly_name(), "input_side": side,
            "precision": "bf16" if config_in_bfloat16(config) else "f32"}
    from .quantize import int8_model

    predictor = OpenVINOPredictor(model, meta, int8_model(path))
    predictor.precision = (entry_for(path) or {}).get("openvino_precision", predictor.precision)
    return predictor


def converted_predictor(path: str):
    """A model the builder does not take, converted through Keras and TensorFlow once into
    the cache (or predicted with Keras where OpenVINO's converter cannot take it)."""
    ov = openvino()

    folder = os.path.join(cache_dir(), "openvino", f"{file_hash(path)[:20]}-{ov.__version__.split('-')[0]}")
    meta_path = os.path.join(folder, "meta.json")
    if not os.path.exists(meta_path):
        model = _load_keras(path)  # checks the input and output shapes first
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
        meta = json.load(f)
    return OpenVINOPredictor(ov.Core().read_model(os.path.join(folder, "model.xml")), meta)
