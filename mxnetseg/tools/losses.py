"""Segmentation losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ConfigError

__all__ = ["MixSoftmaxCrossEntropy"]


class MixSoftmaxCrossEntropy:
    """Softmax cross-entropy on the main output plus ``aux_weight`` x the same on each auxiliary
    output, ignoring ``ignore_index`` pixels.

    ``norm="valid_mean"`` (default): the sum of per-pixel losses divided by the number of
    non-ignored pixels of the *global* batch (pass ``n_valid`` summed over processes and
    ``world_size``), so one process and N processes with the same global batch take the same
    step. ``norm="original"``: the gradient scale of the original MXNet trainer (valid-pixel mean
    per device batch divided by that batch's size), so the original configs' learning rates
    carry over. Unlike GluonCV's loss, ``aux_weight`` really weights the aux gradients
    (docs/differences.md); it may be one float for every aux output or one per output.
    """

    def __init__(self, aux_weight=None, ignore_index: int = -1, norm: str = "valid_mean"):
        if norm not in ("valid_mean", "original"):
            raise ValueError(f"loss norm must be 'valid_mean' or 'original', got {norm!r}")
        # null = 1.0: what the original's gradients effectively used for its aux output
        self.aux_weight = 1.0 if aux_weight is None else aux_weight
        self.ignore_index = ignore_index
        self.norm = norm

    def _weights(self, n_aux):
        w = self.aux_weight
        if isinstance(w, (list, tuple)):
            if len(w) != n_aux:
                raise ConfigError(f"aux_weight has {len(w)} values for {n_aux} aux outputs")
            return list(w)
        return [float(w)] * n_aux

    def __call__(self, outputs, target, n_valid=None, world_size: int = 1):
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        weights = [1.0] + self._weights(len(outputs) - 1)
        total = 0.0
        for w, logits in zip(weights, outputs):
            ce = F.cross_entropy(logits.float(), target, ignore_index=self.ignore_index,
                                 reduction="sum")
            total = total + w * ce
        if self.norm == "original":
            valid = (target != self.ignore_index).sum().clamp_min(1)
            return total / valid / target.shape[0]
        if n_valid is None:
            n_valid = (target != self.ignore_index).sum()
        return total * world_size / n_valid.clamp_min(1)
