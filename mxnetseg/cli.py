"""Shared command-line plumbing: user errors become one clear line and exit code 2."""
from __future__ import annotations

import os
import sys

__all__ = ["fail", "run_cli", "UserError"]


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
    """The error's own message; for errors re-raised from a DataLoader worker, whose message
    embeds the worker's traceback, only its last line (``DataError: <file>: ...``)."""
    text = str(err).strip("'\"")
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


def run_cli(fn) -> int:
    """Run ``fn``; expected user errors print ``error: ...`` (no traceback) and return 2.
    Set MXNETSEG_DEBUG=1 to see the traceback instead."""
    try:
        fn()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001
        if isinstance(err, _user_errors()) and not os.environ.get("MXNETSEG_DEBUG"):
            print(f"error: {_message(err)}", file=sys.stderr)
            return 2
        raise
    return 0
