"""The shipped models: `models/manifest.json`, read by predict.py, hw3_test.sh and visualize.py.

Where the models are (`MODELS_DIR`), first match:
1. the folder named by the environment variable FERHW3_MODELS;
2. `ferhw3/models/` inside the package: an installed wheel carries them there (package data);
3. `models/` beside the package: a clone of the repository, or its editable install.

Each entry names a file with its recipe and overrides, what it started from (init,
teachers), the faces it trained on, hardware, training time, validation accuracy and size.
Roles (predict.py's default, the hw3_test.sh ensemble, the DNN baseline, the model the
report analyses) point at entries; the files themselves keep their names.
"""

from __future__ import annotations

import json
import os

MODELS_ENV = "FERHW3_MODELS"
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # ferhw3/
ROOT = os.path.dirname(PACKAGE)  # the repository, in a clone


def find_models_dir() -> str:
    """The models folder by the rule above."""
    if os.environ.get(MODELS_ENV):
        return os.path.abspath(os.environ[MODELS_ENV])
    inside = os.path.join(PACKAGE, "models")
    if os.path.isfile(os.path.join(inside, "manifest.json")):
        return inside
    return os.path.join(ROOT, "models")


MODELS_DIR = find_models_dir()
MANIFEST = os.path.join(MODELS_DIR, "manifest.json")


def load(path: str = MANIFEST) -> dict:
    from ..errors import UsageError

    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        where = f" ({MODELS_ENV}={os.environ[MODELS_ENV]})" if os.environ.get(MODELS_ENV) else ""
        raise UsageError(f"{path}: no shipped models here{where}; set {MODELS_ENV} to a folder with "
                         f"manifest.json, or name a model with --model") from None


def shipped(path: str) -> str:
    """A model named as a recipe names it (`models/NAME.h5`), found in MODELS_DIR when it is
    not there as written (another working folder, an installed package)."""
    if not os.path.exists(path) and path.replace(os.sep, "/").startswith("models/"):
        inside = os.path.join(MODELS_DIR, path.replace(os.sep, "/")[len("models/"):])
        if os.path.exists(inside):
            return inside
    return path


def entries(manifest: dict | None = None) -> dict[str, dict]:
    """{file name: entry} of every shipped model."""
    return {e["file"]: e for e in (manifest or load())["models"]}


def _role(name: str, manifest: dict | None) -> dict:
    from ..errors import UsageError

    roles = (manifest or load())["roles"]
    if name not in roles:
        raise UsageError(f"role {name!r}: not a role of {MANIFEST} (roles: {', '.join(roles)})")
    return roles[name]


def role(name: str, manifest: dict | None = None) -> list[str]:
    """The absolute paths of the model(s) that play role `name` (a UsageError if none does)."""
    return [os.path.join(MODELS_DIR, f) for f in _role(name, manifest)["models"]]


def role_tta(name: str, manifest: dict | None = None) -> str | None:
    """The test-time augmentation a role is used with, if the manifest fixes one."""
    return _role(name, manifest).get("tta")


def entry_for(path: str, manifest: dict | None = None) -> dict | None:
    """The manifest entry of a model path, if it is a shipped file."""
    try:
        if os.path.dirname(os.path.abspath(path)) != MODELS_DIR:
            return None
        return entries(manifest).get(os.path.basename(path))
    except (OSError, ValueError, KeyError):
        return None


def saw_validation_faces(path: str) -> bool:
    """True if the manifest says this shipped model trained on the validation split's faces."""
    e = entry_for(path)
    return bool(e and e.get("trained_on_validation_faces"))
