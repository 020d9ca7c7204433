#!/usr/bin/env python3
"""The `fer` package's pipeline on bench/photos.py's pictures; run by it under a Python
where `fer` is installed (its own virtual environment: it needs the full tensorflow and
opencv-contrib-python, which this project does not install).

    PYTHON bench/photos_fer.py LIST.json OUT.json

LIST.json: image paths; OUT.json: {"version", "seconds" (all but the last picture),
"pictures": [[{"box": [x, y, w, h], "emotions": {name: probability}}, ...], ...]}.
"""

import json
import sys
import time

import cv2
import fer
from fer.fer import FER  # the package's __init__ does not export it in 25.x


def main():
    with open(sys.argv[1]) as f:
        paths = json.load(f)
    detector = FER(mtcnn=False)  # its Haar cascade, as the package's default
    detector.detect_emotions(cv2.imread(paths[0]))  # warm-up: model loading
    pictures, start = [], time.perf_counter()
    for k, path in enumerate(paths):
        if k == len(paths) - 1:
            seconds = time.perf_counter() - start
        found = detector.detect_emotions(cv2.imread(path))
        pictures.append([{"box": [int(v) for v in d["box"]],
                          "emotions": {n: float(q) for n, q in d["emotions"].items()}} for d in found])
    with open(sys.argv[2], "w") as f:
        json.dump({"version": getattr(fer, "__version__", "?"), "seconds": seconds, "pictures": pictures}, f)


if __name__ == "__main__":
    main()
