"""Run logging: console + a text log file, and wandb (offline without an API key, ``disabled``
by config ``wandb_mode`` or the WANDB_MODE environment variable)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

__all__ = ["RunLogger", "wandb_mode"]


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


class RunLogger:
    """Only rank 0 logs. Metrics go to wandb (what the original logs) and to
    ``<ckpt_dir>/<model>/<run>.log`` as JSON lines, so a run is inspectable without wandb."""

    def __init__(self, cfg, dinfo, name: str, folder, extra: dict | None = None):
        self.active = dinfo.main
        self.run = None
        if not self.active:
            return
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.file = open(folder / f"{name}.log", "a", encoding="utf-8")
        self.info(f"run {name}: " + json.dumps({**cfg.to_dict(), **(extra or {})}, default=str))
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

    def info(self, message: str) -> None:
        if not self.active:
            return
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, file=sys.stderr, flush=True)
        self.file.write(line + "\n")
        self.file.flush()

    def log(self, metrics: dict, step: int) -> None:
        if not self.active:
            return
        self.file.write(json.dumps({"step": step, **metrics}) + "\n")
        self.file.flush()
        if self.run is not None:
            self.run.log(metrics)

    def summary(self, **values) -> None:
        if self.active and self.run is not None:
            self.run.summary.update(values)

    def finish(self) -> None:
        if not self.active:
            return
        self.file.close()
        if self.run is not None:
            self.run.finish()
