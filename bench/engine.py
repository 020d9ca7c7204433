#!/usr/bin/env python3
"""Does the OpenVINO engine predict what TensorFlow predicts? Model by model, on the validation split.

    python bench/engine.py [--data TRAIN_CSV] [--tta none,center]

For each shipped model: TensorFlow's float32 predictions (the model rebuilt in float32)
against OpenVINO's in bf16 and in f32: the share of faces whose label agrees, both
accuracies, and faces/s of each (views included). The engine uses bf16 for a model only
where labels agree on >= 99.5% of the faces and the accuracy moves by <= 0.1 point. A
model that trained on the validation faces is compared on as many test faces instead
(agreement only: they have no labels).
Writes bench/results_engine.md.
"""

import argparse
import os
import sys
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads
from ferhw3.infer.manifest import ROOT

HERE = os.path.join(ROOT, "bench")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "fer2013", "train.csv.gz"))
    p.add_argument("--tta", default="none,center")
    p.add_argument("--results", default=os.path.join(HERE, "results_engine.md"))
    args = p.parse_args()
    cli.quiet_tensorflow()
    import numpy as np

    from ferhw3.data.read import load_faces
    from ferhw3.infer import engine, manifest
    from ferhw3.infer.evaluate import SeenFaces, validation_faces
    from ferhw3.infer.predict import check_tta, predict_proba

    rows = []
    for name in manifest.entries():
        path = os.path.join(manifest.MODELS_DIR, name)
        try:
            x, y, _, _ = validation_faces(args.data, path)
        except SeenFaces:
            test = os.path.join(os.path.dirname(args.data), "test.csv.gz")
            x, y = load_faces(test, expect="test").x[:2871], None
        tf_engine = engine.KerasPredictor(cli.load_model(path, float32=True))
        ov = engine.load_predictor(path, "openvino")
        for tta in args.tta.split(","):
            try:
                check_tta(tf_engine, tta)
            except ValueError:
                continue
            t = time.perf_counter()
            ref = predict_proba([tf_engine], x, tta=tta).argmax(1)
            tf_rate = len(x) / (time.perf_counter() - t)
            for precision in ("bf16", "f32") + (("int8",) if ov.int8 is not None else ()):
                ov._runs_at, ov.compiled = precision, {}
                predict_proba([ov], x[:256], tta=tta)  # compile outside the timing
                t = time.perf_counter()
                got = predict_proba([ov], x, tta=tta).argmax(1)
                rate = len(x) / (time.perf_counter() - t)
                acc = ("| - | - " if y is None else f"| {np.mean(ref == y):.4f} | {np.mean(got == y):.4f} ")
                rows.append(f"| {name} | {ov.meta['precision']} | {tta} | {precision} | {np.mean(got == ref):.4f} "
                            f"{acc}| {tf_rate:.0f} | {rate:.0f} |")
                print(rows[-1], flush=True)
    table = "\n".join([
        "$ python bench/engine.py " + " ".join(sys.argv[1:]),
        f"validation split: 2871 faces of train (stratified, seed 0), or, for a model that trained on them, the "
        f"first 2871 test faces (no accuracy); {os.cpu_count()} CPU cores; faces/s count faces, each with all its "
        "TTA views", "",
        "| model | engine's choice | TTA | OpenVINO precision | labels agreeing with TF float32 | TF float32 accuracy "
        "| OpenVINO accuracy | TF faces/s | OpenVINO faces/s |",
        "|---|---|---|---|---:|---:|---:|---:|---:|", *rows])
    with open(args.results, "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
