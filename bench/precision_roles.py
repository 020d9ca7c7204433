#!/usr/bin/env python3
"""What each inference precision costs each role in accuracy: f32, bf16 and int8, paired.

    python bench/precision_roles.py [--data DIR] [--twins runs/teachers] [--results FILE]

Per role (ensemble: hw3_test.sh; default: predict.py; photos: --detect and the service),
with the role's own TTA:
1. Accuracy on the project's 2,871 validation faces, with the role's split stand-in (the
   shipped VGGs trained on those faces; their split-trained twins did not): each
   precision against f32, McNemar on the faces only one of the two gets right, and the
   share of labels that agree.
2. The shipped role on the 7,178 test faces: the share of its labels that agree with f32's,
   and the seconds each precision took (the engine's batches, as predict.py runs them).
A precision a model does not allow (bf16 for a model that measured otherwise, int8 without
an int8 copy) runs in f32 there, as the engine would. The split twins of the four VGGs and
their int8 copies are made by `bash bench/twins.sh`.
"""

import argparse
import os
import sys
import time

from ferhw3.infer.manifest import MODELS_DIR, ROOT

HERE = os.path.join(ROOT, "bench")
PRECISIONS = ("f32", "bf16", "int8")


def stand_ins(twins: str, roles=("ensemble", "default", "photos")) -> dict:
    """role -> the split-trained models standing for the shipped ones, in the role's order: a
    shipped model that trained on the validation faces is stood for by its split-trained
    twin in `twins` (its name without `_all-faces`); one that did not stands for itself."""
    from ferhw3.infer.manifest import entries, load

    manifest = load()
    shipped = entries(manifest)

    def twin(name):
        if not shipped[name]["trained_on_validation_faces"]:
            return os.path.join(MODELS_DIR, name)
        return os.path.join(twins, name.replace("_all-faces", ""))

    return {r: [twin(f) for f in manifest["roles"][r]["models"]] for r in roles}


def faces(data: str):
    """(validation faces, their labels, test faces): the project's split of train.csv.gz
    (2,871 faces, stratified, seed 0) and the 7,178 faces of test.csv.gz in `data`."""
    from ferhw3.data.read import load_faces, stratified_split

    train = load_faces(os.path.join(data, "train.csv.gz"))
    _, va = stratified_split(train.labels, 2871, 0)
    return train.x[va], train.labels[va], load_faces(os.path.join(data, "test.csv.gz")).x


def at(predictors, precision: str):
    """The predictors set to compute at `precision` where each allows it, else f32."""
    for p in predictors:
        p._runs_at, p.compiled = (precision if precision in p.allowed() else "f32"), {}
    return predictors


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013"))
    p.add_argument("--twins", default=os.path.join(ROOT, "runs", "teachers"))
    p.add_argument("--roles", default="ensemble,default,photos")
    p.add_argument("--results", default=os.path.join(HERE, "results_precision_roles.md"))
    args = p.parse_args()
    import numpy as np

    from ferhw3.cpu import cpu_line
    from ferhw3.infer.engine import built_predictor
    from ferhw3.infer.evaluate import paired
    from ferhw3.infer.manifest import role, role_tta
    from ferhw3.infer.precision import machine
    from ferhw3.infer.predict import predict_proba

    xv, yv, xt = faces(args.data)
    twins = stand_ins(args.twins)
    cpu = machine()
    lines = ["$ python bench/precision_roles.py " + " ".join(sys.argv[1:]), "",
             f"{cpu_line()}; OpenVINO {cpu['openvino']}", ""]
    for name in args.roles.split(","):
        tta = role_tta(name) or "flip"
        split_models = at([built_predictor(m) for m in twins[name]], "f32")
        shipped = [built_predictor(m) for m in role(name)]
        lines += [f"## {name} (TTA {tta}): {len(shipped)} network(s)", "",
                  "Validation faces (2,871, the split stand-in: " + ", ".join(os.path.basename(m) for m in twins[name])
                  + "); test faces (7,178, the shipped models: " + ", ".join(os.path.basename(m) for m in role(name))
                  + "):", "",
                  "| precision | val accuracy | val labels as f32's | right only f32 | right only this | p "
                  "| test labels as f32's | test seconds |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        ref_v = ref_t = None
        for precision in PRECISIONS:
            pv = predict_proba(at(split_models, precision), xv, tta=tta).argmax(1)
            predict_proba(at(shipped, precision), xt[:16], tta=tta)  # compile outside the timing
            t = time.perf_counter()
            pt = predict_proba(shipped, xt, tta=tta).argmax(1)
            seconds = time.perf_counter() - t
            if ref_v is None:
                ref_v, ref_t = pv, pt
            only_f32, only_this, pval = paired(ref_v == yv, pv == yv)
            lines.append(f"| {precision} | {np.mean(pv == yv):.4f} | {np.mean(pv == ref_v):.4f} | {only_f32} | "
                         f"{only_this} | {pval:.3g} | {np.mean(pt == ref_t):.4f} | {seconds:.1f} |")
            print(lines[-1], flush=True)
        lines.append("")
    lines += ["A model runs at a precision only where it allows it (the others in f32): "
              + "; ".join(f"{os.path.basename(m)}: " + ", ".join(built_predictor(m).allowed())
                          for m in sorted({m for n in args.roles.split(",") for m in role(n)})) + ".",
              f"Models: {MODELS_DIR}. Seconds move with whatever else runs on the machine."]
    from ferhw3.runfiles import write_text

    write_text(args.results, "\n".join(lines) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
