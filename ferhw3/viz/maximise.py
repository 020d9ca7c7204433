"""What the network thinks an expression looks like: activation maximisation with image priors.

Gradient ascent in pixel space (0-255 grey, as the models take faces), batched: image i
climbs its own objective (a filter's mean activation, or a class's pre-softmax score).
`Prior` holds the regularisers of Yosinski et al. 2015 ("Understanding neural networks
through deep visualization"): L2 decay towards grey, a Gaussian blur every few steps, random
jitter, and clipping of the pixels that differ least from grey. `PLAIN` is none of them, the
unregularised ascent; `PRIOR` all four. Class-model visualisation follows Simonyan, Vedaldi
& Zisserman 2013 ("Deep inside convolutional networks"): the pre-softmax score, not the
probability, which could also rise by lowering the other classes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from ..train.models import PIXEL_MEAN

GREY = PIXEL_MEAN  # the grey the decay and the clipping pull towards: the faces' mean value


@dataclass(frozen=True)
class Prior:
    decay: float = 0.0       # L2 decay per step: x <- grey + (1 - decay) (x - grey)
    blur_every: int = 0      # a Gaussian blur every this many steps (0: never)
    blur_sigma: float = 0.6  # pixels
    jitter: int = 0          # each gradient taken on the image shifted by up to this many pixels
    clip: float = 0.0        # percent of pixels, those nearest grey, set to grey each step

    def named(self) -> str:
        parts = [f"decay {self.decay:g}" if self.decay else "", f"blur {self.blur_sigma:g}px every "
                 f"{self.blur_every}" if self.blur_every else "", f"jitter {self.jitter}px" if self.jitter else "",
                 f"clip {self.clip:g}%" if self.clip else ""]
        return ", ".join(p for p in parts if p) or "none"


PLAIN = Prior()
PRIOR = Prior(decay=0.01, blur_every=4, blur_sigma=0.6, jitter=2, clip=10.0)
# each regulariser on its own, then all four: the rows of the comparison figure
ONE_AT_A_TIME = {"plain (no prior)": PLAIN, "L2 decay": Prior(decay=PRIOR.decay),
                 "blur": Prior(blur_every=PRIOR.blur_every, blur_sigma=PRIOR.blur_sigma),
                 "jitter": Prior(jitter=PRIOR.jitter), "clipping": Prior(clip=PRIOR.clip), "all four": PRIOR}


def total_variation(images: np.ndarray) -> np.ndarray:
    """Mean absolute difference of neighbouring pixels, per image (N, H, W): low is smooth."""
    x = np.asarray(images, np.float64)
    return np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2))


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect")


def _per_image(prior, n: int) -> list[Prior]:
    priors = [prior] * n if isinstance(prior, Prior) else list(prior)
    if len(priors) != n:
        raise ValueError(f"{len(priors)} priors for {n} images")
    return priors


def _rolled(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each image (N, H, W, 1) shifted by its own (rows, columns), wrapping round."""
    return np.stack([np.roll(image, tuple(s), axis=(0, 1)) if s.any() else image for image, s in zip(x, shifts)])


def ascend(objective, start: np.ndarray, steps: int = 150, step_size: float = 3.0, prior=PLAIN,
           seed: int = 0, pull_to: np.ndarray | None = None, stop=None):
    """Gradient ascent of `objective` (images (N, H, W, 1) float32 tensor -> (N,) values,
    image i scored on its own objective) from `start`, each step normalised per image.

    prior: one Prior for every image, or one per image (several regularised ascents read in
    one batch: a batch of 48 costs 5.5 ms an image a step on two cores, one of 7 costs 8.8).
    pull_to: what the decay and the clipping pull towards (default grey; a face's own
    pixels keep an ascent from a face close to it). stop: values -> bool array, the images
    to freeze once true (e.g. a class probability past one half).
    Returns (images (N, H, W) float32 0-255, objective at the start, at the end, steps each ran).
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(start, np.float32).copy()
    anchor = np.full_like(x, GREY) if pull_to is None else np.asarray(pull_to, np.float32)
    priors = _per_image(prior, len(x))
    decay = np.array([p.decay for p in priors], np.float32)[:, None, None, None]
    decayed = decay[:, 0, 0, 0] > 0
    jitters = sorted({p.jitter for p in priors} - {0})  # one shift a step per jitter size, as one prior drew it

    @tf.function(reduce_retracing=True)
    def gradient(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            values = objective(images)
            total = tf.reduce_sum(values)
        g = tape.gradient(total, images)
        return g / (tf.math.reduce_std(g, axis=(1, 2, 3), keepdims=True) + 1e-8), values  # same pace for every image

    def value(images):
        return np.asarray(objective(tf.constant(images)), np.float64)

    first = value(x)
    active = np.ones(len(x), bool)
    ran = np.zeros(len(x), int)
    # without jitter the gradient's own pass gives the values the stop reads (no second pass a step)
    values_in_step = stop is not None and not jitters
    for i in range(steps):
        shifts = np.zeros((len(x), 2), int)
        for j in jitters:  # the gradient taken on each image shifted by its own jitter, then shifted back
            shifts[[p.jitter == j for p in priors]] = rng.integers(-j, j + 1, size=2)
        g, now = gradient(tf.constant(_rolled(x, shifts) if jitters else x))
        if values_in_step and i:  # the images the last step made: those past the stop stay as they are
            active &= ~np.asarray(stop(np.asarray(now, np.float64)), bool)
            if not active.any():
                break
        g = g.numpy()
        new = x + step_size * (_rolled(g, -shifts) if jitters else g)
        if decayed.any():
            new[decayed] = anchor[decayed] + (1 - decay[decayed]) * (new[decayed] - anchor[decayed])
        for sigma in sorted({p.blur_sigma for p in priors if p.blur_every and (i + 1) % p.blur_every == 0}):
            # the change is blurred, not the anchor
            b = np.array([bool(p.blur_every) and (i + 1) % p.blur_every == 0 and p.blur_sigma == sigma
                          for p in priors])
            new[b] = anchor[b] + _blur(new[b] - anchor[b], sigma)
        for clip in sorted({p.clip for p in priors} - {0.0}):
            c = np.array([p.clip == clip for p in priors])
            dev = np.abs(new[c] - anchor[c])
            small = dev <= np.percentile(dev, clip, axis=(1, 2, 3), keepdims=True)
            new[c] = np.where(small, anchor[c], new[c])
        new = np.clip(new, 0.0, 255.0)
        x[active] = new[active]
        ran += active
        if stop is not None and not values_in_step:
            active &= ~np.asarray(stop(value(x)), bool)
            if not active.any():
                break
    return x[..., 0], first, value(x), ran


# ---- objectives ------------------------------------------------------------------------------

def filter_objective(model, layer: str, filters, rectified: bool = False):
    """Image i -> the mean activation of filter filters[i] of `layer` (float32); rectified:
    of its ReLU, what the next layer sees."""
    probe = keras.Model(model.inputs, model.get_layer(layer).output)
    select = tf.constant(np.eye(probe.output.shape[-1], dtype=np.float32)[list(filters)][:, None, None, :])

    def objective(images):
        maps = tf.cast(probe(images, training=False), tf.float32)  # bfloat16 in a mixed-precision model
        maps = tf.nn.relu(maps) if rectified else maps
        return tf.reduce_sum(tf.reduce_mean(maps * select, axis=(1, 2)), axis=-1)

    return objective


def logits_model(model):
    """images -> pre-softmax class scores (float32): the features before the classifier,
    times its weights, plus its bias."""
    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise ValueError(f"{model.name}: its last layer is a {type(head).__name__}, not the Dense classifier")
    features = keras.Model(model.inputs, head.input)
    kernel, bias = (tf.constant(np.asarray(w, np.float32)) for w in head.get_weights())

    def logits(images):
        return tf.matmul(tf.cast(features(images, training=False), tf.float32), kernel) + bias

    return logits


def class_objective(model, classes):
    """Image i -> the pre-softmax score of class classes[i]."""
    logits = logits_model(model)
    select = tf.constant(np.eye(int(model.output_shape[-1]), dtype=np.float32)[list(classes)])

    def objective(images):
        return tf.reduce_sum(logits(images) * select, axis=-1)

    return objective


def probabilities(model, images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, np.float32)
    x = x[..., None] if x.ndim == 3 else x
    return np.asarray(tf.nn.softmax(logits_model(model)(tf.constant(x))), np.float64)


# ---- the four studies ------------------------------------------------------------------------

def class_models(model, start: np.ndarray, steps: int = 200, prior: Prior = replace(PRIOR, jitter=1)):
    """One image per class from the same `start` (48x48): the input maximising its score.
    Returns (images (7, H, W), score at start, score at end)."""
    return class_models_from(model, [start], steps, prior)[0]


def class_models_from(model, starts, steps: int = 200, prior: Prior = replace(PRIOR, jitter=1)) -> list:
    """`class_models` from each of `starts`, all read in one batch: [(images, first, last)]."""
    n = int(model.output_shape[-1])
    x0 = np.concatenate([np.repeat(np.asarray(s, np.float32).reshape(1, *s.shape[:2], 1), n, axis=0)
                         for s in starts])
    images, first, last, _ = ascend(class_objective(model, list(range(n)) * len(starts)), x0, steps=steps,
                                    prior=prior)
    return [(images[k:k + n], first[k:k + n], last[k:k + n]) for k in range(0, len(x0), n)]


def pre_activation(model, conv: str) -> str:
    """The layer that holds `conv`'s units before their ReLU: the batch norm that follows it,
    or the convolution itself. Ascending the pre-activation keeps a gradient where the ReLU
    is off (a filter silent on noise would otherwise never move)."""
    out = model.get_layer(conv).output
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.input is out:
            return layer.name
    return conv


def filter_images(model, layer: str, filters, prior: Prior, steps: int = 150, size: int = 48, seed: int = 0):
    """Each filter of convolution `layer`: the input that maximises its mean pre-activation
    (`pre_activation`), from the same noise. Returns (images, the filter's mean rectified
    activation (after its ReLU) on the noise, and on the image)."""
    return filter_images_with(model, layer, filters, [prior], steps, size, seed)[0]


def filter_images_with(model, layer: str, filters, priors, steps: int = 150, size: int = 48, seed: int = 0) -> list:
    """`filter_images` under each of `priors`, all read in one batch: [(images, first, last)]."""
    plan = _filter_plan(model, layer, filters, priors, size, seed)
    return plan.results(ascend(plan.objective, plan.start, steps=steps, prior=plan.priors, seed=seed)[0])


def filter_images_at(model, layers, prior: Prior, steps: int = 150, size: int = 48, seed: int = 0) -> list:
    """`filter_images` for each (layer, filters) of `layers`, the layers' ascents side by
    side in threads: one small batch leaves two cores partly idle, so three layers of 8
    filters took 3.8 s against 4.7 s one after another, with the same images.
    Returns [(images, first, last)] in the order of `layers`."""
    from concurrent.futures import ThreadPoolExecutor

    plans = [_filter_plan(model, layer, filters, [prior], size, seed) for layer, filters in layers]  # Keras here
    with ThreadPoolExecutor(max(1, len(plans))) as pool:
        images = list(pool.map(lambda p: ascend(p.objective, p.start, steps=steps, prior=p.priors, seed=seed)[0],
                               plans))
    return [p.results(im)[0] for p, im in zip(plans, images)]


class _FilterPlan(NamedTuple):
    """The ascents of some filters of one layer under each of some priors, in one batch."""
    objective: object   # images -> each image's filter's mean pre-activation
    rectified: object   # the same after the ReLU
    start: np.ndarray   # the same noise for every image
    priors: list        # one Prior per image
    per_prior: int      # filters (images) per prior

    def results(self, images: np.ndarray) -> list:
        """[(images, mean rectified activation on the noise, on the image)] per prior."""
        k = self.per_prior
        first = np.asarray(self.rectified(tf.constant(self.start)))
        last = np.asarray(self.rectified(tf.constant(images[..., None])))
        return [(images[i:i + k], first[i:i + k], last[i:i + k]) for i in range(0, len(self.start), k)]


def _filter_plan(model, layer: str, filters, priors, size: int, seed: int) -> _FilterPlan:
    filters = list(filters)
    pre = pre_activation(model, layer)
    noise = np.random.default_rng(seed).normal(GREY, 20, (1, size, size, 1)).astype(np.float32)
    return _FilterPlan(filter_objective(model, pre, filters * len(priors)),
                       filter_objective(model, pre, filters * len(priors), rectified=True),
                       np.repeat(noise, len(filters) * len(priors), axis=0),
                       [p for p in priors for _ in filters], len(filters))


def towards(model, faces: np.ndarray, target: int, until=(0.5, 0.99), steps: int = 400, step_size: float = 1.0,
            prior: Prior = Prior(decay=0.01, blur_every=4, blur_sigma=0.5)):
    """Each face moved by gradient ascent on `target`'s log-odds (its score above the
    log-sum-exp of the others), the change kept smooth (blurred) and pulled back towards the
    face (decay), until the model reads it as `target` with each probability in `until`.
    Returns (probability of the target before, {until: (moved faces (N, H, W), steps each
    took, probability after)})."""
    x0 = np.asarray(faces, np.float32).reshape(len(faces), faces.shape[1], faces.shape[2], 1)
    logits = logits_model(model)

    def log_odds(images):
        z = logits(images)
        return z[:, target] - tf.reduce_logsumexp(tf.concat([z[:, :target], z[:, target + 1:]], axis=1), axis=1)

    # every threshold's run in one batch, each image frozen when it passes its own
    n, starts = len(x0), np.concatenate([x0] * len(until))
    passes = np.repeat([np.log(p / (1 - p)) for p in until], n)
    moved, _, _, ran = ascend(log_odds, starts, steps=steps, step_size=step_size, prior=prior, pull_to=starts,
                              stop=lambda v: v > passes)
    after = probabilities(model, moved)[:, target]
    runs = {p: (moved[k * n:(k + 1) * n], ran[k * n:(k + 1) * n], after[k * n:(k + 1) * n])
            for k, p in enumerate(until)}
    return probabilities(model, x0)[:, target], runs


# Regions of a 48x48 FER2013 face (rows, columns), roughly registered as its faces are
REGIONS = {"mouth": (slice(28, 44), slice(12, 36)), "eyes": (slice(12, 24), slice(6, 42))}


def change_shares(change: np.ndarray) -> dict:
    """Share of each face's absolute change (N, 48, 48) inside each of REGIONS, and the
    share of the face's area the region covers."""
    total = np.abs(change).sum(axis=(1, 2))
    return {name: (np.abs(change[:, r, c]).sum(axis=(1, 2)) / np.maximum(total, 1e-9),
                   (r.stop - r.start) * (c.stop - c.start) / (48 * 48)) for name, (r, c) in REGIONS.items()}


# ---- figures ---------------------------------------------------------------------------------

def _grid(rows: int, cols: int, cell: float = 1.3, extra: float = 0.8):
    from .explain import plt

    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols + 1.6, (cell + 0.3) * rows + extra), squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
    return fig, axes


def _show(ax, image, title=None, stretch=False, **kw):
    """stretch: each image's own 1st-99th percentile range shown black to white (the faint
    class and filter images), else 0-255 as the model sees them."""
    lo, hi = (np.percentile(image, 1), np.percentile(image, 99)) if stretch else (0, 255)
    ax.imshow(image, cmap=kw.pop("cmap", "gray"), **({"vmin": lo, "vmax": max(hi, lo + 1)} | kw))
    if title:
        ax.set_title(title, fontsize=7)


def plot_class_models(starts: dict, path: str) -> str:
    """starts: row name -> (images (7, H, W), score at start, at end): one row per start."""
    from ..data.read import CLASS_NAMES
    from .explain import _save

    fig, axes = _grid(len(starts), len(CLASS_NAMES))
    for r, (name, (images, first, last)) in enumerate(starts.items()):
        for c, cls in enumerate(CLASS_NAMES):
            _show(axes[r, c], images[c], f"{cls}\n{first[c]:.1f} -> {last[c]:.1f}", stretch=True)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle("Class models: the input that maximises each class's pre-softmax score\n"
                 "(title: the score at the start -> at the end; contrast stretched per image)", fontsize=9)
    return _save(fig, path)


def plot_priors(rows: dict, layer: str, filters, path: str) -> str:
    """rows: name -> (Prior, images, start, end) for the same filters of `layer`."""
    from .explain import _save

    fig, axes = _grid(len(rows), len(filters))
    for r, (name, (prior, images, first, last)) in enumerate(rows.items()):
        for c, f in enumerate(filters):
            _show(axes[r, c], images[c], f"#{f} {first[c]:.2f}->{last[c]:.2f}")
        axes[r, 0].set_ylabel(f"{name}\nTV {total_variation(images).mean():.1f}", fontsize=8)
    fig.suptitle(f"{layer}: each filter's maximising input, without a prior and with each regulariser "
                 f"(Yosinski et al. 2015)\n(title: filter, mean activation after its ReLU, on noise -> at the end; "
                 f"TV: total variation, grey levels)", fontsize=9)
    return _save(fig, path)


def plot_depth(rows: list, path: str) -> str:
    """rows: (layer, images, start, end), shallow to deep, the same prior."""
    from .explain import _save

    cols = max(len(r[1]) for r in rows)
    fig, axes = _grid(len(rows), cols)
    for r, (layer, images, first, last) in enumerate(rows):
        for c in range(cols):
            if c < len(images):
                _show(axes[r, c], images[c], f"#{c} {last[c]:.2f}", stretch=True)
            else:
                axes[r, c].axis("off")
        axes[r, 0].set_ylabel(layer, fontsize=8)
    fig.suptitle("Maximising inputs from shallow to deep: the first filters of each layer, regularised ascent\n"
                 "(title: filter, mean activation after its ReLU at the end; contrast stretched per image)", fontsize=9)
    return _save(fig, path)


def plot_towards(faces, before, runs: dict, source: str, target: str, path: str) -> str:
    """One row per face: the face, then for each probability reached the moved face and its change."""
    from .explain import _save

    fig, axes = _grid(len(faces), 1 + 2 * len(runs), cell=1.5)
    for r, face in enumerate(faces):
        _show(axes[r, 0], face, f"{source}: p({target}) {before[r]:.2f}")
        for k, (p, (moved, ran, after)) in enumerate(runs.items()):
            change = moved[r] - face
            lim = max(float(np.abs(change).max()), 1.0)
            _show(axes[r, 1 + 2 * k], moved[r], f"p({target}) {after[r]:.2f}, {ran[r]} steps")
            _show(axes[r, 2 + 2 * k], change, f"change: mean {np.abs(change).mean():.1f}, max {lim:.0f}",
                  cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.suptitle(f"From {source} to {target}: ascent on the {target} log-odds, the change kept smooth and pulled "
                 f"back towards the face, until p({target}) passes {' and '.join(f'{p:g}' for p in runs)}\n"
                 f"(change in grey levels; red: lighter, blue: darker)", fontsize=9)
    return _save(fig, path)
