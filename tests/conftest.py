"""Shared fixtures: no wandb, a toy dataset generated once per session, a CLI runner, and the
guards for what a test needs from outside the repository (never a silent skip on CI)."""
import importlib
import os
import subprocess
import sys
from pathlib import Path

# Idle OpenMP threads sleep rather than spin (set before torch loads its OpenMP runtime; an
# explicit OMP_WAIT_POLICY wins): the tests run small tensors, and on a busy machine spinning
# threads made the same tests 10-40x slower (measured on 2 shared cores: a model-zoo training
# step 3.1 s on one thread, 41 s on two spinning, 2.8 s on two passive). Subprocesses
# (run_cli) inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# --optimize's default 'auto' compiles large inputs with Inductor (seconds per shape): the CLI
# tests run TorchScript graphs instead; tests of 'auto' and 'compile' name them explicitly.
os.environ.setdefault("MXNETSEG_OPTIMIZE_BACKEND", "jit")

import pytest  # noqa: E402

os.environ["WANDB_MODE"] = "disabled"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"          # real-data samples, beside the repository
ON_CI = os.environ.get("CI", "").lower() == "true"


def _missing(message):
    """A failure on CI (CI=true must run every test but the GPU ones), a skip elsewhere."""
    if ON_CI:
        pytest.fail(f"{message} (CI=true: provide it, tests may not skip on CI)")
    pytest.skip(message)


def need_shared(*paths):
    """``paths`` (under SHARED) must all exist; returns the first. Missing: see ``_missing``."""
    gone = [str(p) for p in paths if not Path(p).exists()]
    if gone:
        _missing(f"real-data sample(s) not found: {', '.join(gone)} (../shared beside the repo)")
    return paths[0]


def need_module(name):
    """``import name`` for a test-extra package; missing: see ``_missing``."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        _missing(f"{name} is not installed ({err}); pip install -e '.[test]'")


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory):
    """A data root holding the generated toy dataset (``<root>/toy``)."""
    from mxnetseg.data import ensure_toy_dataset
    root = tmp_path_factory.mktemp("data")
    ensure_toy_dataset(root / "toy")
    return root


def toy_subset(toy_root, dst_root, **keep):
    """``dst_root/toy``: the generated toy set cut to the first ``keep[split]`` samples of each
    split named (list, images, labels and the version marker; other splits left out), so a
    test copies a few files rather than all 250. Returns ``(dst_root, {split: [pair, ...]})``."""
    import shutil
    src, dst = Path(toy_root) / "toy", Path(dst_root) / "toy"
    dst.mkdir(parents=True)
    shutil.copy2(src / ".toy_version", dst / ".toy_version")
    kept = {}
    for split, n in keep.items():
        lines = (src / f"{split}.txt").read_text().splitlines()[:n]
        for rel in (r for line in lines for r in line.split()):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, dst / rel)
        (dst / f"{split}.txt").write_text("\n".join(lines) + "\n")
        kept[split] = [line.split() for line in lines]
    return Path(dst_root), kept


@pytest.fixture
def cli():
    """``cli(*args, cwd=...)`` runs ``python *args`` in a subprocess (see ``run_cli``)."""
    return run_cli


def run_cli(*args, cwd, env=None, timeout=600):
    """Run ``python -m mxnetseg ...`` in a subprocess; returns the CompletedProcess."""
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
