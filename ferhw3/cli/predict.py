"""Predict FER2013 expressions: test CSV (id,feature) -> submission CSV (id,label).

    ferhw3 predict test.csv out.csv                      # the shipped default model, flip TTA
    ferhw3 predict test.csv out.csv --role ensemble      # what hw3_test.sh runs
    ferhw3 predict test.csv out.csv --model a.h5 --model b.h5 --tta none
    ferhw3 predict photos/ out.csv                       # face crops -> file,label,probabilities
    ferhw3 predict group.jpg out.csv --detect --annotate seen/   # find the faces in photos first
    ferhw3 predict clip.mp4 out.csv --detect --every 5 --annotate seen/   # faces tracked through a video
    ferhw3 predict 0 out.csv --detect --every 1           # the first camera (or a stream URL), until Ctrl-C

With several --model the class probabilities are averaged. Given a labelled file
(`label,feature`, Kaggle's fer2013.csv, or class folders) the accuracy is printed too;
rows are then numbered from 0. Kaggle's fer2013.csv is predicted on its PublicTest +
PrivateTest rows. Images of any size and colour become 48x48 grey faces: converted to
grey, centre-cropped to a square, resized. With --detect the input is photos (a file or
a folder) or videos: every face is found (BlazeFace; --detector for the others), framed as
FER2013 frames its faces and read; one row per face: file,frame,face,track,x,y,w,h,label,
emotion and the seven probabilities by name (a photo without a face gets one row with an
empty box). In a video each face keeps a track from frame to frame, its probabilities are
smoothed along the track (--smooth), and OUT.tracks.csv sums up each track: first and last
frame, frames seen, the emotion most often shown, the mean probabilities; --annotate writes
an annotated copy of the video (.faces.mp4). Video faces are followed from frame to frame at
frame rate (the photo search cut into parts, one read now and then, and a look around each
face found: ferhw3.detect.follow); --thorough searches every read frame as a photo instead.
A camera index (0, 1, ...) or a stream URL is read until it ends or Ctrl-C (or SIGTERM)
stops it: the rows are written as the frames come, and the CSV is complete up to the last
frame read. In a folder given to --detect, a photo or video that cannot be read is named on
stderr and skipped, the others written, and the exit code is 3; hidden files (.DS_Store,
macOS's ._name companions) are passed over quietly. A video that ends before the frames its
container lists is said to be cut short, its frames kept. (A folder of face images read
without --detect, as test data, stays strict: one unreadable image is the command's error.)
"""

import argparse
import os
import signal
import sys
import threading
import time

from ferhw3 import cli
from ferhw3.errors import DataError

SKIPPED = 3  # the exit code of a --detect run over a folder that skipped unreadable files (the rest written)


def parse_args(argv=None, prog=None):
    from ferhw3.detect import DEFAULT, DETECTORS
    from ferhw3.infer.predict import SETTLED_AT, TTA_MODES
    from ferhw3.infer.video import SMOOTH

    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("test_csv", help="faces to label: id,feature (or label,feature) CSV, plain or .gz; "
                   "Kaggle's fer2013.csv; an image file or a folder of images")
    p.add_argument("out_csv", help="submission to write: id,label")
    p.add_argument("--model", action="append", help="saved model (.h5/.keras); repeat to ensemble")
    p.add_argument("--role",
                   help="without --model: the shipped model(s) of this role in models/manifest.json "
                        "(default, photos, ensemble, dnn; default: default, with --detect photos)")
    p.add_argument("--tta", choices=TTA_MODES,
                   help="test-time augmentation (default: the role's, or flip: the face and its mirror)")
    p.add_argument("--exact", action="store_true",
                   help="labels only: read every view that could still change a face's label (the labels of the "
                        f"full mean; slower). By default a face whose leader is ahead by {SETTLED_AT:g} per view to "
                        f"come is settled")
    photos = p.add_argument_group("photos and videos")
    photos.add_argument("--detect", action="store_true",
                        help="find the faces in photos or video frames first, one row per face")
    photos.add_argument("--annotate", metavar="DIR",
                        help="with --detect: write a copy of each picture with the faces' boxes and labels to DIR")
    photos.add_argument("--every", type=int, default=10, metavar="N",
                        help="with --detect: read every Nth frame of a video (default: 10)")
    photos.add_argument("--margin", type=float,
                        help="with --detect: widen each face box by this share of its side on every side "
                             "(default: the measured one)")
    photos.add_argument("--align", action="store_true", help="with --detect: turn each face so its eyes are level")
    photos.add_argument("--detector", choices=sorted(DETECTORS), default=DEFAULT,
                        help=f"with --detect: the face detector (default: {DEFAULT}); "
                             + "; ".join(f"{k}: {v}" for k, v in DETECTORS.items()))
    photos.add_argument("--min-face", type=int, metavar="PX",
                        help="with --detect: the smallest face looked for, in pixels (default: the detector's, 30 for "
                             "blazeface; larger is faster on big pictures)")
    photos.add_argument("--thorough", action="store_true",
                        help="with --detect, in videos: search every read frame as a photo is searched (slow; "
                             "default: faces followed from frame to frame)")
    photos.add_argument("--smooth", type=float, default=SMOOTH, metavar="S",
                        help=f"with --detect, in videos: the weight of the past in each track's moving average of "
                             f"probabilities, 0 to below 1 (0: none; default: {SMOOTH})")
    args = p.parse_args(argv)
    if not args.detect and (args.annotate or args.align or args.thorough or args.margin is not None):
        p.error("--annotate, --margin, --align and --thorough go with --detect")
    if not 0 <= args.smooth < 1:
        p.error(f"--smooth must be at least 0 and below 1, got {args.smooth}")
    if args.min_face is not None and args.min_face < 8:
        p.error(f"--min-face must be 8 pixels or more, got {args.min_face}")
    if args.every < 1:
        p.error(f"--every must be 1 or more, got {args.every}")
    if args.margin is not None and not 0 <= args.margin <= 1:
        p.error(f"--margin must be between 0 and 1, got {args.margin}")
    return args


def annotated_path(folder: str, name: str, video: bool = False) -> str:
    """Where --annotate writes a picture: FOLDER/NAME.faces.jpg, or FOLDER/NAME.faces.mp4 for
    a video; NAME is the file's path below the folder that was read (its subfolders repeated
    in FOLDER, so two photos of one name in two subfolders keep two copies)."""
    stem = os.path.splitext(name)[0]
    return os.path.join(folder, f"{stem}.faces.{'mp4' if video else 'jpg'}")


def annotated_paths(folder: str, files: list[str], below, videos) -> dict:
    """Each input's annotated copy (`annotated_path`); inputs whose copies would share a name
    (face.jpg and face.png) keep their own suffix in it (face.jpg.faces.jpg, face.png.faces.jpg)."""
    plain = {f: annotated_path(folder, below(f), f in videos) for f in files}
    taken = {}
    for f, out in plain.items():
        taken.setdefault(os.path.normcase(out), []).append(f)
    kind = lambda f: "mp4" if f in videos else "jpg"  # noqa: E731
    return {f: os.path.join(folder, f"{below(f)}.faces.{kind(f)}") if len(taken[os.path.normcase(out)]) > 1 else out
            for f, out in plain.items()}


def tracks_path(out_csv: str) -> str:
    """Where the summary of the videos' tracks goes: OUT.tracks.csv beside OUT.csv."""
    stem = out_csv[:-4] if out_csv.lower().endswith(".csv") else out_csv
    return stem + ".tracks.csv"


def detect_main(args, model_paths, tta, start):
    """--detect: photos and video frames -> one row per face, annotated copies, and the
    summary of the videos' tracks."""
    from ferhw3 import detect
    from ferhw3.infer import photos
    from ferhw3.infer.outputs import face_rows, write_faces, write_tracks
    from ferhw3.infer.video import Stream, is_live, video_faces
    from ferhw3.runfiles import replace_atomically

    live = is_live(args.test_csv)
    files = [args.test_csv] if live else photos.media_files(args.test_csv)
    videos = [f for f in files if live or photos.is_video(f)]
    cli.check_output_path(args.out_csv, inputs=files)
    if videos:
        cli.check_output_path(tracks_path(args.out_csv), inputs=files)
    inputs = {os.path.abspath(f) for f in files}
    folder = os.path.isdir(args.test_csv)

    def below(path):  # the file's name below the folder read (a single file: its own name)
        if live:  # camera 0 -> camera-0; a stream URL -> its last part
            return f"camera-{path}" if path.isdigit() else os.path.basename(path.split("?")[0].rstrip("/")) or "stream"
        return os.path.relpath(path, args.test_csv) if folder else os.path.basename(path)

    copies = {}  # input -> its annotated copy
    if args.annotate:
        if os.path.exists(args.annotate) and not os.path.isdir(args.annotate):
            raise cli.UsageError(f"{args.annotate}: --annotate names a file; give it a folder")
        copies = annotated_paths(args.annotate, files, below, videos)
        for out in copies.values():  # refused before any work, not half-way through
            if os.path.abspath(out) in inputs:
                raise cli.UsageError(f"{out}: is also an input; writing it would destroy it, choose another --annotate")
        os.makedirs(args.annotate, exist_ok=True)
    finder = detect.create(args.detector, **({} if args.min_face is None else {"min_face": args.min_face}))
    reader = photos.Recogniser(model_paths, tta=tta, align=args.align, detector=finder,
                               **({} if args.margin is None else {"margin": args.margin}))
    root = args.test_csv if os.path.isdir(args.test_csv) else "" if live else os.path.dirname(args.test_csv)
    counts = {"pictures": 0, "faces": 0, "empty": 0, "annotated": 0, "skipped": 0}
    tracks = []  # (file, summary row) of each video's tracks

    def counted(name, frame, faces):
        counts["pictures"] += 1
        counts["faces"] += len(faces)
        if not faces:
            counts["empty"] += 1
            print(f"{name}{'' if frame is None else f' frame {frame}'}: no face found", file=sys.stderr)

    def annotated_out(path):
        out = copies[path]
        os.makedirs(os.path.dirname(out), exist_ok=True)
        counts["annotated"] += 1
        return out

    def video_rows(path, name):
        stream, read, info = Stream(reader, args.smooth, args.thorough), 0, {}
        for frame, faces in video_faces(stream, path, args.every, annotated_out(path) if args.annotate else None,
                                        stop=stop, info=info):
            counted(name, frame, faces)
            read += 1
            yield from face_rows(name, frame, faces)
        summary = stream.tracker.summary()
        tracks.extend((name, r) for r in summary)
        print(f"{name}: {read} frames read ({stream.mode}), {len(summary)} tracks"
              + (" (stopped)" if stop.is_set() else ""), file=sys.stderr)
        if info.get("decoded", 0) < info.get("listed", 0) - 1:  # containers may list a frame they lack
            print(f"{name}: the video ended after {info['decoded']} of the {info['listed']} frames its container "
                  f"lists (cut short?); the frames read are kept", file=sys.stderr)

    def photo_rows(path, name):
        rgb = photos.photo(path)
        faces = reader.faces(rgb)
        counted(name, None, faces)
        if args.annotate:
            picture = photos.annotate(rgb, faces)
            replace_atomically(annotated_out(path), lambda tmp: picture.save(tmp, format="JPEG", quality=92))
        return face_rows(name, None, faces)

    def all_rows():
        for path in files:
            name = os.path.relpath(path, root) if root else path
            try:
                yield from video_rows(path, name) if path in videos else photo_rows(path, name)
            except DataError as e:
                if not folder:  # the one file named: its error is the command's
                    raise
                counts["skipped"] += 1
                print(f"{name}: skipped: {str(e).replace(path + ': ', '')}", file=sys.stderr)
        if folder and counts["skipped"] == len(files):
            raise DataError(f"{args.test_csv}: none of its {len(files)} photos and videos could be read")

    stop = threading.Event()
    if live:  # Ctrl-C or SIGTERM ends a camera's reading as its end would; a second one aborts
        def stopping(signum, frame):
            stop.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            print(f"{args.test_csv}: stopping after this frame ({signal.Signals(signum).name})", file=sys.stderr)
        signal.signal(signal.SIGINT, stopping)
        signal.signal(signal.SIGTERM, stopping)
    write_faces(args.out_csv, all_rows(), flush=live)
    if videos:
        write_tracks(tracks_path(args.out_csv), tracks)
    note = f", {counts['annotated']} annotated copies in {args.annotate}" if args.annotate else ""
    note += f", {len(tracks)} tracks in {tracks_path(args.out_csv)}" if videos else ""
    skipped = f", {counts['skipped']} of {len(files)} files skipped (unreadable)" if counts["skipped"] else ""
    print(f"DONE {args.out_csv}: {counts['faces']} faces in {counts['pictures']} pictures "
          f"({counts['empty']} without a face){skipped}, {reader.detector.name} detector, {len(reader.models)} model(s) "
          f"on {reader.engine}, tta={tta}{note}, {time.time() - start:.1f} s")
    if counts["skipped"]:
        sys.exit(SKIPPED)


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    start = time.time()
    import numpy as np

    from ferhw3.data.read import load_faces
    from ferhw3.infer import manifest
    from ferhw3.infer.outputs import write_image_labels, write_submission

    if args.model:
        model_paths, tta = args.model, args.tta or "flip"
    else:
        role = args.role or ("photos" if args.detect else "default")
        model_paths, tta = manifest.role(role), args.tta or manifest.role_tta(role) or "flip"
    cli.check_output_path(args.out_csv, inputs=[args.test_csv, *model_paths])
    for m in model_paths:  # fail before the slow TensorFlow start-up
        if not os.path.exists(m):
            raise cli.UsageError(f"{m}: model file not found")
    if args.detect:
        return detect_main(args, model_paths, tta, start)
    faces = load_faces(args.test_csv)
    from ferhw3.infer.predict import load_predictors, predict_labels, predict_proba

    models = load_predictors(model_paths, tta)

    ids = faces.ids if faces.ids is not None else np.arange(len(faces))
    extra = ""
    if faces.names is not None:  # image files: name each one and give all 7 probabilities
        probs = predict_proba(models, faces.x, tta=tta)
        labels = probs.argmax(axis=1)
        write_image_labels(args.out_csv, faces.names, labels, probs)
    else:  # labels only: the views that would not change a face's label are left out
        labels, share = predict_labels(models, faces.x, tta=tta, **({"settled_at": 1.0} if args.exact else {}))
        write_submission(args.out_csv, ids, labels)
        extra = f", {share:.0%} of the views read" if share < 1 else ""
    if faces.labels is not None:
        extra = f" accuracy={np.mean(labels == faces.labels):.4f}" + extra
    print(f"DONE {args.out_csv}: {len(ids)} faces, {len(models)} model(s) on {models[0].engine}, tta={tta}{extra}, "
          f"{time.time() - start:.1f} s")

