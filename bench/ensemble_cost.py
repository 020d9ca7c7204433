#!/usr/bin/env python3
"""hw3_test.sh's ensemble under a cost budget: which members and views pay for their time?

    python bench/ensemble_cost.py [--twins runs/teachers] [--results bench/results_ensemble_cost.md]

Each member of the ensemble role reads the centre 40x40 window and its mirror ("center"
TTA). Here every member may keep both views, the centre window alone, or drop out: 3^5
compositions, each scored on the project's 2,871 validation faces with the role's split
stand-in (bench/twins.sh) at the precision the engine runs on this CPU, and costed by the
measured seconds of each shipped member's view on the 7,178 test faces. A member's views
are averaged first, then the members, so each member keeps an equal say. Printed: each
member's seconds per view, the cheapest composition at each accuracy (the frontier), and
the compositions of interest paired against today's (McNemar). Chosen on the validation
faces, so a composition's accuracy here is optimistic; only what is level with today's in
a paired test (and cheaper) is worth shipping.
"""

import argparse
import itertools
import os
import sys
import time

from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013"))
    p.add_argument("--twins", default=os.path.join(ROOT, "runs", "teachers"))
    p.add_argument("--results", default=os.path.join(HERE, "results_ensemble_cost.md"))
    args = p.parse_args()
    import numpy as np

    from ferhw3.cpu import cpu_line
    from ferhw3.infer.engine import built_predictor
    from ferhw3.infer.evaluate import paired
    from ferhw3.infer.manifest import role
    from ferhw3.infer.precision import machine
    from ferhw3.infer.predict import tta_views
    from ferhw3.runfiles import write_text
    from precision_roles import faces, stand_ins

    xv, yv, xt = faces(args.data)
    twins, shipped = stand_ins(args.twins)["ensemble"], role("ensemble")
    names = [os.path.basename(m).removesuffix(".h5").removesuffix("_all-faces") for m in shipped]
    probs, seconds, precisions = [], [], []
    for twin, ship in zip(twins, shipped):
        t, s = built_predictor(twin), built_predictor(ship)
        probs.append([t.predict(v) for v in tta_views(xv, "center")])
        views = tta_views(xt, "center")
        s.predict(views[0][:16])  # compile outside the timing
        start = time.perf_counter()
        s.predict(views[0])
        seconds.append(time.perf_counter() - start)
        precisions.append(s.runs_at())
        print(f"{os.path.basename(ship)}: {s.runs_at()}, {seconds[-1]:.2f} s a view", flush=True)

    def read(choice):
        """choice: views per member (0, 1: centre, 2: centre and mirror) -> (labels, seconds)."""
        kept = [np.mean(probs[i][:k], axis=0) for i, k in enumerate(choice) if k]
        return np.mean(kept, axis=0).argmax(1), sum(k * s for k, s in zip(choice, seconds))

    today = (2,) * len(shipped)
    base, base_s = read(today)
    scored = []
    for choice in itertools.product((0, 1, 2), repeat=len(shipped)):
        if any(choice):
            labels, cost = read(choice)
            scored.append((cost, float(np.mean(labels == yv)), choice, labels))
    frontier, best = [], -1.0
    for cost, acc, choice, labels in sorted(scored, key=lambda r: (r[0], -r[1])):
        if acc > best:
            frontier.append((cost, acc, choice, labels))
            best = acc

    def describe(choice):
        return ", ".join(f"{n} {'centre+mirror' if k == 2 else 'centre'}" for n, k in zip(names, choice) if k)

    def line(cost, acc, choice, labels):
        only_today, only_this, pval = paired(base == yv, labels == yv)
        return (f"| {describe(choice)} | {acc:.4f} | {cost:.1f} | {cost / base_s:.2f} | {only_today} | {only_this} | "
                f"{pval:.3g} |")

    cpu = machine()
    header = ["| composition | val accuracy | s (7,178 test faces) | x today's | right only today's "
              "| right only this | p |", "|---|---:|---:|---:|---:|---:|---:|"]
    one_view = (1,) * len(shipped)
    one, one_s = read(one_view)
    lines = ["$ python bench/ensemble_cost.py " + " ".join(sys.argv[1:]), "",
             f"{cpu_line()}; OpenVINO {cpu['openvino']}; precision per member: "
             + ", ".join(f"{n} {p}" for n, p in zip(names, precisions)),
             "validation: 2,871 faces (stratified, seed 0), the split stand-in (" + ", ".join(map(os.path.basename, twins))
             + "); seconds: the shipped members' views on the 7,178 test faces, inference alone", "",
             "Seconds per view: " + ", ".join(f"{n} {s:.2f}" for n, s in zip(names, seconds)), "",
             "Today's composition and the same members with one view each:", "", *header,
             line(base_s, float(np.mean(base == yv)), today, base),
             line(one_s, float(np.mean(one == yv)), one_view, one), "",
             "The frontier: the cheapest composition for each accuracy reached (optimistic: chosen on these faces):",
             "", *header, *[line(*f) for f in frontier]]
    write_text(args.results, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
