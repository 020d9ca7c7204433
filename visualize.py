#!/usr/bin/env python3
"""Figures of the homework report from saved .h5 models.

    python visualize.py all --data train.csv --out reports       # the shipped models, every figure
    python visualize.py curves --history runs/vgg-bn.history.csv --history runs/dnn.history.csv
    python visualize.py confusion --model runs/vgg-bn.h5 --data train.csv
    python visualize.py saliency --data train.csv [--rows 12 40 ...]
    python visualize.py ascent [--layer conv2_1] [--filters 64]
    python visualize.py featuremaps --data train.csv --row 0 [--layer conv1_1]
    python visualize.py summary

The model defaults to the "analysis" role of models/manifest.json, the DNN to its "dnn"
role. Evaluation uses the validation split the model did not train on: the seed and size
are read from the run record beside the model (or --seed / --val-size); a shipped model
that trained on those faces is refused.
"""

import argparse
import os
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.runfiles import RunFiles, init_chain, write_text


def validation_split(args):
    """(x_val, y_val, val row numbers in the CSV) for args.model's split."""
    from ferhw3.evaluate import SeenFaces, validation_faces

    try:
        x, y, rows, (seed, val_size) = validation_faces(args.data, args.model, (args.seed, args.val_size))
    except SeenFaces as e:
        raise cli.UsageError(f"{e}; use the manifest's 'analysis' model") from None
    print(f"validation split: {len(rows)} faces (seed {seed}, val_size {val_size:g})")
    return x, y, rows


def cmd_curves(args, offsets=None):
    from ferhw3.explain import plot_curves

    hist = {os.path.basename(h).removesuffix(".csv").removesuffix(".history"): h for h in args.history}
    import pandas as pd

    for h in args.history:
        if not os.path.exists(h):
            raise cli.UsageError(f"{h}: history file not found")
        try:
            columns = set(pd.read_csv(h, nrows=1).columns)
        except (ValueError, UnicodeDecodeError, OSError):
            columns = set()
        if not {"epoch", "accuracy", "loss"} <= columns:
            raise cli.UsageError(f"{h}: not a training history (a CSV with epoch, accuracy and loss columns, "
                                 f"as training writes beside the model)")
    return [plot_curves(hist, os.path.join(args.out, "curves.png"), offsets)]


def cmd_confusion(args, val=None):
    from ferhw3.explain import confusion
    from ferhw3.predict import predict_proba

    x, y, _ = val or validation_split(args)
    pred = predict_proba([cli.load_model(args.model)], x, tta="none").argmax(1)
    path = os.path.join(args.out, "confusion_matrix.png")
    cm, report = confusion(y, pred, path)
    txt = os.path.join(args.out, "classification_report.txt")
    write_text(txt, f"model {os.path.relpath(args.model)}, validation split, {len(y)} faces\n\n{report}")
    print(report)
    return [path, txt]


def cmd_saliency(args, val=None):
    from ferhw3.explain import pick_faces, plot_saliency
    from ferhw3.predict import predict_proba

    x, y, rows_in_csv = val or validation_split(args)
    model = cli.load_model(args.model)
    if args.rows:
        pos = {int(r): i for i, r in enumerate(rows_in_csv)}
        missing = [r for r in args.rows if r not in pos]
        if missing:
            raise cli.UsageError(f"--rows {missing}: not in the validation split (pick validation rows)")
        picks = [pos[r] for r in args.rows]
    else:
        pred = predict_proba([model], x, tta="none").argmax(1)
        picks = pick_faces(y, pred, seed=args.seed)
    path = os.path.join(args.out, "saliency_maps.png")
    plot_saliency(model, x, y, picks, path)
    return [path]


def conv_layer(model, path: str, name: str | None, default: int) -> str:
    """The convolution layer `name`, or the model's `default`-th one; a UsageError naming
    the model when it has none (the dense baseline) or no such layer."""
    from ferhw3.explain import conv_layers

    convs = conv_layers(model)
    if not convs:
        raise cli.UsageError(f"{path}: has no convolution layers (a dense model?); this figure needs a CNN")
    if name is None:
        return convs[min(default, len(convs) - 1)]
    if name not in convs:
        raise cli.UsageError(f"--layer {name}: not a convolution layer of {path} (it has {', '.join(convs)})")
    return name


def cmd_ascent(args):
    from ferhw3.explain import gradient_ascent, plot_gradient_ascent

    model = cli.load_model(args.model)
    layer = conv_layer(model, args.model, args.layer, 1)
    n = model.get_layer(layer).output.shape[-1]
    filters = list(range(min(args.filters or n, n)))
    t = time.time()
    images, start, final = gradient_ascent(model, layer, filters, steps=args.steps)
    print(f"gradient ascent on {layer}: {len(filters)} filters, {args.steps} steps, {time.time() - t:.1f} s; "
          f"mean activation {start.mean():.3f} -> {final.mean():.3f}")
    path = os.path.join(args.out, f"filter_patterns_{layer}.png")
    plot_gradient_ascent(images, start, final, layer, path)
    return [path]


def cmd_featuremaps(args, val=None):
    from ferhw3.data import CLASS_NAMES, load_faces
    from ferhw3.explain import feature_maps, plot_feature_maps

    model = cli.load_model(args.model)
    layer = conv_layer(model, args.model, args.layer, 0)
    faces = load_faces(args.data, expect="train")
    if not 0 <= args.row < len(faces):
        raise cli.UsageError(f"--row {args.row}: {args.data} has rows 0-{len(faces) - 1}")
    maps = feature_maps(model, layer, faces.x[args.row])
    path = os.path.join(args.out, f"feature_maps_{layer}_row{args.row}.png")
    plot_feature_maps(maps, faces.x[args.row], layer, args.row, CLASS_NAMES[faces.labels[args.row]], path)
    return [path]


def cmd_summary(args):
    from ferhw3.explain import summary_markdown, summary_text

    paths = []
    for label, p in (("cnn", args.model), ("dnn", args.dnn)):
        if not p:
            continue
        m = cli.load_model(p)
        for ext, text in (("txt", summary_text(m)), ("md", summary_markdown(m))):
            path = os.path.join(args.out, f"model_summary_{label}.{ext}")
            write_text(path, text)
            paths.append(path)
    return paths


def cmd_all(args):
    val = validation_split(args)
    out = []
    # the model's curves continue those of the models it was --init'ed from
    chain = init_chain(args.model)
    extra = [RunFiles(m).history for m in (args.also or []) + [args.dnn] if m]
    args.history = [csv for _, csv, _ in chain] + [h for h in extra if os.path.exists(h)]
    if args.history:
        out += cmd_curves(args, {label: before for label, _, before in chain})
    out += cmd_confusion(args, val)
    out += cmd_saliency(args, val)
    out += cmd_ascent(args)
    args.row = int(val[2][0]) if args.row is None else args.row
    out += cmd_featuremaps(args)
    out += cmd_summary(args)
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, model=True, data=False, **kw):
        s = sub.add_parser(name, **kw)
        if model:
            s.add_argument("--model", help="CNN (.h5/.keras; default: the manifest's analysis model)")
        if data:
            s.add_argument("--data", required=True, help="training CSV (label,feature), plain or .gz")
            s.add_argument("--seed", type=int, default=0, help="split seed if no .config.json beside the model")
            s.add_argument("--val-size", type=float, default=2871)
        s.add_argument("--out", default="reports", help="folder for the figures")
        return s

    s = add("all", data=True, help="every figure and table")
    s.add_argument("--dnn", help="the dense baseline (.h5), for curves and summary (default: the manifest's)")
    s.add_argument("--also", action="append", help="another model whose training curves to plot")
    s.add_argument("--rows", type=int, nargs="*")
    s.add_argument("--layer", help="layer for gradient ascent (default: the second convolution)")
    s.add_argument("--filters", type=int, default=0, help="how many filters (default all)")
    s.add_argument("--steps", type=int, default=120)
    s.add_argument("--row", type=int, help="face row for feature maps (default: first validation face)")
    s = add("curves", model=False, help="training curves from history CSVs")
    s.add_argument("--history", action="append", required=True)
    add("confusion", data=True, help="confusion matrix + per-class report on the validation split")
    s = add("saliency", data=True, help="saliency, SmoothGrad, Grad-CAM for chosen faces")
    s.add_argument("--rows", type=int, nargs="*", help="CSV row numbers (0-based, validation rows)")
    s = add("ascent", help="gradient-ascent patterns of every filter of a layer")
    s.add_argument("--layer")
    s.add_argument("--filters", type=int, default=0)
    s.add_argument("--steps", type=int, default=120)
    s = add("featuremaps", data=True, help="a layer's outputs for one face")
    s.add_argument("--row", type=int, default=0)
    s.add_argument("--layer", help="default: the first convolution")
    s = add("summary", help="layer tables (text and markdown)")
    s.add_argument("--dnn", help="default: the manifest's")
    args = p.parse_args(argv)
    from ferhw3 import manifest

    if hasattr(args, "model") and args.model is None:
        args.model = manifest.role("analysis")[0]
    if hasattr(args, "dnn") and args.dnn is None:
        args.dnn = manifest.role("dnn")[0]
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise cli.UsageError(f"--out {args.out}: is a file; give the folder for the figures")
    cli.check_output_path(os.path.join(args.out, "x"))
    cli.quiet_tensorflow()
    if getattr(args, "dnn", None) and not os.path.exists(args.dnn):
        raise cli.UsageError(f"{args.dnn}: model file not found")
    written = globals()[f"cmd_{args.command}"](args)
    for w in written:
        print(f"wrote {w}")
    print(f"DONE visualize {args.command}: {len(written)} files in {args.out}, {time.time() - start:.1f} s")


if __name__ == "__main__":
    cli.main_guard(main)
