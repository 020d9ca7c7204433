#!/usr/bin/env python3
"""Does the OpenVINO model built from the .h5 without TensorFlow (ferhw3.infer.h5graph)
predict what the one converted through TensorFlow predicts? Every shipped model, both
precisions, whole faces (no TTA).

    python bench/h5graph.py [--data ../shared/data/fer2013]

Per model and precision: how many of the 7,178 test faces get the same label from both, the
largest difference of a probability, and, for a model that held the project's validation
split out, the accuracy of each on those 2,871 faces. Writes bench/results_h5graph.md.
"""

import argparse
import os
import sys
import tempfile

from ferhw3 import cli  # noqa: F401  sets TensorFlow's environment before it loads
from ferhw3.runfiles import write_text

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "fer2013"))
    p.add_argument("--results", default=os.path.join(HERE, "results_h5graph.md"))
    args = p.parse_args()
    import numpy as np

    from ferhw3.data.read import load_faces
    from ferhw3.infer import engine, manifest
    from ferhw3.infer.evaluate import SeenFaces, validation_faces

    os.environ["FERHW3_CACHE"] = tempfile.mkdtemp(prefix="ferhw3-h5graph-bench-")  # converted afresh
    os.environ["FERHW3_PRECISION"] = "bf16"  # run bf16 as bf16 here, whatever the CPU (f32 where a model lacks it)
    test = load_faces(os.path.join(args.data, "test.csv.gz")).x
    train = os.path.join(args.data, "train.csv.gz")
    rows = []
    for name in manifest.entries():
        path = os.path.join(manifest.MODELS_DIR, name)
        try:
            val_x, val_y, _, _ = validation_faces(train, path)
        except SeenFaces:
            val_x = val_y = None
        built, converted = engine.built_predictor(path), engine.converted_predictor(path)
        for precision in ("f32", "bf16"):
            built.precision = converted.precision = precision
            built.compiled, converted.compiled = {}, {}
            a, b = built.predict(test), converted.predict(test)
            same = int(np.sum(a.argmax(1) == b.argmax(1)))
            acc = "seen in training"
            if val_x is not None:
                acc = " / ".join(f"{np.mean(m.predict(val_x).argmax(1) == val_y):.4f}" for m in (built, converted))
            rows.append(f"| {name} | {precision} | {same:,} of {len(test):,} ({same / len(test):.2%}) | "
                        f"{np.abs(a - b).max():.2g} | {acc} |")
            print(rows[-1], flush=True)
    text = "\n".join(["$ python bench/h5graph.py " + " ".join(sys.argv[1:]), "",
                      "| model | precision | same label, built vs converted (test faces) | largest probability "
                      "difference | validation accuracy, built / converted |",
                      "|---|---|---:|---:|---:|", *rows, ""])
    print(text)
    write_text(args.results, text)


if __name__ == "__main__":
    main()
