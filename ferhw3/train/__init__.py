"""Training: recipes and config (what a run trains), models (the architectures), step (the
network at its precision, augmentation, optimiser), optim, fit (one resumable run),
callbacks, budget (epochs sized to minutes), run (train_cnn.py's whole run), members (the
queue of ensemble members), distill, selftrain and meanteacher (the test faces as
unlabelled data)."""
