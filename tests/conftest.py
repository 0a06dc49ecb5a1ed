"""Shared fixtures: no wandb, a toy dataset generated once per session, a CLI runner."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["WANDB_MODE"] = "disabled"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory):
    """A data root holding the generated toy dataset (``<root>/toy``)."""
    from mxnetseg.data import ensure_toy_dataset
    root = tmp_path_factory.mktemp("data")
    ensure_toy_dataset(root / "toy")
    return root


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
