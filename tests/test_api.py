"""The public face of the package, as README documents it: the names `from ferhw3 import`
gives, the old import paths of 1.0.0 (they work, with a DeprecationWarning naming the new
one), the commands and the options README shows, and the manifest's format."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

import ferhw3  # noqa: E402

PUBLIC = ["Recogniser", "read_video", "load_faces", "load_predictors", "predict_proba"]


def readme() -> str:
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def test_the_public_names_are_those_readme_imports_and_each_resolves():
    assert ferhw3.__all__ == ["__version__", *PUBLIC]
    documented = {name.strip() for line in re.findall(r"^from ferhw3 import (.+)$", readme(), re.M)
                  for name in line.split("#")[0].split(",")}
    assert documented and documented <= set(PUBLIC), documented - set(PUBLIC)
    for name in PUBLIC:
        assert callable(getattr(ferhw3, name))
    assert callable(ferhw3.Recogniser.faces) and callable(ferhw3.Recogniser.stream)
    with pytest.raises(AttributeError):
        ferhw3.not_a_name  # noqa: B018
    assert re.fullmatch(r"\d+\.\d+\.\d+", ferhw3.__version__)
    with open(os.path.join(ROOT, "CHANGELOG.md")) as f:
        assert f"## {ferhw3.__version__}" in f.read()  # the version says what changed


def test_the_old_module_paths_work_with_a_warning_naming_the_new_one():
    """Every module of 1.0.0's flat layout (ferhw3.photos, ferhw3.predict, ...) and the old
    modules that became packages (ferhw3.data, ferhw3.train), in a fresh interpreter."""
    code = r"""
import importlib, sys, warnings
import ferhw3
bad = []
for old, new in ferhw3.MOVED.items():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        module = importlib.import_module("ferhw3." + old)
    said = [str(w.message) for w in seen if issubclass(w.category, DeprecationWarning)]
    if module is not importlib.import_module("ferhw3." + new) or not any("ferhw3." + new in s for s in said):
        bad.append((old, said))
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    from ferhw3.photos import Recogniser
    from ferhw3.data import load_faces
from ferhw3.infer.photos import Recogniser as R
from ferhw3.data.read import load_faces as L
assert Recogniser is R and load_faces is L
assert any("ferhw3.data.read.load_faces" in str(w.message) for w in seen)
print(bad)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_the_commands_and_options_readme_shows_exist():
    from ferhw3.__main__ import COMMANDS

    r = subprocess.run([sys.executable, "-m", "ferhw3", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and all(name in r.stdout for name in COMMANDS)
    text = readme()
    for script, command in (("predict.py", "predict"), ("ferhw3 serve", "serve")):
        shown = set(re.findall(rf"{re.escape(script)} [^\n`]*?(--[a-z][a-z-]+)", text))
        assert shown, script
        help_text = subprocess.run([sys.executable, "-m", "ferhw3", command, "--help"], capture_output=True,
                                   text=True, timeout=120).stdout
        assert all(option in help_text for option in shown), shown - {o for o in shown if o in help_text}


def test_the_manifest_format():
    from ferhw3.infer import manifest

    with open(os.path.join(ROOT, "models", "manifest.json")) as f:
        m = json.load(f)
    assert {"validation_split", "roles", "models"} <= set(m)
    assert {"default", "photos", "ensemble"} <= set(m["roles"])
    files = {entry["file"] for entry in m["models"]}
    for role in m["roles"]:
        paths = manifest.role(role)
        assert paths and all(os.path.exists(p) for p in paths)
        assert {os.path.basename(p) for p in paths} <= files
