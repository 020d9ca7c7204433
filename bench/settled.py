#!/usr/bin/env python3
"""What settling a face's label early costs hw3_test.sh's ensemble: labels, accuracy and time.

    python bench/settled.py [--data DIR] [--twins runs/teachers] [--results FILE]

`predict_labels` stops reading a face once its leader is ahead by more than `settled_at`
per view still to come (ferhw3.infer.predict.SETTLED_AT; 1.0 is exact: no later view can
change the label). For each value, at the precision the engine picks on this CPU:
1. the project's 2,871 validation faces with the ensemble's split stand-in (the shipped
   VGGs trained on those faces; their split-trained twins, `bash bench/twins.sh`, did not):
   accuracy, the share of labels equal to the full mean's (every view read), McNemar
   against the full mean at this precision and against the full mean in f32 (today's
   reference);
2. the 7,178 test faces with the shipped ensemble: labels as the full mean's, the share of
   the view readings made and the seconds of inference (models loaded and compiled first).
"""

import argparse
import os
import sys
import time

from precision_roles import at, faces, stand_ins

from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")
SETTINGS = (1.0, 0.75, 0.6, 0.5, 0.4)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013"))
    p.add_argument("--twins", default=os.path.join(ROOT, "runs", "teachers"))
    p.add_argument("--results", default=os.path.join(HERE, "results_settled.md"))
    args = p.parse_args()
    import numpy as np

    from ferhw3.cpu import cpu_line
    from ferhw3.infer.evaluate import paired
    from ferhw3.infer.manifest import role, role_tta
    from ferhw3.infer.precision import machine
    from ferhw3.infer.predict import SETTLED_AT, load_predictors, predict_labels, predict_proba
    from ferhw3.runfiles import write_text

    tta = role_tta("ensemble")
    xv, yv, xt = faces(args.data)
    twins = stand_ins(args.twins, roles=("ensemble",))["ensemble"]
    split = load_predictors(twins, tta)
    shipped = load_predictors(role("ensemble"), tta)
    precision = shipped[0].runs_at()
    reference = predict_proba(at(split, "f32"), xv, tta=tta).argmax(1)
    full_v = predict_proba(at(split, precision), xv, tta=tta).argmax(1)
    predict_proba(shipped, xt[:300], tta=tta)  # compile the batch shapes outside the timing
    full_t = predict_proba(shipped, xt, tta=tta).argmax(1)
    lines = ["$ python bench/settled.py " + " ".join(sys.argv[1:]), "",
             f"{cpu_line()}; OpenVINO {machine()['openvino']}; the ensemble ({len(shipped)} networks, TTA {tta}: "
             f"{len(shipped) * 2} views) in {precision}, as the engine picked it here", "",
             f"Validation: 2,871 faces, the split stand-in ({', '.join(os.path.basename(m) for m in twins)}). "
             f"Full mean at {precision}: {np.mean(full_v == yv):.4f}; in f32: {np.mean(reference == yv):.4f}.", "",
             "| settled_at | val accuracy | val labels as the full mean's | right only full / only this, p "
             "| against f32's full mean: only f32 / only this, p | test labels as the full mean's "
             "| views read (test) | inference s (test) |",
             "|---:|---:|---:|---|---|---:|---:|---:|"]
    for settled_at in SETTINGS:
        lv, _ = predict_labels(split, xv, tta=tta, settled_at=settled_at)
        t = time.perf_counter()
        lt, share = predict_labels(shipped, xt, tta=tta, settled_at=settled_at)
        seconds = time.perf_counter() - t
        a, b, pa = paired(full_v == yv, lv == yv)
        c, d, pc = paired(reference == yv, lv == yv)
        mark = " (default)" if settled_at == SETTLED_AT else ""
        lines.append(f"| {settled_at:g}{mark} | {np.mean(lv == yv):.4f} | {np.mean(lv == full_v):.4f} | "
                     f"{a} / {b}, {pa:.3g} | {c} / {d}, {pc:.3g} | {np.mean(lt == full_t):.4f} | {share:.0%} | "
                     f"{seconds:.1f} |")
        print(lines[-1], flush=True)
    lines += ["", "1.0 reads every view that could change a label (`predict.py --exact`); its labels are the full "
              "mean's by construction. Seconds move with whatever else runs on the machine."]
    write_text(args.results, "\n".join(lines) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
