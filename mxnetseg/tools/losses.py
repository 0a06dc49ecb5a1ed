"""Segmentation losses: the default mixed softmax cross-entropy and the original's other losses
(focal, class-weighted, bootstrapped, Dice, label smoothing, weighted mixtures).

Every loss applies to the main output plus ``aux_weight`` x the same loss on each auxiliary
output, skips ``ignore_index`` pixels and follows ``loss_norm``:

* per-pixel losses (CE, focal, weighted CE, smoothed CE) are summed over valid pixels and
  normalised like the default: by the global valid-pixel count (``valid_mean``) or, for
  ``original``, by the per-process valid count and batch size (the MXNet gradient scale);
* losses that are not a sum over pixels (Dice, bootstrapped CE) are already means; ``valid_mean``
  keeps them (DDP's gradient average then averages the processes), ``original`` divides them by
  the per-process batch size, as the MXNet trainer's ``step(batch_size)`` did.

The config's ``criterion`` key picks one (``config.criterion_terms``); ``build_criterion`` turns
it into a callable ``criterion(outputs, target, n_valid=None, world_size=1)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ConfigError, criterion_terms

__all__ = ["SegLoss", "MixSoftmaxCrossEntropy", "FocalLoss", "WeightedCELoss",
           "BootstrappedCELoss", "DiceLoss", "SmoothCELoss", "MixedSmoothCELoss", "MixedLoss",
           "LOSS_CLASSES", "build_criterion"]


class SegLoss:
    """One loss over the main and auxiliary outputs. A subclass defines ``pixel_loss`` (a
    per-pixel map, zero on ignored pixels) or, with ``pixelwise = False``, ``mean_loss``."""

    pixelwise = True
    params: tuple = ()        # constructor options shown by describe()

    def __init__(self, aux_weight=None, ignore_index: int = -1, norm: str = "valid_mean"):
        if norm not in ("valid_mean", "original"):
            raise ValueError(f"loss norm must be 'valid_mean' or 'original', got {norm!r}")
        # null = 1.0: what the original's gradients effectively used for its aux output
        self.aux_weight = 1.0 if aux_weight is None else aux_weight
        self.ignore_index = ignore_index
        self.norm = norm

    def describe(self) -> str:
        shown = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.params)
        return f"{type(self).__name__}({shown})" if shown else type(self).__name__

    def _weights(self, n_aux):
        w = self.aux_weight
        if isinstance(w, (list, tuple)):
            if len(w) != n_aux:
                raise ConfigError(f"aux_weight has {len(w)} values for {n_aux} aux outputs")
            return list(w)
        return [float(w)] * n_aux

    def single(self, logits, target, n_valid=None, world_size: int = 1):
        """This loss on one output, normalised as ``norm`` says."""
        if not self.pixelwise:
            value = self.mean_loss(logits, target)
            return value / target.shape[0] if self.norm == "original" else value
        total = self.pixel_loss(logits, target).sum()
        if self.norm == "original":
            valid = (target != self.ignore_index).sum().clamp_min(1)
            return total / valid / target.shape[0]
        if n_valid is None:
            n_valid = (target != self.ignore_index).sum()
        return total * world_size / n_valid.clamp_min(1)

    def __call__(self, outputs, target, n_valid=None, world_size: int = 1):
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        weights = [1.0] + self._weights(len(outputs) - 1)
        total = 0.0
        for w, logits in zip(weights, outputs):
            total = total + w * self.single(logits.float(), target, n_valid, world_size)
        return total

    # ---- shared pieces
    def _valid(self, target):
        valid = target != self.ignore_index
        return valid, torch.where(valid, target, torch.zeros_like(target))


class MixSoftmaxCrossEntropy(SegLoss):
    """Softmax cross-entropy (the default). Unlike GluonCV's loss, ``aux_weight`` really weights
    the aux gradients (docs/differences.md); it may be one float or one per aux output."""

    def pixel_loss(self, logits, target):
        return F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="none")


class WeightedCELoss(SegLoss):
    """-w[y] log p_y; like the original, normalised by the pixel count, not by the sum of w."""

    params = ("class_weight",)

    def __init__(self, class_weight, **kw):
        super().__init__(**kw)
        self.class_weight = [float(w) for w in class_weight]

    def pixel_loss(self, logits, target):
        weight = torch.tensor(self.class_weight, dtype=logits.dtype, device=logits.device)
        return F.cross_entropy(logits, target, weight=weight, ignore_index=self.ignore_index,
                               reduction="none")


class FocalLoss(SegLoss):
    """-(1 - p_y)^gamma log p_y (Lin et al. 2017; no alpha, as the original)."""

    params = ("gamma",)

    def __init__(self, gamma: float = 2.0, **kw):
        super().__init__(**kw)
        self.gamma = float(gamma)

    def pixel_loss(self, logits, target):
        valid, safe = self._valid(target)
        log_pt = F.log_softmax(logits, 1).gather(1, safe.unsqueeze(1)).squeeze(1)
        loss = -((1 - log_pt.exp()).pow(self.gamma) * log_pt)
        return torch.where(valid, loss, torch.zeros_like(loss))


class SmoothCELoss(SegLoss):
    """Label-smoothing CE with MXNet ``SoftmaxOutput``'s target: 1 - alpha on the true class,
    alpha / (K - 1) on each other class. Its gradient is the original's; its value is the
    smoothed CE itself (the original reported -log p_y)."""

    params = ("smooth_alpha",)

    def __init__(self, smooth_alpha: float = 0.0, **kw):
        super().__init__(**kw)
        self.smooth_alpha = float(smooth_alpha)

    def pixel_loss(self, logits, target):
        valid, safe = self._valid(target)
        log_p = F.log_softmax(logits, 1)
        nll = -log_p.gather(1, safe.unsqueeze(1)).squeeze(1)
        k = logits.shape[1]
        if k > 1 and self.smooth_alpha:
            others = -log_p.sum(1) - nll
            nll = (1 - self.smooth_alpha) * nll + self.smooth_alpha / (k - 1) * others
        return torch.where(valid, nll, torch.zeros_like(nll))


class MixedSmoothCELoss(SmoothCELoss):
    """The original's aux variant of ``SmoothCELoss``: here every loss weights aux outputs by
    ``aux_weight``, so it differs only in its default ``smooth_alpha`` (0.05, as the original)."""

    def __init__(self, smooth_alpha: float = 0.05, **kw):
        super().__init__(smooth_alpha, **kw)


class BootstrappedCELoss(SegLoss):
    """Online bootstrapping of hard pixels (Wu et al. 2016), over all crops of the batch: when
    more than ``min_k`` valid pixels have a CE above ``loss_th``, the mean over those; else the
    mean of the ``min_k`` largest. Only valid pixels compete (the original also ranked the zeros
    of ignored pixels, diluting the top-k mean of mostly-ignored batches)."""

    pixelwise = False
    params = ("min_k", "loss_th")

    def __init__(self, min_k: int = 100000, loss_th: float = 0.357, **kw):
        super().__init__(**kw)
        self.min_k, self.loss_th = int(min_k), float(loss_th)

    def mean_loss(self, logits, target):
        ce = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="none")
        values = ce[target != self.ignore_index]
        if values.numel() == 0:
            return logits.sum() * 0.0      # keeps the graph: zero gradients, not an error
        top = torch.topk(values, min(self.min_k + 1, values.numel())).values
        if top.numel() > self.min_k and bool(top[self.min_k] > self.loss_th):
            return values[values > self.loss_th].mean()
        return top[:self.min_k].mean()


class DiceLoss(SegLoss):
    """1 - (2 sum p t + smooth) / (sum p^e + t^e + smooth) per image over classes and pixels,
    with softmax p and one-hot t both zero on ignored pixels; mean over images."""

    pixelwise = False
    params = ("smooth", "exponent")

    def __init__(self, smooth: float = 1.0, exponent: float = 2.0, **kw):
        super().__init__(**kw)
        self.smooth, self.exponent = float(smooth), float(exponent)

    def mean_loss(self, logits, target):
        valid, safe = self._valid(target)
        mask = valid.unsqueeze(1).to(logits.dtype)
        prob = F.softmax(logits, 1) * mask
        onehot = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype) * mask
        inter = 2 * (prob * onehot).sum((1, 2, 3))
        den = (prob.pow(self.exponent) + onehot.pow(self.exponent)).sum((1, 2, 3))
        return (1 - (inter + self.smooth) / (den + self.smooth)).mean()


class MixedLoss(SegLoss):
    """sum_i coef_i * loss_i, each loss normalised by its own rule, on every output."""

    def __init__(self, losses, coef, **kw):
        super().__init__(**kw)
        if len(losses) != len(coef):
            raise ConfigError(f"MixedLoss: {len(losses)} losses but {len(coef)} weights")
        self.losses, self.coef = list(losses), [float(c) for c in coef]

    def describe(self) -> str:
        return "MixedLoss(" + " + ".join(f"{c:g}*{loss.describe()}"
                                         for c, loss in zip(self.coef, self.losses)) + ")"

    def single(self, logits, target, n_valid=None, world_size: int = 1):
        return sum(c * loss.single(logits, target, n_valid, world_size)
                   for c, loss in zip(self.coef, self.losses))


LOSS_CLASSES = {"ce": MixSoftmaxCrossEntropy, "focal": FocalLoss, "weighted_ce": WeightedCELoss,
                "bootstrapped_ce": BootstrappedCELoss, "dice": DiceLoss,
                "smooth_ce": SmoothCELoss, "mixed_smooth_ce": MixedSmoothCELoss}


def build_criterion(criterion, aux_weight=None, ignore_index: int = -1,
                    norm: str = "valid_mean", nclass=None) -> SegLoss:
    """The loss a config's ``criterion`` value names (null: ``MixSoftmaxCrossEntropy``);
    ``nclass`` checks the length of ``class_weight``."""
    common = dict(aux_weight=aux_weight, ignore_index=ignore_index, norm=norm)
    losses, coef = [], []
    for term in criterion_terms(criterion):
        options = {k: v for k, v in term.items() if k not in ("name", "weight")}
        weights = options.get("class_weight")
        if weights is not None and nclass is not None and len(weights) != nclass:
            raise ConfigError(f"criterion {term['name']}: class_weight has {len(weights)} values "
                              f"but the dataset has {nclass} classes; give one per class")
        losses.append(LOSS_CLASSES[term["name"]](**options, **common))
        coef.append(term["weight"])
    if len(losses) == 1 and coef[0] == 1.0:
        return losses[0]
    return MixedLoss(losses, coef, **common)
