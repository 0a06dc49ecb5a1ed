"""Per-iteration learning-rate schedules with the original's formulas (GluonCV LRScheduler).

N = total_iters - 1 and the update counter starts at 1 (MXNet counts the first update as 1), so
update i (0-based) uses T = min(i + 1, N):
poly (1 - T/N)^power, cosine (1 + cos(pi T/N)) / 2, linear 1 - T/N, constant 1;
lr = target + (base - target) * factor. step: lr = base * step_factor^(#milestones <= T).
"""
from __future__ import annotations

import math

from torch.optim.lr_scheduler import LambdaLR

__all__ = ["lr_factor", "build_scheduler"]


def lr_factor(mode: str, it: int, total_iters: int, base_lr: float, target_lr: float = 0.0,
              power: float = 0.9, step_factor: float = 0.5, milestones=()) -> float:
    """LR of update ``it`` (0-based) divided by ``base_lr``."""
    n = max(total_iters - 1, 1)
    t = min(max(it + 1, 0), n)
    if mode == "step":
        return step_factor ** sum(1 for m in milestones if m <= t)
    if mode == "constant":
        return 1.0
    if mode == "poly":
        f = (1 - t / n) ** power
    elif mode == "cosine":
        f = (1 + math.cos(math.pi * t / n)) / 2
    elif mode == "linear":
        f = 1 - t / n
    else:
        raise ValueError(f"unknown lr_scheduler {mode!r}")
    return (target_lr + (base_lr - target_lr) * f) / base_lr if base_lr else 0.0


def build_scheduler(optimizer, cfg, iters_per_epoch: int) -> LambdaLR:
    """A LambdaLR over ``cfg.epochs * iters_per_epoch`` updates; param groups keep their
    ``lr_mult`` because LambdaLR scales each group's own initial LR."""
    total = cfg.epochs * iters_per_epoch
    milestones = [e * iters_per_epoch for e in cfg.step.step_epoch]

    def factor(it):
        return lr_factor(cfg.lr_scheduler, it, total, cfg.lr, cfg.target_lr, cfg.poly.power,
                         cfg.step.step_factor, milestones)
    return LambdaLR(optimizer, factor)
