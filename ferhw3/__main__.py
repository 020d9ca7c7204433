"""`ferhw3 COMMAND ...` (and `python -m ferhw3 COMMAND ...`): every command of the project.

    ferhw3 predict test.csv out.csv            # what predict.py does
    ferhw3 train train.csv --recipe one-hour   # train_cnn.py
    ferhw3 train-dnn train.csv                 # train_dnn.py
    ferhw3 visualize all --data train.csv      # visualize.py
    ferhw3 serve --port 8000                   # the HTTP service and its page
    ferhw3 export | pack | compact ...         # the small tools

`ferhw3 COMMAND --help` tells each one's options. A command's module is imported only when
it runs, so `ferhw3 predict` never loads the training stack.
"""

import importlib
import sys

from . import __version__
from .cli import UsageError, main_guard

# command -> (module in ferhw3.cli, what it does)
COMMANDS = {
    "predict": ("predict", "label faces: a CSV, images, photos or videos (predict.py)"),
    "train": ("train", "train a CNN with a recipe (train_cnn.py; needs the train extra)"),
    "train-dnn": ("train_dnn", "train the dense baseline (train_dnn.py; needs the train extra)"),
    "visualize": ("visualize", "the report's figures (visualize.py; needs the train extra)"),
    "serve": ("serve", "an HTTP service and a page: photos in, faces and emotions out (the serve extra)"),
    "export": ("tools", "a model as OpenVINO IR"),
    "pack": ("tools", "faces as WebP mosaics in one .npz"),
    "compact": ("tools", "a .h5 model's weights as float16"),
    "quantize": ("tools", "int8 copies of .h5 models, calibrated on training faces (needs nncf)"),
}
# the modules commands need beyond the base install -> the extra that brings them
EXTRAS = {**dict.fromkeys(("keras", "tensorflow", "pandas", "sklearn", "matplotlib"), "train"),
          **dict.fromkeys(("fastapi", "starlette", "uvicorn", "multipart", "python_multipart", "websockets"), "serve")}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    return "usage: ferhw3 COMMAND [ARGS ...]  (ferhw3 COMMAND --help for its options)\n\ncommands:\n" + "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    if argv[0] in ("-V", "--version"):
        print(f"ferhw3 {__version__}")
        return
    if argv[0] not in COMMANDS:
        raise UsageError(f"{argv[0]}: not a command of ferhw3 (commands: {', '.join(COMMANDS)})")
    module, _ = COMMANDS[argv[0]]
    try:
        cli = importlib.import_module(f".cli.{module}", __package__)
        if module == "tools":
            return cli.TOOLS[argv[0]](argv[1:])
        return cli.main(argv[1:], prog=f"ferhw3 {argv[0]}")
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top in EXTRAS:
            raise UsageError(f"ferhw3 {argv[0]} needs {top}, which the base install leaves out: "
                             f"pip install 'ferhw3[{EXTRAS[top]}]'") from None
        raise


def run():
    """The console script's entry point."""
    main_guard(main)


if __name__ == "__main__":
    run()
