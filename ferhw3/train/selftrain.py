"""Self-training on unlabelled faces (the first seed report's semi-supervised trick).

After supervised training, each round predicts the unlabelled faces, keeps those whose
top probability reaches `threshold`, and trains on labelled + pseudo-labelled faces.
Guard against the usual failure, the majority class (Happy) swallowing the pseudo-labels:
class c may receive at most `cap` x (its count among the labelled training faces)
pseudo-labels, the most confident ones. With cap="prior", no class may take more than its
labelled share of all the faces that passed the threshold: the classes the model is most
sure of (Happy, Surprise) are cut back to their share, the others keep every face that
passed, so the pseudo-labels are never more skewed than the labelled data. Validation
faces are never pseudo-labelled or trained on.

With soft=True, a kept face's target is the model's whole probability vector instead of
its top class, after distribution alignment (ReMixMatch, Berthelot et al. 2020): each
class's probabilities are scaled by (its labelled share) / (its mean predicted share) and
renormalised, so the pseudo-labels as a whole follow the labelled class distribution;
this replaces the cap as the guard against Happy swallowing them.

With agree=True (consistency filtering), the model also sees ten views of each face (the
centre and four corner 44x44 windows, each mirrored); a face is kept only if every view
predicts the same class, and its probabilities are the mean over the views: a label that
changes when the face is shifted by two pixels is a guess, whatever its confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.read import NUM_CLASSES
from ..infer.predict import predict_proba, view_probs


@dataclass
class PseudoLabels:
    index: np.ndarray       # rows of the unlabelled array that were kept
    labels: np.ndarray      # their pseudo-labels
    confidence: np.ndarray  # their top probability
    above_threshold: np.ndarray  # per class: how many reached the threshold before the cap

    def per_class(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=NUM_CLASSES)


def parse_cap(text: str) -> float | str:
    """The `cap` field: a number (0: no cap) or "prior"."""
    if text == "prior":
        return text
    value = float(text)
    if value < 0:
        raise ValueError(f"cap must be >= 0 or 'prior', got {text}")
    return value


def select_pseudo_labels(probs: np.ndarray, threshold: float, labelled_counts: np.ndarray,
                         cap: float | str = 1.0) -> PseudoLabels:
    """Faces whose top probability >= threshold, at most cap x labelled_counts[c] per class
    (the most confident first). cap <= 0 disables the cap; with "prior", class c keeps at
    most (its share of the labelled faces) x (all faces above the threshold)."""
    conf = probs.max(axis=1)
    pred = probs.argmax(axis=1)
    above = np.bincount(pred[conf >= threshold], minlength=NUM_CLASSES)
    if cap == "prior":
        limit = np.floor(labelled_counts / max(labelled_counts.sum(), 1) * above.sum()).astype(int)
    elif cap > 0:
        limit = (cap * np.asarray(labelled_counts)).astype(int)
    else:
        limit = above
    keep = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero((pred == c) & (conf >= threshold))
        idx = idx[np.argsort(-conf[idx], kind="stable")]
        idx = idx[: limit[c]]
        keep.append(idx)
    index = np.sort(np.concatenate(keep)).astype(np.int64)
    return PseudoLabels(index, pred[index], conf[index], above)


def align_distribution(probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Scale class c's probabilities by prior[c] / mean(probs[:, c]) and renormalise each row:
    the mean target then sits near `prior` (the labelled class shares)."""
    prior = np.asarray(prior, np.float64) / np.sum(prior)
    q = probs * (prior / np.maximum(probs.mean(axis=0), 1e-8))
    return (q / q.sum(axis=1, keepdims=True)).astype(np.float32)


def consistent_proba(model, x: np.ndarray, tta: str = "crops", batch_size: int = 512):
    """(mean probabilities over the `tta` views, whether every view's top class agrees with
    the mean's), per face."""
    views = np.stack(view_probs(model, x, tta, batch_size))
    mean = views.mean(axis=0)
    agree = np.all(views.argmax(axis=2) == mean.argmax(axis=1), axis=0)
    return mean.astype(np.float32), agree


def pseudo_label(model, x_unlabelled: np.ndarray, threshold: float, labelled_counts: np.ndarray,
                 cap: float | str = 1.0, tta: str = "flip", soft: bool = False, agree: bool = False):
    """(PseudoLabels, targets): hard labels, or with `soft` the aligned probability rows of
    every face whose aligned top probability reaches `threshold` (no cap). With `agree`,
    only faces whose ten test-time views all predict the same class can be kept."""
    if agree:
        probs, consistent = consistent_proba(model, x_unlabelled)
    else:
        probs, consistent = predict_proba([model], x_unlabelled, tta=tta), np.ones(len(x_unlabelled), bool)
    if not soft:
        # an inconsistent face gets confidence -1: below any threshold, so never selected
        pl = select_pseudo_labels(np.where(consistent[:, None], probs, -1.0), threshold, labelled_counts, cap)
        return pl, pl.labels
    aligned = align_distribution(probs, labelled_counts)
    conf, pred = aligned.max(axis=1), aligned.argmax(axis=1)
    index = np.flatnonzero((conf >= threshold) & consistent)
    above = np.bincount(pred[index], minlength=NUM_CLASSES)
    return PseudoLabels(index, pred[index], conf[index], above), aligned[index]


def self_train(model_fn, faces, cfg, x_unlabelled: np.ndarray, supervised, out: str,
               train_subset: np.ndarray | None = None, images_per_round: int = 0):
    """cfg.rounds rounds of pseudo-labelling `x_unlabelled` and fine-tuning from the best
    model so far (`supervised` is the fit() Result saved at `out`): pseudo-labels at top
    probability >= cfg.threshold, capped by cfg.cap (or with cfg.soft, distribution-aligned
    probability targets; with cfg.agree only faces whose ten views agree: see the module's
    docstring), cfg.self_train_epochs epochs a round. Each round's model is saved beside
    `out` as STEM.selftrainR.h5, and `out` ends as the best by validation accuracy.
    images_per_round: if set, each round trains for about this many images (epochs sized
    to the labelled + pseudo-labelled count) instead: the same compute per round whatever
    the number of labels.
    Returns (best Result, [per-round dicts with the pseudo-labels' index and labels])."""
    import dataclasses
    import os
    from ..data.read import CLASS_NAMES
    from ..runfiles import copy_file, stem_of
    from .fit import Extras, fit, split

    rounds, threshold, cap, soft, agree = cfg.rounds, cfg.threshold, parse_cap(cfg.cap), cfg.soft, cfg.agree

    tr, _ = split(faces, cfg)
    if train_subset is not None:
        tr = tr[train_subset]
    counts = np.bincount(faces.labels[tr], minlength=NUM_CLASSES)
    best, best_path = supervised, out
    stem = stem_of(out)
    copy_file(out, f"{stem}.supervised.h5")
    # fine-tuning: a short cosine schedule from a lower peak, no warm-up
    round_cfg = dataclasses.replace(cfg, epochs=cfg.self_train_epochs, lr=cfg.lr / 5, warmup_epochs=0)
    log = []
    for r in range(1, rounds + 1):
        pl, targets = pseudo_label(best.model, x_unlabelled, threshold, counts, cap=cap, soft=soft, agree=agree)
        per = ", ".join(f"{n} {c}" for n, c in zip(CLASS_NAMES, pl.per_class()))
        guard = "soft, aligned to the labelled class shares" if soft else f"cap: {cap}"
        guard += ", all ten views agreeing" if agree else ""
        print(f"self-training round {r}: {len(pl.index)} of {len(x_unlabelled)} unlabelled faces "
              f"pseudo-labelled at p >= {threshold} ({guard}): {per}", flush=True)
        round_out = f"{stem}.selftrain{r}.h5"
        if images_per_round:
            n = int(counts.sum()) + len(pl.index)
            round_cfg = dataclasses.replace(round_cfg, epochs=max(1, round(images_per_round / n)))
        res = fit(model_fn, faces, round_cfg, round_out,
                  Extras(init=best_path, train_subset=train_subset, extra_train=(x_unlabelled[pl.index], targets)))
        print(f"round {r}: val_accuracy {res.val_accuracy:.4f} (before: {best.val_accuracy:.4f})", flush=True)
        log.append({"round": r, "pseudo_labels": len(pl.index), "per_class": pl.per_class().tolist(),
                    "epochs": round_cfg.epochs, "val_accuracy": res.val_accuracy, "seconds": res.seconds,
                    "index": pl.index, "labels": pl.labels})
        if res.val_accuracy > best.val_accuracy:
            best, best_path = res, round_out
    if best_path != out:
        copy_file(best_path, out)
    print(f"self-training: supervised {supervised.val_accuracy:.4f} -> best {best.val_accuracy:.4f} "
          f"({os.path.basename(best_path)} saved as {out})", flush=True)
    best.seconds = supervised.seconds + sum(r["seconds"] for r in log)
    return best, log
