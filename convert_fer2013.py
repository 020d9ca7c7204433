#!/usr/bin/env python3
"""Split Kaggle's original fer2013.csv (emotion,pixels,Usage) into the course's files.

    python convert_fer2013.py fer2013.csv OUT_DIR

Writes OUT_DIR/train.csv (label,feature: the Training rows), OUT_DIR/test.csv
(id,feature: PublicTest then PrivateTest rows, ids 0..N-1 in file order) and
OUT_DIR/test_answers.csv (id,label) to score predictions against.
"""

import argparse
import os

from ferhw3 import cli


def rows(keys, x):
    return (f"{k}," + " ".join(map(str, face.ravel().tolist())) for k, face in zip(keys.tolist(), x))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fer2013_csv")
    p.add_argument("out_dir")
    args = p.parse_args(argv)
    from ferhw3.data.read import DataError, load_csv
    from ferhw3.infer.outputs import write_csv_atomic

    out = {name: os.path.join(args.out_dir, name) for name in ("train.csv", "test.csv", "test_answers.csv")}
    for path in out.values():  # before the slow read
        cli.check_output_path(path, inputs=[args.fer2013_csv])
    train = load_csv(args.fer2013_csv, expect="train")
    test = load_csv(args.fer2013_csv)
    if train.ids is not None or test.ids is None or test.labels is None:
        raise DataError(f"{args.fer2013_csv}: not Kaggle's emotion,pixels,Usage layout")
    write_csv_atomic(out["train.csv"], "label,feature", rows(train.labels, train.x))
    write_csv_atomic(out["test.csv"], "id,feature", rows(test.ids, test.x))
    write_csv_atomic(out["test_answers.csv"], "id,label", (f"{i},{l}" for i, l in zip(test.ids, test.labels)))
    print(f"DONE {args.out_dir}: train.csv {len(train)} faces, test.csv + test_answers.csv {len(test)} faces")


if __name__ == "__main__":
    cli.main_guard(main)
