"""ferhw3: facial-expression recognition on FER2013 (ML2017 homework 3) with Keras 3.

Subpackages, one job each, the layers pointing one way (cli on top; the library never
imports it): data (reading faces, packing them, the input pipeline and augmentation), train
(recipes, config, architectures, the training step and run, the members' queue,
distillation and the semi-supervised methods), infer (prediction and its engines, the
shipped models' manifest, model files, prediction files, photos and video), detect (the
face detectors by name: BlazeFace on OpenVINO, its weights shipped inside; Haar; MTCNN where
installed), viz (the report's figures), serve (the HTTP service and its page: FastAPI, the
`serve` extra), cli (argument parsing, messages, exit codes: every `ferhw3` command and the
scripts' code). Beneath them all: errors (what bad input raises), runfiles (a run's files,
and every write through a temporary file and a rename) and cpu (what the CPU can do).

The base install (prediction) has numpy, h5py, Pillow, OpenCV and OpenVINO only: nothing on
the prediction path imports TensorFlow, Keras, pandas, scikit-learn or matplotlib.
"""

import os

# Before TensorFlow or Keras is imported anywhere: Keras on TensorFlow unless asked
# otherwise, and TensorFlow's C++ chatter hidden, errors included (tf.data logs an "E" line
# about an unknown attribute at every run's start; a failing op still raises).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "1.0.0"

# What a Python user reaches for, importable from the package itself and loaded only when
# asked for (PEP 562), so that `import ferhw3` stays light: `from ferhw3 import Recogniser`.
_PUBLIC = {
    "Recogniser": "ferhw3.infer.photos",       # faces in a picture: found, framed, read
    "read_video": "ferhw3.infer.video",        # faces through a video, tracked
    "load_faces": "ferhw3.data.read",          # a CSV, image or folder of faces
    "load_predictors": "ferhw3.infer.predict",  # model files loaded to predict with
    "predict_proba": "ferhw3.infer.predict",   # class probabilities, with test-time views
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'ferhw3' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value
