"""Faces in and out of the training pipeline: read (the course's CSVs, Kaggle's fer2013.csv,
class folders, images; validation, the split), faces (what every reader returns), pack
(faces as WebP mosaics small enough to travel), pipeline (tf.data input and the augmentation
layers), affine (random geometry as one batched gather, for accelerators)."""


def __getattr__(name: str):
    """1.0.0's `ferhw3.data` was the module now at `ferhw3.data.read`: its names still reach
    it, with a DeprecationWarning."""
    import os

    from .. import moved_attribute

    if os.path.exists(os.path.join(os.path.dirname(__file__), f"{name}.py")):
        raise AttributeError(name)  # a submodule not imported yet: the import system loads it

    return moved_attribute("data", "data.read", name)
