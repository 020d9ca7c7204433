"""ferhw3: facial-expression recognition on FER2013 (ML2017 homework 3) with Keras 3.

Modules, one job each: data (reading faces), models (architectures), recipes and config
(what a run trains), train (fit), callbacks, budget, optim, runfiles (a run's files),
distill, selftrain, meanteacher, predict, engine (OpenVINO or Keras), export, evaluate,
manifest (the shipped models), explain (figures), errors, cli (what the scripts share).
"""

__version__ = "1.0.0"
