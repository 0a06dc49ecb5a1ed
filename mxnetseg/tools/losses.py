"""Segmentation losses: the default mixed softmax cross-entropy and the original's other losses
(focal, class-weighted, bootstrapped, Dice, label smoothing, weighted mixtures).

Every loss applies to the main output plus ``aux_weight`` x the same loss on each auxiliary
output, skips ``ignore_index`` pixels and follows ``loss_norm``:

* ``valid_mean``: per-pixel losses are summed over valid pixels and divided by the global
  valid-pixel count; Dice and bootstrapped CE (not sums over pixels) are means of this process's
  images, which DDP's gradient average then averages over the processes.
* ``original`` (the default): the gradient the original's MXNet trainer took, for any process
  count. It split each global batch of B images into ``original_gpus`` contiguous groups (one per
  GPU), summed the per-GPU gradients and stepped by B. So each loss is scaled as the original's
  class of that loss was (``original_scale``): SoftmaxOutput-based CE (the default, smoothed CE)
  by its group's valid-pixel count; the log_softmax-based focal and weighted CE by the image's
  pixel count (a per-image mean over all pixels); Dice per image; bootstrapped CE per group. Then
  everything is divided by B and multiplied by the process count (DDP averages, MXNet summed).

``batch_counts`` gives what the scale needs from every process (one all-reduce per step);
``both`` returns the loss and GluonCV's reported value (per-image mean over ALL pixels, ignored
ones as 0, main + aux_weight x aux), which the trainer logs as ``train_loss_gluoncv``.

The config's ``criterion`` key picks one (``config.criterion_terms``); ``build_criterion`` turns
it into a callable ``criterion(outputs, target, counts=None, world_size=1, rank=0)``.
"""
from __future__ import annotations

import copy

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..config import ConfigError, criterion_terms

__all__ = ["sample_positions", "SegLoss", "MixSoftmaxCrossEntropy", "FocalLoss", "WeightedCELoss",
           "BootstrappedCELoss", "DiceLoss", "SmoothCELoss", "MixedSmoothCELoss", "MixedLoss",
           "LOSS_CLASSES", "build_criterion"]


def sample_positions(local_batch: int, world: int = 1, rank: int = 0) -> list[int]:
    """Positions in the global batch of this process's images: ``TrainBatchSampler`` gives rank
    r the positions r, r + world, ... of every global batch, whatever the process count."""
    return [j * world + rank for j in range(local_batch)]


class SegLoss:
    """One loss over the main and auxiliary outputs. A subclass defines ``pixel_loss`` (a
    per-pixel map, zero on ignored pixels) or, with ``pixelwise = False``, ``mean_loss``."""

    pixelwise = True
    # how the original's class of this loss scaled its gradient (module docstring):
    # group_valid | image_pixels | image | group
    original_scale = "group_valid"
    params: tuple = ()        # constructor options shown by describe()

    def __init__(self, aux_weight=None, ignore_index: int = -1, norm: str = "valid_mean",
                 original_gpus=None):
        if norm not in ("valid_mean", "original"):
            raise ValueError(f"loss norm must be 'valid_mean' or 'original', got {norm!r}")
        if original_gpus is not None and (isinstance(original_gpus, bool) or
                                          not isinstance(original_gpus, int) or original_gpus < 1):
            raise ConfigError(f"original_gpus must be a positive integer (the GPU count of the "
                              f"original run) or null, got {original_gpus!r}")
        # null = 1.0: what the original's gradients effectively used for its aux output
        self.aux_weight = 1.0 if aux_weight is None else aux_weight
        self.ignore_index = ignore_index
        self.norm = norm
        self.original_gpus = original_gpus

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

    # ---- what the scale needs from the whole global batch
    def needs_counts(self) -> bool:
        if self.norm == "valid_mean":
            return self.pixelwise
        return self.pixelwise and self.original_scale == "group_valid"

    def groups(self, local_batch: int, world: int = 1, rank: int = 0) -> list[int]:
        """The original GPU (0 .. original_gpus-1) each local image would have been on: the
        global batch split into contiguous groups, as GluonCV's split_and_load did."""
        total, gpus = local_batch * world, self.original_gpus or world
        if total % gpus:
            raise ConfigError(f"bs_train ({total}) must divide evenly over original_gpus "
                              f"({gpus}): the original split each batch evenly over its GPUs; "
                              f"set bs_train to a multiple of {gpus} or change original_gpus")
        return [p // (total // gpus) for p in sample_positions(local_batch, world, rank)]

    def _group_index(self, local_batch, world, rank, device):
        # kept per layout: no host-to-device copy in every training step
        cache = self.__dict__.setdefault("_index_cache", {})
        key = (local_batch, world, rank, self.original_gpus, str(device))
        if key not in cache:
            cache[key] = torch.tensor(self.groups(local_batch, world, rank), device=device)
        return cache[key]

    def batch_counts(self, target, world: int = 1, rank: int = 0):
        """This process's share (to be summed over processes) of the valid-pixel counts the
        scale needs: ``valid_mean``: [valid pixels]; ``original``: valid pixels per original
        GPU (length ``original_gpus``). None when the loss needs none."""
        if not self.needs_counts():
            return None
        valid = (target != self.ignore_index).flatten(1).sum(1)
        if self.norm == "valid_mean":
            return valid.sum().reshape(1)
        group = self._group_index(target.shape[0], world, rank, valid.device)
        counts = torch.zeros(self.original_gpus or world, dtype=valid.dtype, device=valid.device)
        return counts.index_add_(0, group, valid)

    def global_counts(self, target, world: int = 1, rank: int = 0):
        """``batch_counts`` summed over the processes: the one all-reduce of a training step."""
        counts = self.batch_counts(target, world, rank)
        if counts is not None and world > 1:
            dist.all_reduce(counts)
        return counts

    def local_twin(self) -> "SegLoss":
        """This loss under ``valid_mean``: ``both(outputs, target)[1]`` then gives GluonCV's
        value of one batch alone (validation), needing nothing from other processes."""
        twin = copy.copy(self)
        twin.norm = "valid_mean"
        if hasattr(twin, "losses"):
            twin.losses = [loss.local_twin() for loss in twin.losses]
        return twin

    # ---- the loss
    def single(self, logits, target, counts=None, world_size: int = 1, rank: int = 0):
        """(this loss on one output, normalised as ``norm`` says; GluonCV's reported value)."""
        if counts is None and self.needs_counts():
            if world_size > 1:
                raise ValueError("with several processes pass the loss the counts of "
                                 "global_counts(target, world, rank)")
            counts = self.batch_counts(target)
        if not self.pixelwise:
            if self.norm == "original" and self.original_scale == "group":
                return self._per_group(logits, target, world_size, rank)
            # valid_mean, or per-image values under original: world x sum / B = the local mean
            value = self.mean_loss(logits, target)
            return value, value.detach()
        per_pixel = self.pixel_loss(logits, target).flatten(1)
        per_image = per_pixel.sum(1)
        # GluonCV: the mean over all pixels of each image (ignored ones 0), then over images
        shown = per_image.detach().mean() / max(per_pixel.shape[1], 1)
        if self.norm == "valid_mean":
            return per_image.sum() * world_size / counts.sum().clamp_min(1), shown
        if self.original_scale == "image_pixels":
            # world x sum_i mean_pixels / B, and B = local batch x world
            return per_image.sum() / per_pixel.shape[1] / target.shape[0], shown
        group = self._group_index(target.shape[0], world_size, rank, counts.device)
        return (per_image / counts[group].clamp_min(1)).sum() / target.shape[0], shown

    def _per_group(self, logits, target, world, rank):
        """One value per original GPU's images (world x sum over groups / B). A group spread
        over several processes is taken as the share-weighted sum of its parts' values."""
        groups = self.groups(target.shape[0], world, rank)
        size = target.shape[0] * world // (self.original_gpus or world)
        value = shown = 0.0
        for k in sorted(set(groups)):
            idx = [j for j, g in enumerate(groups) if g == k]
            part = self.mean_loss(logits[idx], target[idx])
            value = value + part * len(idx) / size
            shown = shown + part.detach() * len(idx) / target.shape[0]
        return value / target.shape[0], shown       # world / B = 1 / local batch

    def both(self, outputs, target, counts=None, world_size: int = 1, rank: int = 0):
        """(the loss to back-propagate, GluonCV's value of it: main + aux_weight x aux)."""
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        weights = [1.0] + self._weights(len(outputs) - 1)
        total = shown = 0.0
        for w, logits in zip(weights, outputs):
            value, seen = self.single(logits.float(), target, counts, world_size, rank)
            total, shown = total + w * value, shown + w * seen
        return total, shown

    def __call__(self, outputs, target, counts=None, world_size: int = 1, rank: int = 0):
        return self.both(outputs, target, counts, world_size, rank)[0]

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

    original_scale = "image_pixels"     # the original's is log_softmax-based, per-image mean
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

    original_scale = "image_pixels"
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
    original_scale = "group"            # the original's is one value per GPU batch
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
    original_scale = "image"            # the original's returns one value per image
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

    def needs_counts(self) -> bool:
        return any(loss.needs_counts() for loss in self.losses)

    def single(self, logits, target, counts=None, world_size: int = 1, rank: int = 0):
        if counts is None and self.needs_counts() and world_size == 1:
            counts = self.batch_counts(target)    # once for all the terms
        value = shown = 0.0
        for c, loss in zip(self.coef, self.losses):
            v, seen = loss.single(logits, target, counts, world_size, rank)
            value, shown = value + c * v, shown + c * seen
        return value, shown


LOSS_CLASSES = {"ce": MixSoftmaxCrossEntropy, "focal": FocalLoss, "weighted_ce": WeightedCELoss,
                "bootstrapped_ce": BootstrappedCELoss, "dice": DiceLoss,
                "smooth_ce": SmoothCELoss, "mixed_smooth_ce": MixedSmoothCELoss}


def build_criterion(criterion, aux_weight=None, ignore_index: int = -1,
                    norm: str = "valid_mean", nclass=None, original_gpus=None) -> SegLoss:
    """The loss a config's ``criterion`` value names (null: ``MixSoftmaxCrossEntropy``);
    ``nclass`` checks the length of ``class_weight``."""
    common = dict(aux_weight=aux_weight, ignore_index=ignore_index, norm=norm,
                  original_gpus=original_gpus)
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
