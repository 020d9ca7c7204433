"""The shipped models: `models/manifest.json`, read by predict.py, hw3_test.sh and visualize.py.

Each entry names a file with its recipe and overrides, what it started from (init,
teachers), the faces it trained on, hardware, training time, validation accuracy and size.
Roles (predict.py's default, the hw3_test.sh ensemble, the DNN baseline, the model the
report analyses) point at entries; the files themselves keep their names.
"""

from __future__ import annotations

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, "models")
MANIFEST = os.path.join(MODELS_DIR, "manifest.json")


def load(path: str = MANIFEST) -> dict:
    with open(path) as f:
        return json.load(f)


def entries(manifest: dict | None = None) -> dict[str, dict]:
    """{file name: entry} of every shipped model."""
    return {e["file"]: e for e in (manifest or load())["models"]}


def role(name: str, manifest: dict | None = None) -> list[str]:
    """The absolute paths of the model(s) that play role `name`."""
    manifest = manifest or load()
    files = manifest["roles"][name]["models"]
    return [os.path.join(MODELS_DIR, f) for f in files]


def role_tta(name: str, manifest: dict | None = None) -> str | None:
    """The test-time augmentation a role is used with, if the manifest fixes one."""
    return (manifest or load())["roles"][name].get("tta")


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
