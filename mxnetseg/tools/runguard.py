"""What keeps a training run honest and its work safe: the stop signals (SIGINT/SIGTERM save a
resumable checkpoint at the next iteration boundary) and the exceptions that end a run with a
message naming the step, the checkpoint to resume from and what to try."""
from __future__ import annotations

import signal
import threading

__all__ = ["TrainingStopped", "TrainingInterrupted", "TrainingDiverged", "StopSignals",
           "own_message"]


def own_message(err: BaseException) -> str:
    """The error's own message; for errors re-raised from a DataLoader worker, whose message
    embeds the worker's traceback, only its last line (``DataError: <file>: ...``)."""
    text = str(err).strip("'\"")
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


class TrainingStopped(Exception):
    """A run ended early on purpose; ``exit_code`` is what the command line returns and
    ``checkpoint`` the file to resume from (None when nothing could be saved)."""
    exit_code = 1

    def __init__(self, message: str, checkpoint=None, step: int = 0):
        super().__init__(message)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.step = step


class TrainingInterrupted(TrainingStopped):
    def __init__(self, signum: int, checkpoint, step: int):
        name = signal.Signals(signum).name
        super().__init__(f"{name} received: saved a resumable checkpoint at iteration {step}: "
                         f"{checkpoint}", checkpoint, step)
        self.exit_code = 128 + signum      # 130 for SIGINT, 143 for SIGTERM, as a shell reports


class TrainingDiverged(TrainingStopped):
    exit_code = 3


class StopSignals:
    """Within ``with StopSignals() as stop:`` a first SIGINT/SIGTERM only sets ``stop.signum``;
    the loop checks it between iterations, saves and raises ``TrainingInterrupted``. A second
    SIGINT gives the usual immediate KeyboardInterrupt. Outside the main thread (where handlers
    cannot be set) it does nothing."""

    def __init__(self):
        self.signum = 0
        self._old = {}

    def _handle(self, signum, _frame):
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        if signum == signal.SIGINT:   # the next Ctrl-C aborts at once
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False
