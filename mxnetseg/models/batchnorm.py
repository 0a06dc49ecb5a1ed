"""BatchNorm's running-variance rule: PyTorch's or MXNet's (config key ``bn_momentum_rule``).

Both frameworks normalise a training batch with its biased variance and keep
``running = (1 - m) * running + m * batch_var``, but the ``batch_var`` they store differs:
PyTorch stores the unbiased estimate (times N / (N - 1), N = values per channel over the whole
synchronised batch), MXNet (and so the original) the biased one. The gap matters where N is
small, e.g. BN over a pooled 1x1 map (ASPP image pooling, PSP bin 1, BiSeNet's attention) with a
few images per GPU: PyTorch's running variance there ends N / (N - 1) larger.

``set_bn_momentum_rule(model, "mxnet")`` switches every BatchNorm (plain or Sync, whoever built
it; GroupNorm has no running statistics) to MXNet's rule by swapping the module's class for a
subclass (made once per BatchNorm class): parameters, buffers and state-dict keys stay as they
are, so checkpoints, MXNet ``.params`` import and parity checks see no difference. ``convert_sync_batchnorm`` keeps the
rule through the SyncBN conversion.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn
from timm.layers import convert_sync_batchnorm as timm_convert_sync_batchnorm
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import did_you_mean
from .layers import ModelConfigError

__all__ = ["BN_MOMENTUM_RULES", "set_bn_momentum_rule", "bn_momentum_rule",
           "convert_sync_batchnorm", "MXNetBatchNorm2d", "MXNetSyncBatchNorm"]

BN_MOMENTUM_RULES = ("torch", "mxnet")


def _synced_replicas(module: nn.Module) -> int:
    """How many processes' batches a SyncBatchNorm pools in this forward (1 for plain BN, or
    SyncBN outside a process group, which PyTorch then runs as plain BN)."""
    if not (isinstance(module, nn.SyncBatchNorm) and dist.is_available()
            and dist.is_initialized()):
        return 1
    return dist.get_world_size(module.process_group or dist.group.WORLD)


class _BiasedRunningVariance:
    """Runs the framework's BatchNorm, then takes the Bessel factor back out of the step it
    added to ``running_var``: one subtraction per channel, no second pass over the input, and
    PyTorch's own (sync) kernels do the normalisation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.track_running_stats and self.running_var is not None):
            return super().forward(x)
        before = self.running_var.detach().clone()
        out = super().forward(x)
        # the trainer splits the global batch evenly, so every replica holds the same count
        n = x.numel() // x.shape[1] * _synced_replicas(self)
        m = (self.momentum if self.momentum is not None
             else 1.0 / float(self.num_batches_tracked))
        # through .data: autograd saved running_var for the backward of batch_norm, and a
        # visible in-place change would fail its version check (training never reads it)
        running = self.running_var.data
        with torch.no_grad():
            step = running - (1.0 - m) * before   # = m * var * n / (n - 1)
            running.sub_(step / n)                 # -> m * var (biased)
        return out


class MXNetBatchNorm2d(_BiasedRunningVariance, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` keeping MXNet's (biased) running variance."""
    _plain = nn.BatchNorm2d


class MXNetSyncBatchNorm(_BiasedRunningVariance, nn.SyncBatchNorm):
    """``nn.SyncBatchNorm`` keeping MXNet's (biased) running variance over the global batch."""
    _plain = nn.SyncBatchNorm


_MXNET: dict = {nn.BatchNorm2d: MXNetBatchNorm2d, nn.SyncBatchNorm: MXNetSyncBatchNorm}


def _mxnet_class(cls: type) -> type:
    """The MXNet-rule twin of a BatchNorm class; made on first use for the ones timm builds
    (``BatchNormAct2d``, ``SyncBatchNormAct``: BN and activation in one module)."""
    if issubclass(cls, _BiasedRunningVariance):
        return cls
    if cls not in _MXNET:
        twin = type(f"MXNet{cls.__name__}", (_BiasedRunningVariance, cls),
                    {"_plain": cls, "__module__": __name__})
        globals()[twin.__name__] = twin   # so a pickled model finds its class by name
        _MXNET[cls] = twin
    return _MXNET[cls]


def _check_rule(rule: str) -> str:
    key = str(rule).lower()
    if key not in BN_MOMENTUM_RULES:
        raise ModelConfigError(f"bn_momentum_rule must be one of {', '.join(BN_MOMENTUM_RULES)}; "
                               f"got {rule!r}.{did_you_mean(key, BN_MOMENTUM_RULES)}")
    return key


def set_bn_momentum_rule(model: nn.Module, rule: str = "mxnet") -> nn.Module:
    """Every BatchNorm of ``model`` keeps its running variance by ``rule`` (``torch``: the
    unbiased batch variance, PyTorch's default; ``mxnet``: the biased one, the original's).
    In place; returns ``model``."""
    mxnet = _check_rule(rule) == "mxnet"
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            cls = type(module)
            module.__class__ = _mxnet_class(cls) if mxnet else getattr(cls, "_plain", cls)
    return model


def bn_momentum_rule(model: nn.Module) -> str:
    """``mxnet`` when any BatchNorm of ``model`` keeps the biased running variance."""
    mx = any(isinstance(m, _BiasedRunningVariance) for m in model.modules())
    return "mxnet" if mx else "torch"


def convert_sync_batchnorm(model: nn.Module, process_group=None) -> nn.Module:
    """Every BatchNorm -> its synchronised variant, keeping each one's running-variance rule.
    timm's converter, not PyTorch's: PyTorch's turns timm's ``BatchNormAct2d`` (DenseNet) into a
    plain SyncBatchNorm whose forward skips the activation it still holds."""
    mxnet = {name for name, m in model.named_modules() if isinstance(m, _BiasedRunningVariance)}
    model = timm_convert_sync_batchnorm(model, process_group)
    for name, module in model.named_modules():
        if name in mxnet:
            module.__class__ = _mxnet_class(type(module))
    return model
