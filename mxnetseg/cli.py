"""Shared command-line plumbing: user errors become one clear line and exit code 2."""
from __future__ import annotations

import os
import sys

__all__ = ["fail", "run_cli", "UserError", "split_ctx", "check_gpus", "add_model_source_args"]


class UserError(Exception):
    pass


def fail(message: str):
    raise UserError(message)


def _user_errors():
    """The project's own error types for the user's mistakes (a bad config, data, name or
    checkpoint); anything else is a bug and keeps its traceback."""
    from .config import ConfigError
    from .data import DataError
    from .models import ModelConfigError
    from .models.model_store import ModelStoreError
    from .registry import UnknownNameError
    from .tools.checkpoint import CheckpointError
    return (UserError, ConfigError, DataError, ModelConfigError, UnknownNameError,
            CheckpointError, ModelStoreError, FileNotFoundError)


def _message(err: BaseException) -> str:
    from .tools.runguard import own_message
    return own_message(err)


def add_model_source_args(p, model_help: str) -> None:
    """The flags that name a model for ``predict``, ``bench`` and ``export``: a checkpoint (ours,
    the original's or a GluonCV ``.params``), a zoo name, or a model name with its options."""
    import argparse
    p.add_argument("--checkpoint", help="ours (.pth), the original's MXNet .params (with "
                                        "--model/--backbone/--nclass), or a GluonCV zoo .params "
                                        "(with --model ZOO_NAME)")
    p.add_argument("--model", help=model_help)
    p.add_argument("--backbone", help="backbone of a model name or .params file (default: the "
                                      "checkpoint's / the model's)")
    p.add_argument("--nclass", type=int, help="classes of a .params file or a bare model")
    p.add_argument("--aux", action=argparse.BooleanOptionalAction, default=None,
                   help="with aux heads (as a .params file was saved)")
    p.add_argument("--dilate", action=argparse.BooleanOptionalAction, default=None,
                   help="output stride 8 (--dilate) or 32")


def split_ctx(values):
    """``--ctx`` values as typed -> (GPU ids, the ``key=value`` overrides that followed them):
    ``--ctx 0 1 epochs=1`` is GPUs 0, 1 and the override ``epochs=1``."""
    if values is None:
        return None, []
    ids, overrides = [], []
    for v in values:
        if "=" in v:
            overrides.append(v)
        elif v.lstrip("-").isdigit() and not overrides:
            ids.append(int(v))
        else:
            fail(f"--ctx {v!r}: GPU ids are whole numbers (e.g. --ctx 0 1 2 3); config "
                 f"overrides look like key=value")
    return ids, overrides


def check_gpus(ids) -> None:
    """Fail at once, in one line, when ``--ctx`` names GPUs this machine does not have."""
    if not ids:
        return
    import torch
    listed = " ".join(map(str, ids))
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        fail(f"--ctx {listed}: this machine has no CUDA GPU (none visible to PyTorch); leave "
             f"--ctx out to run on the CPU")
    missing = [i for i in ids if not 0 <= i < count]
    if missing:
        fail(f"--ctx {listed}: no GPU {', '.join(map(str, missing))} here; this machine has "
             f"GPUs {', '.join(map(str, range(count)))}")
    if len(set(ids)) != len(ids):
        fail(f"--ctx {listed}: a GPU is listed twice")


def run_cli(fn) -> int:
    """Run ``fn``; expected user errors print ``error: ...`` (no traceback) and return 2; a
    run stopped on purpose (interrupted, diverged) prints why and returns its exit code.
    Set MXNETSEG_DEBUG=1 to see the traceback instead."""
    from .tools.runguard import TrainingStopped
    try:
        fn()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except TrainingStopped as err:
        print(f"error: {err}" + (f"\n{err.hint}" if getattr(err, "hint", None) else ""),
              file=sys.stderr)
        return err.exit_code
    except Exception as err:  # noqa: BLE001
        if isinstance(err, _user_errors()) and not os.environ.get("MXNETSEG_DEBUG"):
            print(f"error: {_message(err)}", file=sys.stderr)
            return 2
        raise
    return 0
