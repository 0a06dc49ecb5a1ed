"""Run logging: console, a JSON-lines run log, wandb (offline without an API key, ``disabled``
by config ``wandb_mode`` or the WANDB_MODE environment variable) and, with config
``tensorboard: true``, TensorBoard event files under ``<ckpt_dir>/<model>/tb/<run>`` (the same
scalars as wandb plus a few val predictions per epoch).

The run log ``<ckpt_dir>/<model>/<run>.log`` is data: one strict-JSON object a line (no NaN
literals: a non-finite number is written as null), text messages as ``{"msg": ...}`` records,
metrics as ``{"step": N, ...}``, the final evaluation as ``{"eval": {...}}``.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

__all__ = ["RunLogger", "wandb_mode", "claim_run_name", "append_record", "read_run_log",
           "json_safe", "fmt_metric"]


def wandb_mode(cfg) -> str:
    if cfg.wandb_mode:
        return cfg.wandb_mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


def json_safe(value):
    """``value`` with every non-finite float replaced by None and arrays/tensors as lists, so
    ``json.dumps(..., allow_nan=False)`` succeeds."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def fmt_metric(value, digits: int = 4) -> str:
    """A metric for a printed summary: ``n/a`` where nothing was measured (None, NaN, or the
    trainer's "no validation yet" best of -1)."""
    if value is None or (isinstance(value, float) and (not math.isfinite(value) or value < 0)):
        return "n/a"
    return f"{value:.{digits}f}"


def append_record(path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(json_safe(record), allow_nan=False) + "\n")


def read_run_log(path) -> list[dict]:
    """Every record of a run log (each line is one JSON object)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def claim_run_name(folder, stem: str) -> str:
    """Create ``<folder>/<stem>.log`` exclusively and return ``stem``; when that run name is
    taken (a log or checkpoint of another run, e.g. started in the same second), try
    ``<stem>_1``, ``<stem>_2``, ... so no two runs ever share files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(10000):
        name = stem if i == 0 else f"{stem}_{i}"
        if any((folder / f"{name}{ext}").exists() for ext in (".pth", "_best.pth")):
            continue
        try:
            with open(folder / f"{name}.log", "x", encoding="utf-8"):
                return name
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free run name for {stem!r}")


class RunLogger:
    """Only rank 0 logs. Metrics go to wandb (what the original logs) and to the run log."""

    def __init__(self, cfg, dinfo, name: str, folder, extra: dict | None = None):
        self.active = dinfo.main
        self.run = self.tb = None
        if not self.active:
            return
        self.path = Path(folder) / f"{name}.log"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a", encoding="utf-8")
        self._write({"msg": f"run {name}", "config": cfg.to_dict(), **(extra or {})})
        mode = wandb_mode(cfg)
        if mode != "disabled":
            try:
                import wandb
                self.run = wandb.init(project=cfg.wandb_project, job_type="train", name=name,
                                      config={**cfg.to_dict(), **(extra or {})}, mode=mode)
                self.run.define_metric("custom_step")
                for key in ("train_loss_epoch", "val_PA", "val_mIoU", "val_loss"):
                    self.run.define_metric(key, step_metric="custom_step")
            except Exception as err:  # noqa: BLE001 - logging must never kill training
                self.info(f"wandb unavailable ({type(err).__name__}: {err}); logging to file only")
                self.run = None
        self.tb = _tensorboard_writer(Path(folder) / "tb" / name, self.info) if cfg.tensorboard else None

    def _write(self, record: dict) -> None:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}
        self.file.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
        self.file.flush()

    def info(self, message: str) -> None:
        if not self.active:
            return
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
        self._write({"msg": message})

    def log(self, metrics: dict, step: int) -> None:
        if not self.active:
            return
        self._write({"step": step, **metrics})
        if self.run is not None:
            self.run.log(metrics)
        if self.tb is not None:
            for key, value in metrics.items():
                if key != "custom_step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self.tb.add_scalar(key, value, step)

    def predictions(self, samples, palette, step: int) -> None:
        """TensorBoard only: each (normalised image, label, prediction) sample as one picture,
        image | label | prediction in the dataset's colours."""
        if not self.active or self.tb is None or not samples:
            return
        import numpy as np
        from .plots import color_mask, denormalize
        for i, (image, label, pred) in enumerate(samples):
            row = np.concatenate([denormalize(image), color_mask(label.cpu().numpy(), palette),
                                  color_mask(pred.cpu().numpy(), palette)], axis=1)
            self.tb.add_image(f"val_predictions/{i}", row, step, dataformats="HWC")
        self.tb.flush()

    def summary(self, **values) -> None:
        if self.active and self.run is not None:
            self.run.summary.update(values)

    def finish(self) -> None:
        if not self.active or self.file.closed:
            return
        self.file.close()
        if self.tb is not None:
            self.tb.close()
        if self.run is not None:
            self.run.finish()


def _tensorboard_writer(logdir: Path, info):
    """A SummaryWriter, or None with one message when the tensorboard package is missing:
    training goes on with wandb and the run log."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        info("tensorboard: true, but the tensorboard package is not installed (pip install "
             "'mxnetseg[tensorboard]'); training continues without TensorBoard")
        return None
    info(f"TensorBoard logs: {logdir} (tensorboard --logdir {logdir.parent})")
    return SummaryWriter(log_dir=str(logdir))
