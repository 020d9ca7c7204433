"""Figures of the homework report from saved .h5 models.

    ferhw3 visualize all --data train.csv --out reports       # the shipped models, every figure
    ferhw3 visualize curves --history runs/vgg-bn.history.csv --history runs/dnn.history.csv
    ferhw3 visualize confusion --model runs/vgg-bn.h5 --data train.csv
    ferhw3 visualize saliency --data train.csv [--rows 12 40 ...]
    ferhw3 visualize ascent [--layer conv2_1] [--filters 64]
    ferhw3 visualize featuremaps --data train.csv --row 0 [--layer conv1_1]
    ferhw3 visualize classes --data train.csv      # the input each class's score likes best
    ferhw3 visualize priors [--layer conv3_1]      # filters without and with each image prior
    ferhw3 visualize depth                         # filters of a shallow, a middle, the last layer
    ferhw3 visualize towards --data train.csv --source Sad --target Happy
    ferhw3 visualize summary

The model defaults to the "analysis" role of models/manifest.json, the DNN to its "dnn"
role. Evaluation uses the validation split the model did not train on: the seed and size
are read from the run record beside the model (or --seed / --val-size); a shipped model
that trained on those faces is refused.
"""

import argparse
import os
import time

import numpy as np

from ferhw3 import cli
from ferhw3.runfiles import RunFiles, init_chain, write_text


_loaded: dict = {}


def load(path: str):
    """The model at `path`, loaded once per run and computing in float32 on every CPU: a
    model trained in mixed_bfloat16 would otherwise make TensorFlow emulate bfloat16 where
    the CPU has no bfloat16 instructions (a tenth of float32's speed or less), and the
    figures are then the same on every machine."""
    if path not in _loaded:
        _loaded[path] = cli.load_model(path, float32=True)
    return _loaded[path]


_read: dict = {}


def val_labels(path: str, x) -> np.ndarray:
    """The model at `path`'s labels for the faces `x` (no TTA), computed once per run: the
    confusion matrix and the saliency figure's picks read the same validation faces."""
    key = (path, id(x))
    if key not in _read:
        from ferhw3.viz.explain import predicted

        _read[key] = (x, predicted(load(path), x).argmax(1))  # x kept: its id stays its own
    return _read[key][1]


def validation_split(args):
    """(x_val, y_val, val row numbers in the CSV) for args.model's split."""
    from ferhw3.infer.evaluate import SeenFaces, validation_faces

    try:
        x, y, rows, (seed, val_size) = validation_faces(args.data, args.model, (args.seed, args.val_size))
    except SeenFaces as e:
        raise cli.UsageError(f"{e}; use the manifest's 'analysis' model") from None
    print(f"validation split: {len(rows)} faces (seed {seed}, val_size {val_size:g})")
    return x, y, rows


def cmd_curves(args, offsets=None):
    from ferhw3.viz.explain import plot_curves

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
    from ferhw3.viz.explain import confusion

    x, y, _ = val or validation_split(args)
    pred = val_labels(args.model, x)
    path = os.path.join(args.out, "confusion_matrix.png")
    cm, report = confusion(y, pred, path)
    txt = os.path.join(args.out, "classification_report.txt")
    write_text(txt, f"model {os.path.relpath(args.model)}, validation split, {len(y)} faces\n\n{report}")
    print(report)
    return [path, txt]


def cmd_saliency(args, val=None):
    from ferhw3.viz.explain import pick_faces, plot_saliency

    x, y, rows_in_csv = val or validation_split(args)
    model = load(args.model)
    if args.rows:
        pos = {int(r): i for i, r in enumerate(rows_in_csv)}
        missing = [r for r in args.rows if r not in pos]
        if missing:
            raise cli.UsageError(f"--rows {missing}: not in the validation split (pick validation rows)")
        picks = [pos[r] for r in args.rows]
    else:
        picks = pick_faces(y, val_labels(args.model, x), seed=args.seed)
    path = os.path.join(args.out, "saliency_maps.png")
    plot_saliency(model, x, y, picks, path)
    return [path]


def conv_layer(model, path: str, name: str | None, default: int) -> str:
    """The convolution layer `name`, or the model's `default`-th one; a UsageError naming
    the model when it has none (the dense baseline) or no such layer."""
    from ferhw3.viz.explain import conv_layers

    convs = conv_layers(model)
    if not convs:
        raise cli.UsageError(f"{path}: has no convolution layers (a dense model?); this figure needs a CNN")
    if name is None:
        return convs[min(default, len(convs) - 1)]
    if name not in convs:
        raise cli.UsageError(f"--layer {name}: not a convolution layer of {path} (it has {', '.join(convs)})")
    return name


def cmd_ascent(args):
    from ferhw3.viz.explain import gradient_ascent, plot_gradient_ascent

    model = load(args.model)
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
    from ferhw3.data.read import CLASS_NAMES, load_faces
    from ferhw3.viz.explain import feature_maps, plot_feature_maps

    model = load(args.model)
    layer = conv_layer(model, args.model, args.layer, 0)
    at = np.flatnonzero(np.asarray(val[2]) == args.row) if val is not None else []
    if len(at):  # a validation face: already read, no second pass over the CSV
        face, label = val[0][at[0]], val[1][at[0]]
    else:
        faces = load_faces(args.data, expect="train")
        if not 0 <= args.row < len(faces):
            raise cli.UsageError(f"--row {args.row}: {args.data} has rows 0-{len(faces) - 1}")
        face, label = faces.x[args.row], faces.labels[args.row]
    maps = feature_maps(model, layer, face)
    path = os.path.join(args.out, f"feature_maps_{layer}_row{args.row}.png")
    plot_feature_maps(maps, face, layer, args.row, CLASS_NAMES[label], path)
    return [path]


def cmd_classes(args, val=None):
    from ferhw3.viz import maximise

    model = load(args.model)
    x, _, _ = val or validation_split(args)
    t = time.time()
    starts = {"from grey": np.full((48, 48), maximise.GREY, np.float32),
              "from the mean face": x[..., 0].astype(np.float32).mean(axis=0)}
    rows = dict(zip(starts, maximise.class_models_from(model, list(starts.values()), steps=args.steps)))
    for name, (_, first, last) in rows.items():
        print(f"class models {name}: scores {np.round(first, 1).tolist()} -> {np.round(last, 1).tolist()}")
    print(f"class models: {time.time() - t:.1f} s")
    return [maximise.plot_class_models(rows, os.path.join(args.out, "class_models.png"))]


def cmd_priors(args):
    from ferhw3.viz import maximise

    model = load(args.model)
    layer = conv_layer(model, args.model, args.layer, len(conv_layers_of(model)) // 2)
    filters = list(range(min(args.filters or 8, model.get_layer(layer).output.shape[-1])))
    t, rows = time.time(), {}
    priors = maximise.ONE_AT_A_TIME
    for (name, prior), (images, first, last) in zip(priors.items(), maximise.filter_images_with(
            model, layer, filters, list(priors.values()), steps=args.steps)):
        rows[name] = (prior, images, first, last)
        print(f"{layer}, {name} ({prior.named()}): mean activation {first.mean():.2f} -> {last.mean():.2f}, "
              f"total variation {maximise.total_variation(images).mean():.1f}")
    print(f"priors: {time.time() - t:.1f} s")
    return [maximise.plot_priors(rows, layer, filters, os.path.join(args.out, f"ascent_priors_{layer}.png"))]


def conv_layers_of(model):
    from ferhw3.viz.explain import conv_layers

    return conv_layers(model)


def cmd_depth(args):
    from ferhw3.viz import maximise

    model = load(args.model)
    convs = conv_layers_of(model)
    if not convs:
        raise cli.UsageError(f"{args.model}: has no convolution layers (a dense model?); this figure needs a CNN")
    # the first convolution only weighs a 3x3 patch of pixels: its maximising input is a saturated
    # image, so "shallow" is the second
    picked = list(dict.fromkeys([convs[min(1, len(convs) - 1)], convs[len(convs) // 2], convs[-1]]))
    t, rows = time.time(), []
    layers = [(layer, range(min(args.filters or 8, model.get_layer(layer).output.shape[-1]))) for layer in picked]
    for layer, (images, first, last) in zip(picked, maximise.filter_images_at(model, layers, maximise.PRIOR,
                                                                               steps=args.steps)):
        rows.append((layer, images, first, last))
        print(f"{layer}: mean activation {first.mean():.2f} -> {last.mean():.2f}")
    print(f"depth: {time.time() - t:.1f} s")
    return [maximise.plot_depth(rows, os.path.join(args.out, "ascent_depth.png"))]


def cmd_towards(args, val=None):
    from ferhw3.data.read import CLASS_NAMES
    from ferhw3.viz import maximise

    names = {n.lower(): i for i, n in enumerate(CLASS_NAMES)}
    for given in (args.source, args.target):
        if given.lower() not in names:
            raise cli.UsageError(f"{given}: not an expression ({', '.join(CLASS_NAMES)})")
    source, target = names[args.source.lower()], names[args.target.lower()]
    model = load(args.model)
    x, y, _ = val or validation_split(args)
    # faces labelled `source` that the model also reads as `source`: a move from one reading to another
    labelled = x[y == source]
    read = maximise.probabilities(model, labelled).argmax(1) if len(labelled) else np.zeros(0, int)
    faces = (labelled[read == source] if (read == source).any() else labelled)[:args.faces]
    if not len(faces):
        if args.command == "all":
            print(f"towards: no validation face labelled {CLASS_NAMES[source]}; figure skipped")
            return []
        raise cli.UsageError(f"no validation face is labelled {CLASS_NAMES[source]}")
    t = time.time()
    before, runs = maximise.towards(model, faces, target)
    for p, (moved, ran, after) in runs.items():
        change = np.abs(moved - faces[..., 0]).mean(axis=(1, 2))
        print(f"{CLASS_NAMES[source]} -> {CLASS_NAMES[target]} until p > {p:g}: p {np.round(before, 2).tolist()} -> "
              f"{np.round(after, 2).tolist()} in {ran.tolist()} steps; mean absolute change "
              f"{[round(float(c), 1) for c in change]} grey levels")
        shares = maximise.change_shares(moved - faces[..., 0])
        print("  where: " + "; ".join(f"{name} ({area:.0%} of the face) {np.round(share, 2).tolist()} of the change"
                                      for name, (share, area) in shares.items()))
    print(f"towards: {len(faces)} faces, {time.time() - t:.1f} s")
    path = os.path.join(args.out, f"towards_{CLASS_NAMES[source].lower()}_{CLASS_NAMES[target].lower()}.png")
    return [maximise.plot_towards(faces[..., 0].astype(np.float32), before, runs, CLASS_NAMES[source],
                                  CLASS_NAMES[target], path)]


def cmd_summary(args):
    from ferhw3.viz.explain import summary_markdown, summary_text

    paths = []
    for label, p in (("cnn", args.model), ("dnn", args.dnn)):
        if not p:
            continue
        m = load(p)
        for ext, text in (("txt", summary_text(m)), ("md", summary_markdown(m))):
            path = os.path.join(args.out, f"model_summary_{label}.{ext}")
            write_text(path, text)
            paths.append(path)
    return paths


def cmd_all(args):
    import threading

    # TensorFlow's import (a few seconds) runs while the CSV is read: 1-1.4 s less on two cores
    def early_load():
        try:
            load(args.model)
        except BaseException:  # noqa: BLE001  the figure that needs the model says what is wrong, in one line
            pass

    loading = threading.Thread(target=early_load, daemon=True)
    loading.start()
    val = validation_split(args)
    loading.join()
    out = []
    # the model's curves continue those of the models it was --init'ed from
    chain = init_chain(args.model)
    extra = [RunFiles(m).history for m in (args.also or []) + [args.dnn] if m]
    args.history = [csv for _, csv, _ in chain] + [h for h in extra if os.path.exists(h)]
    timed = []
    figures = 9 + bool(args.history)

    def figure(name, make, *a):
        t = time.time()
        out.extend(make(*a))
        timed.append(f"{name} {time.time() - t:.1f} s")
        print(f"[{len(timed)}/{figures}] {name}: {time.time() - t:.1f} s")

    if args.history:
        figure("curves", cmd_curves, args, {label: before for label, _, before in chain})
    figure("confusion", cmd_confusion, args, val)
    figure("saliency", cmd_saliency, args, val)
    figure("ascent", cmd_ascent, args)
    figure("classes", cmd_classes, args, val)
    args.layer = None  # each figure's own default layer
    figure("priors", cmd_priors, args)
    figure("depth", cmd_depth, args)
    figure("towards", cmd_towards, args, val)
    args.row = int(val[2][0]) if args.row is None else args.row
    figure("featuremaps", cmd_featuremaps, args, val)
    figure("summary", cmd_summary, args)
    print("figure times: " + ", ".join(timed))
    return out


def parse_args(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    s.add_argument("--source", default="Sad", help="towards: the faces' expression (default Sad)")
    s.add_argument("--target", default="Happy", help="towards: the expression to move them to (default Happy)")
    s.add_argument("--faces", type=int, default=4, help="towards: how many faces")
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
    s = add("classes", data=True, help="class models: the input that maximises each class's score")
    s.add_argument("--steps", type=int, default=200)
    s = add("priors", help="a layer's filters without and with each image prior (L2, blur, jitter, clipping)")
    s.add_argument("--layer", help="default: the middle convolution")
    s.add_argument("--filters", type=int, default=8)
    s.add_argument("--steps", type=int, default=150)
    s = add("depth", help="regularised filter images of a shallow, a middle and the last convolution")
    s.add_argument("--filters", type=int, default=8)
    s.add_argument("--steps", type=int, default=150)
    s = add("towards", data=True, help="validation faces moved by gradient ascent until read as another class")
    s.add_argument("--source", default="Sad")
    s.add_argument("--target", default="Happy")
    s.add_argument("--faces", type=int, default=4)
    s = add("summary", help="layer tables (text and markdown)")
    s.add_argument("--dnn", help="default: the manifest's")
    args = p.parse_args(argv)
    from ferhw3.infer import manifest

    if hasattr(args, "model") and args.model is None:
        args.model = manifest.role("analysis")[0]
    if hasattr(args, "dnn") and args.dnn is None:
        args.dnn = manifest.role("dnn")[0]
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
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

