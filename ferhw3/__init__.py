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

__version__ = "1.1.0"

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


# The modules of 1.0.0's flat layout, grouped since into subpackages: importing an old path
# still works, with a DeprecationWarning naming the new one (CHANGELOG.md; they go in 2.0).
# ferhw3.data and ferhw3.train are packages now: their old names reach data.read and
# train.fit through the packages' own __getattr__. (ferhw3.models, the architectures, is
# ferhw3.train.models: the name is the shipped models' package in a wheel.)
MOVED = {
    "affine": "data.affine", "budget": "train.budget", "callbacks": "train.callbacks",
    "compact": "infer.compact", "config": "train.config", "distill": "train.distill",
    "engine": "infer.engine", "evaluate": "infer.evaluate", "explain": "viz.explain",
    "export": "infer.export", "faces": "data.faces", "manifest": "infer.manifest",
    "maximise": "viz.maximise", "meanteacher": "train.meanteacher", "members": "train.members",
    "modelfile": "infer.modelfile", "optim": "train.optim",
    "outputs": "infer.outputs", "pack": "data.pack", "photos": "infer.photos",
    "pipeline": "data.pipeline", "predict": "infer.predict", "recipes": "train.recipes",
    "run": "train.run", "selftrain": "train.selftrain", "step": "train.step", "video": "infer.video",
}


class _MovedFinder:
    """Finds `ferhw3.OLD` (MOVED) as the module at its new path, once, with a warning."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        old = fullname[len(__name__) + 1:] if fullname.startswith(__name__ + ".") else None
        if old not in MOVED:
            return None
        import importlib.util

        return importlib.util.spec_from_loader(fullname, _MovedFinder)

    @staticmethod
    def create_module(spec):
        import importlib
        import sys
        import warnings

        new = f"{__name__}.{MOVED[spec.name.rsplit('.', 1)[1]]}"
        warnings.warn(f"{spec.name} is now {new} (the old path goes in ferhw3 2.0)", DeprecationWarning, stacklevel=3)
        module = importlib.import_module(new)
        sys.modules[spec.name] = module
        return module

    @staticmethod
    def exec_module(module):
        pass


if _MovedFinder not in __import__("sys").meta_path:
    __import__("sys").meta_path.append(_MovedFinder)


def moved_attribute(package: str, new_module: str, name: str):
    """`package.name` of 1.0.0, where `package` was a module and is now a package whose
    `new_module` holds the name: the value, with a DeprecationWarning."""
    import importlib
    import warnings

    module = importlib.import_module(f"{__name__}.{new_module}")
    if not hasattr(module, name) or name.startswith("__"):
        raise AttributeError(f"module '{__name__}.{package}' has no attribute {name!r}")
    warnings.warn(f"{__name__}.{package}.{name} is now {__name__}.{new_module}.{name} (the old path goes in ferhw3 2.0)",
                  DeprecationWarning, stacklevel=3)
    return getattr(module, name)
