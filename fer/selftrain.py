"""Self-training on unlabelled faces (the first seed report's semi-supervised trick).

After supervised training, each round predicts the unlabelled faces, keeps those whose
top probability reaches `threshold`, and trains on labelled + pseudo-labelled faces.
Guard against the usual failure, the majority class (Happy) swallowing the pseudo-labels:
class c may receive at most `cap` x (its count among the labelled training faces)
pseudo-labels, the most confident ones, so the pseudo-labels can never be more skewed than
the labelled data. Validation faces are never pseudo-labelled or trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import NUM_CLASSES
from .predict import predict_proba


@dataclass
class PseudoLabels:
    index: np.ndarray       # rows of the unlabelled array that were kept
    labels: np.ndarray      # their pseudo-labels
    confidence: np.ndarray  # their top probability
    above_threshold: np.ndarray  # per class: how many reached the threshold before the cap

    def per_class(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=NUM_CLASSES)


def select_pseudo_labels(probs: np.ndarray, threshold: float, labelled_counts: np.ndarray,
                         cap: float = 1.0) -> PseudoLabels:
    """Faces whose top probability >= threshold, at most cap x labelled_counts[c] per class
    (the most confident first). cap <= 0 disables the cap."""
    conf = probs.max(axis=1)
    pred = probs.argmax(axis=1)
    above = np.bincount(pred[conf >= threshold], minlength=NUM_CLASSES)
    keep = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero((pred == c) & (conf >= threshold))
        idx = idx[np.argsort(-conf[idx], kind="stable")]
        if cap > 0:
            idx = idx[: int(cap * labelled_counts[c])]
        keep.append(idx)
    index = np.sort(np.concatenate(keep)).astype(np.int64)
    return PseudoLabels(index, pred[index], conf[index], above)


def pseudo_label(model, x_unlabelled: np.ndarray, threshold: float, labelled_counts: np.ndarray,
                 cap: float = 1.0, tta: str = "flip") -> PseudoLabels:
    probs = predict_proba([model], x_unlabelled, tta=tta)
    return select_pseudo_labels(probs, threshold, labelled_counts, cap)
