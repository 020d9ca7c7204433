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
