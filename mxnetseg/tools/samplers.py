"""Batch samplers whose order depends only on (seed, epoch), not on the process count."""
from __future__ import annotations

import torch

__all__ = ["TrainBatchSampler", "shard_indices"]


class TrainBatchSampler:
    """Shuffled global batches of ``global_batch`` samples (incomplete last batch dropped, as
    the original), each split over ``world`` processes: rank r takes positions r, r+world, ...
    of every global batch. ``set_epoch(epoch, start)`` reshuffles and skips the first ``start``
    batches, which is how a run resumes mid-epoch without loading the skipped samples."""

    def __init__(self, num_samples: int, global_batch: int, world: int = 1, rank: int = 0,
                 seed: int = 0):
        self.n, self.batch, self.world, self.rank, self.seed = (num_samples, global_batch, world,
                                                                rank, seed)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.n // self.batch

    def __iter__(self):
        gen = torch.Generator()
        gen.manual_seed(self.seed * 100003 + self.epoch)
        order = torch.randperm(self.n, generator=gen).tolist()
        for b in range(self.start, len(self)):
            chunk = order[b * self.batch:(b + 1) * self.batch]
            yield chunk[self.rank::self.world]


def shard_indices(num_samples: int, world: int, rank: int) -> list[int]:
    """Every sample exactly once over all ranks (no padding duplicates that would be counted
    twice by the all-reduced metric)."""
    return list(range(rank, num_samples, world))
