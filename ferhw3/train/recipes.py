"""Named training recipes: each a documented set of `ferhw3.train.config.Config` fields.

    python train_cnn.py TRAIN --recipe one-hour                 # a recipe as it is
    python train_cnn.py TRAIN --recipe vgg-bn --set erase=0.5   # with any field changed
    python train_cnn.py --recipe list                           # this table

Validation accuracies are on the project's split (`Config.val_size` faces of train.csv,
stratified, seed `Config.seed`), without test-time augmentation; what a recipe's shipped
models measured is read from `models/manifest.json`, the one record of those figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field



def _shipped_ensemble() -> tuple:
    """The shipped ensemble's files (models/manifest.json, role "ensemble"): the teachers of
    the distilled model."""
    from ..infer.manifest import load

    try:
        return tuple(f"models/{f}" for f in load()["roles"]["ensemble"]["models"])
    except (OSError, ValueError, KeyError):
        return ()


# gpu-300 and gpu-300-erase leave out rotation and zoom: in the model under JAX, Keras's
# affine transform trained about 200x slower than flips and crops (bench/results_aug_speed_jax.md);
# gpu-300-affine has them through ferhw3.data.affine's gather instead.
_GPU = dict(arch="vgg-bn-deep-wide", precision="mixed_bfloat16", epochs=300, warmup_epochs=5, patience=10000,
            rotation=0.0, zoom=0.0)


@dataclass(frozen=True)
class Recipe:
    name: str
    purpose: str
    settings: dict = field(default_factory=dict)
    start: str = ""          # what --init it expects, if any
    produced: tuple = ()     # the shipped models it made
    measured: str = ""       # what a recipe without a shipped model measured (the manifest holds the rest)


RECIPES = {r.name: r for r in [
    Recipe("seed-vgg", "the seed report's VGG (7.3M parameters): Adam 1e-3, plateau schedule, whole 48x48 faces",
           dict(arch="vgg-report", optimizer="adam", lr=1e-3, schedule="plateau", crop=0, label_smoothing=0.0,
                warmup_epochs=0),
           measured="0.2515 after a 10-minute budget (2 epochs at 114 images/s, 2-core CPU)"),
    Recipe("vgg-bn", "train_cnn.py's default: a compact VGG with batch norm, SGD + cosine, 40px crops, "
           "flips, rotation and zoom, 60 epochs",
           produced=("vgg-bn_60ep.h5", "vgg-bn_60ep_all-faces.h5")),
    Recipe("continue-40", "40 more epochs of a trained model on a new cosine from 0.02 (use with --init)",
           dict(epochs=40, lr=0.02, warmup_epochs=1), start="a model of the same --arch",
           produced=("vgg-bn_60ep_continued40.h5", "vgg-bn_60ep_continued40_all-faces.h5")),
    Recipe("one-hour", "hw3_train.sh: the deeper, wider network in bfloat16, its epochs sized to 60 minutes "
           "of this machine",
           dict(arch="vgg-bn-deep-wide", precision="mixed_bfloat16", minutes=60.0),
           measured="0.6649 in 48.4 min (70 epochs at 620 images/s with validation, fused batch norm; "
                    "2026-12-01); before it 0.6667 in 59.2 min (66 epochs at 458 images/s) and 0.6628 in 57.4 min "
                    "(36 epochs at 282 images/s) on other machines"),
    Recipe("gpu-300", "the one-hour network for 300 epochs on a GPU, flips and 40px crops only", dict(_GPU),
           produced=("vgg-bn-deep-wide_300ep.h5", "vgg-bn-deep-wide_300ep_all-faces.h5")),
    Recipe("gpu-300-erase", "gpu-300 with random erasing (p 0.5)", dict(_GPU, erase=0.5),
           produced=("vgg-bn-deep-wide_300ep-erase.h5", "vgg-bn-deep-wide_300ep-erase_all-faces.h5")),
    Recipe("gpu-300-affine", "gpu-300-erase with the published 0.73 networks' geometry: rotation 10 degrees, "
           "scale 0.8-1.2, shifts 0.1, in one batched gather on the accelerator (ferhw3.data.affine)",
           dict(_GPU, erase=0.5, rotation=10.0, zoom=0.2, shift=0.1), produced=("vgg-affine-300.h5",)),
    Recipe("gpu-300-xl", "gpu-300-erase in a wider network, vgg-bn-xl (48/96/192/384 filters, 4.3M parameters, "
           "1.5x the step): whether capacity lifts a 300-epoch member", dict(_GPU, arch="vgg-bn-xl", erase=0.5),
           produced=("vgg-xl-120.h5",)),
    Recipe("resnet-affine", "another family for the ensemble: a pre-activation ResNet (11 convolutions, 2.7M "
           "parameters) in bfloat16 with the published networks' geometry (rotation 10 degrees, scale 0.8-1.2, "
           "shifts 0.1) and random erasing; its epochs sized to a CPU time budget (minutes=M, at most 300)",
           dict(arch="resnet-preact", precision="mixed_bfloat16", epochs=300, max_epochs=300, minutes=120.0,
                warmup_epochs=3, patience=10000, rotation=10.0, zoom=0.2, shift=0.1, erase=0.5),
           produced=("resnet-affine.h5", "resnet-affine_all-faces.h5", "resnet-affine-s1.h5",
                     "resnet-affine-s2.h5", "resnet-crops-200.h5", "resnet-mixup-200.h5")),
    Recipe("vgg-mixup", "the one-hour network with mixup (alpha 0.4) over label smoothing, the published "
           "geometry and no erasing: another view of the faces for the ensemble; epochs sized to a CPU time "
           "budget (minutes=M, at most 300)",
           dict(arch="vgg-bn-deep-wide", precision="mixed_bfloat16", epochs=300, max_epochs=300, minutes=120.0,
                warmup_epochs=3, patience=10000, rotation=10.0, zoom=0.2, shift=0.1, mixup=0.4),
           produced=("vgg-mixup-crops-300.h5",)),
    Recipe("distil-ensemble", "8 epochs of gpu-300-erase's model towards the shipped ensemble's probabilities; "
           "set unlabelled=TEST_CSV to add the test faces as soft targets (use with --init)",
           dict(_GPU, erase=0.5, epochs=8, lr=0.01, warmup_epochs=0, teachers=_shipped_ensemble(), distill=0.5),
           start="vgg-bn-deep-wide_300ep-erase.h5",
           produced=("vgg-bn-deep-wide_300ep-erase_distilled.h5",
                     "vgg-bn-deep-wide_300ep-erase_distilled_all-faces.h5", "distil-resnet.h5", "distil-windows.h5",
                     "distil-scratch-200.h5", "distil-xl.h5")),
    Recipe("dnn", "train_dnn.py's default: the parameter-matched dense baseline; whole faces (a dense layer "
           "needs them), shifts instead of crops, full dropout",
           dict(crop=0, epochs=40, patience=10, lr=0.02, shift=0.1, dropout=1.0),
           produced=("dnn_matched-vgg-bn.h5",)),
]}


def get(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; the recipes are: {', '.join(RECIPES)}")
    return RECIPES[name]


def manifest_figures(name: str) -> list[str]:
    """What models/manifest.json records of the split-trained models recipe `name` made:
    `FILE: validation accuracy, training minutes (hardware)`."""
    from ..infer.manifest import load

    try:
        m = load()
    except (OSError, ValueError):
        return []
    rows = []
    for e in m.get("split_models", []) + m["models"]:
        if e.get("recipe") == name and e.get("val_accuracy") is not None:
            rows.append(f"{e['file']}: {e['val_accuracy']:.4f}, {e['training_minutes']:g} min ({e['hardware']})")
    return rows


def table() -> str:
    """The recipes, one paragraph each: name, purpose, settings, what it made and measured."""
    lines = []
    for r in RECIPES.values():
        settings = " ".join(f"{k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in r.settings.items())
        lines.append(f"{r.name}\n    {r.purpose}\n    settings: {settings or '(the defaults)'}")
        if r.start:
            lines.append(f"    start: --init {r.start}")
        if r.produced:
            lines.append(f"    made: {', '.join(r.produced)}")
        for row in manifest_figures(r.name) or ([r.measured] if r.measured else []):
            lines.append(f"    measured: {row}")
    return "\n".join(lines)
