"""The small tools' command lines: `ferhw3 compact | pack | export ...`."""

from __future__ import annotations

import argparse
import os

from ..errors import DataError
from . import UsageError


def compact(argv) -> None:
    """compact MODEL.h5 [OUT.h5]: float16 weights (in place without OUT)."""
    from ..infer.compact import halve_h5

    p = argparse.ArgumentParser(prog="ferhw3 compact", description="store a .h5 model's weights as "
                                "float16 (ferhw3/infer/compact.py says why)")
    p.add_argument("model")
    p.add_argument("out", nargs="?", help="the half-size copy (default: in place)")
    args = p.parse_args(argv)
    dst = args.out or args.model
    try:
        before = os.path.getsize(args.model)
        n = halve_h5(args.model, dst)
    except ValueError as e:
        raise DataError(str(e)) from None
    except OSError as e:
        raise DataError(f"{args.model}: {str(e).splitlines()[0]}") from None
    print(f"DONE {dst}: {n} weight arrays as float16, {before / 2**20:.1f} -> {os.path.getsize(dst) / 2**20:.1f} MiB")


def pack(argv) -> None:
    """pack FACES OUT.npz [--max-mib M] [--quality Q]: faces as WebP mosaics."""
    from ..data.pack import is_pack, pack as write_pack
    from ..data.read import load_faces

    p = argparse.ArgumentParser(prog="ferhw3 pack", description="faces packed as WebP mosaics in one .npz "
                                "(ferhw3/data/pack.py says why)")
    p.add_argument("faces", help="a CSV (label,feature or id,feature), an image folder, or a pack")
    p.add_argument("out", help="the pack to write (.npz)")
    p.add_argument("--max-mib", type=float, default=0.0, help="the most the pack may take (0: lossless)")
    p.add_argument("--quality", type=int, help="WebP quality 1-100 instead of the largest that fits")
    args = p.parse_args(argv)
    if not is_pack(args.out):
        raise DataError(f"{args.out}: a pack's name ends in .npz")
    faces = load_faces(args.faces)
    got = write_pack(faces, args.out, args.max_mib, args.quality)
    print(f"DONE pack: {len(faces):,} faces -> {args.out}, {got['bytes'] / 2 ** 20:.1f} MiB, "
          f"{'lossless' if got['quality'] == 'lossless' else 'WebP quality %s' % got['quality']}, "
          f"mean error {got['mean_abs_error']:.2f} grey levels")


def export(argv) -> None:
    """export MODEL.h5 OUT_DIR: the model as OpenVINO IR."""
    from ..infer.export import export as write_ir

    if len(argv) != 2 or argv[0].startswith("-"):
        raise UsageError("usage: ferhw3 export MODEL.h5 OUT_DIR")
    for path in write_ir(*argv):
        print(f"wrote {path}")
    print(f"DONE export {argv[0]} -> {argv[1]} (OpenVINO IR)")


def quantize(argv) -> None:
    """quantize MODEL.h5 [MODEL.h5 ...] --data TRAIN_CSV: int8 copies beside the models."""
    from ..infer.quantize import CALIBRATION_FACES, calibration_faces, quantize as write_int8

    p = argparse.ArgumentParser(prog="ferhw3 quantize", description="int8 copies of .h5 models (NAME.int8.xml/.bin/"
                                ".json beside each), calibrated on faces of the training part of a labelled CSV; "
                                "prediction then runs a model in int8 where this CPU measured it fastest "
                                "(ferhw3/infer/quantize.py says how; needs nncf)")
    p.add_argument("models", nargs="+", metavar="MODEL.h5")
    p.add_argument("--data", required=True, help="labelled faces (label,feature CSV) to calibrate on")
    p.add_argument("--faces", type=int, default=CALIBRATION_FACES, help="faces to calibrate on (default: %(default)s)")
    p.add_argument("--val-size", type=int, default=2871, help="the validation faces left out of the calibration "
                   "(the project's split; default: %(default)s)")
    args = p.parse_args(argv)
    for m in args.models:
        if not os.path.isfile(m) or not m.lower().endswith((".h5", ".hdf5")):
            raise UsageError(f"{m}: not an .h5 model file")
    try:
        import nncf  # noqa: F401
    except ImportError:
        raise UsageError("ferhw3 quantize needs nncf: pip install nncf") from None
    faces, source = calibration_faces(args.data, args.faces, val_size=args.val_size)
    for m in args.models:
        for path in write_int8(m, faces, source):
            print(f"wrote {path}")
    print(f"DONE quantize: {len(args.models)} model(s) in int8, calibrated on {len(faces):,} faces of {args.data}")


TOOLS = {"compact": compact, "pack": pack, "export": export, "quantize": quantize}
