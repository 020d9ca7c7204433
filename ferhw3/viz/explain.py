"""Visual explanations and report figures: curves, confusion matrix, saliency, filters.

Gradients use TensorFlow directly (tf.GradientTape): Keras 3 has no backend-neutral way
to take the gradient of a model output with respect to its input.
"""

from __future__ import annotations

import io
import math
import os

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, classification_report, confusion_matrix  # noqa: E402

from ..data.read import CLASS_NAMES  # noqa: E402

DPI = 100


def _save(fig, path: str) -> str:
    """The figure written to `path` (through a temporary file); a PNG as opaque RGB (the
    figures have no transparency: a quarter smaller than matplotlib's RGBA) at zlib's usual
    level, 3-8% larger than the smallest encoding and a fifth of its time (1.4 s of the
    saliency figure's 1.5 s went to PNG optimisation)."""
    from ..runfiles import replace_atomically

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    kind = os.path.splitext(path)[1][1:].lower() or "png"

    def write(tmp):
        if kind != "png":
            fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format=kind)
            return
        import io

        from PIL import Image

        buf = io.BytesIO()
        fig.savefig(buf, dpi=DPI, bbox_inches="tight", format="png")
        Image.open(buf).convert("RGB").save(tmp, format="PNG", compress_level=6)

    replace_atomically(path, write)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- training curves
def plot_curves(histories: dict[str, str], path: str, offsets: dict[str, int] | None = None) -> str:
    """Accuracy and loss per epoch, training (dashed) and validation (solid), one colour
    per model. histories: {label: history CSV path}; offsets: {label: epochs trained
    before this history began} (a run continued from another with --init)."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5 + 0.3 * len(histories)))
    for (label, csv), colour in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        h = pd.read_csv(csv)
        epochs = h["epoch"] + 1 + (offsets or {}).get(label, 0)
        for ax, key in ((ax_acc, "accuracy"), (ax_loss, "loss")):
            ax.plot(epochs, h[key], "--", color=colour, label=f"{label}: training (dashed), validation (solid)")
            if f"val_{key}" in h:
                ax.plot(epochs, h[f"val_{key}"], "-", color=colour)
    for ax, name in ((ax_acc, "accuracy"), (ax_loss, "loss")):
        ax.set_xlabel("epoch"), ax.set_ylabel(name), ax.grid(alpha=0.3)
        ax.set_title(f"Training and validation {name}")
    # one legend under both plots, so it hides no curve
    fig.legend(*ax_acc.get_legend_handles_labels(), loc="lower center", ncol=1, frameon=False)
    fig.tight_layout(rect=(0, 0.07 * len(histories) / (1 + 0.07 * len(histories)), 1, 1))
    return _save(fig, path)


# ---------------------------------------------------------------- confusion matrix
def confusion(y_true, y_pred, path: str) -> tuple[np.ndarray, str]:
    """Counts and row-normalised confusion matrices side by side; returns (counts, report)."""
    labels = list(range(len(CLASS_NAMES)))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    fig, axes = plt.subplots(1, 2, figsize=(15, 6))
    ConfusionMatrixDisplay(cm, display_labels=CLASS_NAMES).plot(ax=axes[0], cmap="Blues", values_format="d",
                                                                 xticks_rotation=45, colorbar=True)
    axes[0].set_title("Confusion matrix (counts)")
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ConfusionMatrixDisplay(norm, display_labels=CLASS_NAMES).plot(ax=axes[1], cmap="Blues", values_format=".2f",
                                                                   xticks_rotation=45, colorbar=True)
    axes[1].set_title("Row-normalised (recall per true class)")
    acc = np.trace(cm) / max(cm.sum(), 1)
    fig.suptitle(f"Validation split: {cm.sum()} faces, accuracy {acc:.4f}")
    _save(fig, path)
    report = classification_report(y_true, y_pred, labels=labels, target_names=CLASS_NAMES, digits=3,
                                   zero_division=0)
    return cm, report


# ---------------------------------------------------------------- saliency
def _as_batch(faces) -> tf.Tensor:
    return tf.convert_to_tensor(np.asarray(faces, dtype=np.float32))


def predicted(model, faces, batch: int = 256) -> np.ndarray:
    """The model's probabilities for `faces` (N, 48, 48, 1), called in batches of `batch`
    in one traced function. Keras's `predict` read the same 2,871 faces in 5.5 s or 10.3 s
    from one call to the next on two cores (its input pipeline's threads beside the
    model's); this way 5.0-5.6 s."""
    step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    x = np.asarray(faces, np.float32)
    return np.concatenate([np.asarray(step(tf.constant(x[i:i + batch])), np.float32)
                           for i in range(0, len(x), batch)]) if len(x) else np.zeros((0, 7), np.float32)


def gradient_saliency(model, faces, classes) -> np.ndarray:
    """|d p(class) / d pixel| for each face (N, H, W): the vanilla saliency map."""
    x = _as_batch(faces)
    with tf.GradientTape() as tape:
        tape.watch(x)
        probs = model(x, training=False)
        score = tf.reduce_sum(tf.gather(probs, classes, axis=1, batch_dims=1))
    return np.abs(tape.gradient(score, x).numpy())[..., 0]


def smoothgrad(model, faces, classes, samples: int = 25, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """SmoothGrad: the mean saliency over noisy copies (noise as a fraction of 0-255)."""
    rng = np.random.default_rng(seed)
    faces = np.asarray(faces, dtype=np.float32)
    # every noisy copy in one batch (the same draws as one copy at a time): 3x faster on two cores
    noisy = faces[None] + rng.normal(0, noise * 255, (samples, *faces.shape))
    maps = gradient_saliency(model, noisy.reshape(-1, *faces.shape[1:]), np.tile(np.asarray(classes), samples))
    return maps.reshape(samples, *faces.shape[:3]).mean(axis=0, dtype=np.float32)


def last_conv_layer(model) -> str:
    """The last convolution's activation: Grad-CAM's usual choice."""
    name = None
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.ReLU, keras.layers.Activation)) \
                and len(layer.output.shape) == 4:
            name = layer.name
    if name is None:
        raise ValueError(f"model {model.name} has no convolution layer")
    return name


def grad_cam(model, faces, classes, layer: str | None = None) -> np.ndarray:
    """Grad-CAM heat maps (N, H, W) in [0, 1], upsampled to the face size."""
    layer = layer or last_conv_layer(model)
    probe = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    x = _as_batch(faces)
    with tf.GradientTape() as tape:
        maps, probs = probe(x, training=False)
        score = tf.reduce_sum(tf.gather(probs, classes, axis=1, batch_dims=1))
    # float32 even for a model trained in mixed_bfloat16 (its feature maps are bfloat16)
    grads, maps = tf.cast(tape.gradient(score, maps), tf.float32), tf.cast(maps, tf.float32)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))
    cam = tf.image.resize(cam, x.shape[1:3], method="bilinear")[..., 0].numpy()
    return cam / np.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-12)


def pick_faces(y_true, y_pred, seed: int = 0) -> list[int]:
    """One correctly and one wrongly classified face per class (where the class has one)."""
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(len(CLASS_NAMES)):
        for ok in (True, False):
            idx = np.flatnonzero((y_true == c) & ((y_pred == y_true) == ok))
            if idx.size:
                picks.append(int(rng.choice(idx)))
    return picks


def plot_saliency(model, faces, y_true, rows: list[int], path: str, keep: float = 0.2) -> str:
    """Per face: the face, |gradient|, SmoothGrad, Grad-CAM, and the face masked to its
    `keep` most salient pixels (by SmoothGrad)."""
    x = np.asarray(faces[rows], dtype=np.float32)
    probs = np.asarray(model(_as_batch(x), training=False), np.float32)  # a few faces: no predict loop to build
    pred = probs.argmax(1)
    sal = gradient_saliency(model, x, pred)
    smooth = smoothgrad(model, x, pred)
    cam = grad_cam(model, x, pred)
    titles = ["face", "|d score / d pixel|", "SmoothGrad", "Grad-CAM", f"top {int(keep * 100)}% pixels"]
    fig, axes = plt.subplots(len(rows), 5, figsize=(12, 2.3 * len(rows)), squeeze=False, layout="constrained")
    for r, i in enumerate(rows):
        face = x[r, ..., 0]
        thresh = np.quantile(smooth[r], 1 - keep)
        masked = np.where(smooth[r] >= thresh, face, face.mean() * 0.3)
        panels = [(face, "gray"), (sal[r], "jet"), (smooth[r], "jet"), (cam[r], "jet"), (masked, "gray")]
        for c, (img, cmap) in enumerate(panels):
            ax = axes[r, c]
            if c == 3:
                ax.imshow(face, cmap="gray")
                im = ax.imshow(img, cmap=cmap, alpha=0.5, vmin=0, vmax=1)
            else:
                im = ax.imshow(img, cmap=cmap)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
            if c in (1, 2, 3):
                cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, format="%.1e" if c < 3 else "%.1f")
                cb.ax.tick_params(labelsize=6)
        ok = "ok" if pred[r] == y_true[i] else "WRONG"
        axes[r, 0].set_ylabel(f"row {i}\ntrue {CLASS_NAMES[y_true[i]]}\npred {CLASS_NAMES[pred[r]]}"
                              f" {probs[r, pred[r]]:.2f} {ok}", fontsize=8)
    fig.suptitle("What the CNN looks at (saliency of the predicted class)")
    return _save(fig, path)


# ---------------------------------------------------------------- filters
def conv_layers(model) -> list[str]:
    return [l.name for l in model.layers if isinstance(l, keras.layers.Conv2D)]


def gradient_ascent(model, layer: str, filters: list[int] | None = None, steps: int = 120, size: int = 48,
                    step_size: float = 4.0, seed: int = 0):
    """For every filter of `layer` at once (one image per filter in one batch), ascend the
    filter's mean activation from noise. Returns (images (F, size, size), start
    activations (F,), final activations (F,))."""
    probe = keras.Model(model.inputs, model.get_layer(layer).output)
    n_filters = probe.output.shape[-1]
    filters = list(range(n_filters)) if filters is None else list(filters)
    rng = np.random.default_rng(seed)
    x = tf.Variable(rng.normal(128, 20, (len(filters), size, size, 1)).astype(np.float32))
    # one-hot selector: image i is scored on its own filter `filters[i]`
    select = tf.constant(np.eye(n_filters, dtype=np.float32)[filters][:, None, None, :])

    def activation_of(images):
        maps = tf.cast(probe(images, training=False), tf.float32)  # bfloat16 in a mixed-precision model
        return tf.reduce_sum(tf.reduce_mean(maps * select, axis=(1, 2)), axis=-1)

    def activation():
        return activation_of(tf.convert_to_tensor(x))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            images = tf.convert_to_tensor(x)
            tape.watch(images)
            act = activation_of(images)
            total = tf.reduce_sum(act)
        g = tape.gradient(total, images)
        g /= tf.math.reduce_std(g, axis=(1, 2, 3), keepdims=True) + 1e-8  # same pace for every filter
        x.assign(tf.clip_by_value(x + step_size * g, 0.0, 255.0))
        return act

    start = activation().numpy()
    for _ in range(steps):
        step()
    return x.numpy()[..., 0], start, activation().numpy()


def plot_gradient_ascent(images, start, final, layer: str, path: str) -> str:
    n = len(images)
    cols = min(16, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.25 * cols, 1.45 * rows + 0.6), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([]), ax.set_yticks([])
        if k < n:
            ax.imshow(images[k], cmap="gray")
            ax.set_title(f"#{k} {final[k]:.1f}", fontsize=7)
        else:
            ax.axis("off")
    fig.suptitle(f"Layer {layer}: input maximising each of its {n} filters "
                 f"(title: filter, final mean activation; from noise, mean {np.mean(start):.2f})")
    return _save(fig, path)


def feature_maps(model, layer: str, face) -> np.ndarray:
    probe = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(probe.predict(np.asarray(face, np.float32)[None], verbose=0)[0], np.float32)


def plot_feature_maps(maps, face, layer: str, row: int, label: str, path: str) -> str:
    n = maps.shape[-1]
    cols = min(16, n)
    rows = math.ceil(n / cols) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.15 * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([]), ax.axis("off")
    axes[0, 0].imshow(face[..., 0], cmap="gray"), axes[0, 0].set_title("input", fontsize=7)
    last = None
    for k in range(n):
        ax = axes[1 + k // cols, k % cols]
        last = ax.imshow(maps[..., k], cmap="viridis")
        ax.set_title(f"#{k}", fontsize=6)
    fig.colorbar(last, ax=axes[0, -1], fraction=0.8)
    fig.suptitle(f"Outputs of {layer} ({n} filters) for face row {row} ({label})")
    return _save(fig, path)


# ---------------------------------------------------------------- model summary
def summary_text(model) -> str:
    buf = io.StringIO()
    model.summary(print_fn=lambda line, *a, **k: buf.write(line + "\n"), line_length=90)
    return buf.getvalue()


def summary_markdown(model) -> str:
    rows = ["| layer | type | output shape | parameters |", "|---|---|---|---:|"]
    for layer in model.layers:
        shape = tuple(layer.output.shape) if hasattr(layer, "output") else ""
        rows.append(f"| {layer.name} | {layer.__class__.__name__} | {shape} | {layer.count_params():,} |")
    total = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    rows.append(f"| **total trainable** | | | **{total:,}** |")
    return f"**{model.name}**\n\n" + "\n".join(rows) + "\n"
