"""Where generated fixtures come from: the original's commit, the run and its log.

Every command of original.py that writes files records, in the folder of those files:

* ``GENERATION.log``: what the run printed, after a ``## <UTC time> <command>`` line (appended);
* ``MANIFEST.json``: the runs (exact command and working folder, UTC time, the original's
  repository and commit, python/MXNet/GluonCV/numpy versions, platform) and every generated
  file with its sha256 and the run that wrote it (a file rewritten later points to the later
  run; runs no file points to any more are dropped), plus the log's sha256.

tests/test_fixture_manifest.py checks the manifests against the files.
"""
import atexit
import contextlib
import hashlib
import io
import json
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

MANIFEST = "MANIFEST.json"
LOG = "GENERATION.log"
ORIGINAL_REPO = "BebDong/MXNetSeg"
PACKAGES = ("mxnet", "gluoncv", "numpy")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _git(repo, *args, **kw):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, **kw)


def resolve_original(root):
    """(folder holding the original ``mxnetseg`` package, its commit) for ``root``: a git
    repository of the original (its HEAD is exported to a temporary folder, so the commit is
    exactly the code that ran) or an exported tree with a ``COMMIT`` file beside ``mxnetseg/``."""
    root = Path(root)
    try:
        commit = _git(root, "rev-parse", "HEAD", text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        commit = None
    if commit:
        out = Path(tempfile.mkdtemp(prefix="mxorig-"))
        atexit.register(shutil.rmtree, out, True)
        archive = _git(root, "archive", commit, "--", "mxnetseg").stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
        return out, commit
    stamp = root / "COMMIT"
    if (root / "mxnetseg").is_dir() and stamp.is_file():
        return root, stamp.read_text().strip()
    sys.exit(f"{root}: neither a git repository of {ORIGINAL_REPO} nor an exported tree "
             f"(mxnetseg/ plus a COMMIT file). Pass the clone itself, or export with "
             f"`git -C CLONE archive HEAD -- mxnetseg | tar -x -C {root}` and "
             f"`git -C CLONE rev-parse HEAD > {root}/COMMIT`.")


def environment():
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return dict(python=platform.python_version(), packages=versions,
                platform=f"{platform.system()} {platform.machine()}")


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


class Run:
    """``with Run(commit) as run: ...; run.wrote(path, ...)``: on a clean exit, the log and the
    manifest of each folder written to are updated (nothing is recorded after an error)."""

    def __init__(self, commit):
        self.commit = commit
        self.paths = []
        self.log = io.StringIO()
        self.record = dict(command=shlex.join([sys.executable, *sys.argv]), cwd=str(Path.cwd()),
                           utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                           original=dict(repo=ORIGINAL_REPO, commit=commit), **environment())

    def wrote(self, *paths):
        self.paths += [Path(p) for p in paths]

    def __enter__(self):
        self._redirect = contextlib.redirect_stdout(_Tee(sys.stdout, self.log))
        self._redirect.__enter__()
        return self

    def __exit__(self, kind, *rest):
        self._redirect.__exit__(kind, *rest)
        if kind is None:
            for folder in sorted({p.resolve().parent for p in self.paths}):
                self._update(folder, [p for p in self.paths if p.resolve().parent == folder])
        return False

    def _update(self, folder, paths):
        log = folder / LOG
        with log.open("a") as f:
            f.write(f"## {self.record['utc']} {ORIGINAL_REPO}@{self.commit}\n"
                    f"$ {self.record['command']}\n{self.log.getvalue()}")
        path = folder / MANIFEST
        old = json.loads(path.read_text()) if path.exists() else {}
        runs, files = old.get("runs", []), old.get("files", {})
        for p in paths:
            files[p.name] = dict(sha256=sha256(p), run=len(runs))
        runs.append(self.record)
        files = {n: e for n, e in sorted(files.items()) if (folder / n).is_file()}
        used = sorted({e["run"] for e in files.values()})
        for e in files.values():
            e["run"] = used.index(e["run"])
        manifest = dict(
            about="Written by scripts/parity/original.py (scripts/parity/provenance.py); "
                  "checked by tests/test_fixture_manifest.py. Regenerate, do not edit.",
            runs=[runs[i] for i in used], files=files, log=dict(file=LOG, sha256=sha256(log)))
        path.write_text(json.dumps(manifest, indent=1) + "\n")
