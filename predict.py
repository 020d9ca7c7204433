#!/usr/bin/env python3
"""Predict FER2013 expressions: test CSV (id,feature) -> submission CSV (id,label).

    python predict.py test.csv out.csv                      # the shipped default model, flip TTA
    python predict.py test.csv out.csv --role ensemble      # what hw3_test.sh runs
    python predict.py test.csv out.csv --model a.h5 --model b.h5 --tta none
    python predict.py photos/ out.csv                       # image files -> file,label,probabilities

With several --model the class probabilities are averaged. Given a labelled file
(`label,feature`, Kaggle's fer2013.csv, or class folders) the accuracy is printed too;
rows are then numbered from 0. Kaggle's fer2013.csv is predicted on its PublicTest +
PrivateTest rows. Images of any size and colour become 48x48 grey faces: converted to
grey, centre-cropped to a square, resized.
"""

import argparse
import os
import time

from ferhw3 import cli  # sets TensorFlow's environment before it loads


def parse_args(argv=None):
    from ferhw3.predict import TTA_MODES

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("test_csv", help="faces to label: id,feature (or label,feature) CSV, plain or .gz; "
                   "Kaggle's fer2013.csv; an image file or a folder of images")
    p.add_argument("out_csv", help="submission to write: id,label")
    p.add_argument("--model", action="append", help="saved model (.h5/.keras); repeat to ensemble")
    p.add_argument("--role", default="default",
                   help="without --model: the shipped model(s) of this role in models/manifest.json "
                        "(default, ensemble, dnn; default: default)")
    p.add_argument("--tta", choices=TTA_MODES,
                   help="test-time augmentation (default: the role's, or flip: the face and its mirror)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    import numpy as np

    from ferhw3 import manifest
    from ferhw3.data import load_faces, write_csv_atomic

    if args.model:
        model_paths, tta = args.model, args.tta or "flip"
    else:
        try:
            model_paths, tta = manifest.role(args.role), args.tta or manifest.role_tta(args.role) or "flip"
        except KeyError:
            raise cli.UsageError(f"--role {args.role}: not a role of {manifest.MANIFEST} "
                                 f"(roles: {', '.join(manifest.load()['roles'])})") from None
    cli.check_output_path(args.out_csv, inputs=[args.test_csv, *model_paths])
    for m in model_paths:  # fail before the slow TensorFlow start-up
        if not os.path.exists(m):
            raise cli.UsageError(f"{m}: model file not found")
    faces = load_faces(args.test_csv)
    from ferhw3.engine import load_predictor
    from ferhw3.predict import check_tta, predict_proba, write_submission

    models = [load_predictor(m) for m in model_paths]

    for path, model in zip(model_paths, models):
        try:
            check_tta(model, tta)
        except ValueError as e:
            raise cli.UsageError(f"{path}: {e}") from None

    probs = predict_proba(models, faces.x, tta=tta)
    labels = probs.argmax(axis=1)
    ids = faces.ids if faces.ids is not None else np.arange(len(faces))
    if faces.names is not None:  # image files: name each one and give all 7 probabilities
        write_csv_atomic(args.out_csv, "file,label,probabilities",
                         (f"{cli.csv_field(n)},{l},{' '.join(f'{q:.4f}' for q in p)}"
                          for n, l, p in zip(faces.names, labels, probs)))
    else:
        write_submission(args.out_csv, ids, labels)
    extra = ""
    if faces.labels is not None:
        extra = f" accuracy={np.mean(labels == faces.labels):.4f}"
    print(f"DONE {args.out_csv}: {len(ids)} faces, {len(models)} model(s) on {models[0].engine}, tta={tta}{extra}, "
          f"{time.time() - start:.1f} s")


if __name__ == "__main__":
    cli.main_guard(main)
