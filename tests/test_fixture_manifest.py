"""The fixtures made from the original carry their provenance: each folder's MANIFEST.json
(written by scripts/parity/original.py) lists the files that script wrote there with their sha256
and the run that wrote them (command, the original's commit, MXNet/GluonCV versions), and the
run's output is in GENERATION.log. A file edited, added or dropped by hand fails here:
tests/fixtures/mxnet holds only original.py's files, so every file there must be listed; in
tests/fixtures (shared with fixtures made otherwise) every ``original_*`` file must be."""
import hashlib
import json
import re
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# folder -> which of its files original.py must have written
FOLDERS = {FIXTURES / "mxnet": "*", FIXTURES: "original_*"}
OWN = {"MANIFEST.json", "GENERATION.log"}


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(folder):
    path = folder / "MANIFEST.json"
    assert path.is_file(), f"{path} missing: regenerate with scripts/parity/original.py"
    return json.loads(path.read_text())


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_manifest_lists_every_file_with_its_sha256(folder):
    files = _manifest(folder)["files"]
    present = {p.name for p in folder.glob(FOLDERS[folder]) if p.is_file()} - OWN
    assert sorted(present - set(files)) == [], "files the manifest does not list"
    assert sorted(set(files) - present) == [], "listed files that are gone"
    wrong = [n for n, e in files.items() if _sha256(folder / n) != e["sha256"]]
    assert wrong == [], "files changed since the recorded run"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_every_run_names_the_original_and_its_environment(folder):
    manifest = _manifest(folder)
    runs = manifest["runs"]
    assert sorted({e["run"] for e in manifest["files"].values()}) == list(range(len(runs)))
    log = folder / manifest["log"]["file"]
    assert _sha256(log) == manifest["log"]["sha256"], f"{log} changed since the last run"
    text = log.read_text()
    for run in runs:
        assert run["original"]["repo"] == "BebDong/MXNetSeg"
        assert re.fullmatch(r"[0-9a-f]{40}", run["original"]["commit"])
        assert run["packages"]["mxnet"] and run["packages"]["gluoncv"]
        assert re.search(r"scripts/parity/original\.py (refresh|counts|fixture|names|reader|cls) ",
                         run["command"])
        assert f"$ {run['command']}\n" in text, "the run's output is not in the log"
