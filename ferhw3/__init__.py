"""ferhw3: facial-expression recognition on FER2013 (ML2017 homework 3) with Keras 3.

Modules, one job each: data (reading faces), models (architectures), recipes and config
(what a run trains), step (the training step: model, precision, augmentation, optimiser),
cpu (what the CPU can do: its flags), train (fit), callbacks, budget, optim, runfiles (a
run's files), members (the queue),
distill, selftrain, meanteacher, predict, outputs (every prediction file), modelfile
(loading a model), export, evaluate, manifest (the shipped models), explain (figures),
errors; photos (faces in pictures: detect, frame, read) and video (tracks, smoothing, the
annotated copy); detect, the face detectors by name (BlazeFace on OpenVINO, its weights
shipped inside; Haar; MTCNN where installed); infer, the prediction engines (h5graph: an .h5 built into OpenVINO without
TensorFlow; engine: OpenVINO or Keras); serve, the HTTP service and its page (FastAPI, the
`serve` extra); cli, the command-line layer on top (argument
parsing, messages, exit codes): every `ferhw3` command, and the scripts' code.

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
