"""Training: recipes and config (what a run trains), models (the architectures), step (the
network at its precision, augmentation, optimiser), optim, fit (one resumable run),
callbacks, budget (epochs sized to minutes), run (train_cnn.py's whole run), members (the
queue of ensemble members), distill, selftrain and meanteacher (the test faces as
unlabelled data)."""


def __getattr__(name: str):
    """1.0.0's `ferhw3.train` was the module now at `ferhw3.train.fit`: its names still reach
    it, with a DeprecationWarning."""
    import os

    from .. import moved_attribute

    if os.path.exists(os.path.join(os.path.dirname(__file__), f"{name}.py")):
        raise AttributeError(name)  # a submodule not imported yet: the import system loads it

    return moved_attribute("train", "train.fit", name)
