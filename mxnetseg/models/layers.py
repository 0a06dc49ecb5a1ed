"""Shared bricks of the model zoo (the original's ``mxnetseg/nn/layers``)."""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["get_norm_layer", "ConvBNAct", "FCNHead", "resize"]

_NORMS = {"bn": "BN", "syncbn": "SyncBN", "gn": "GN"}


def get_norm_layer(name="BN"):
    """``BN`` | ``SyncBN`` | ``GN`` (case-insensitive) -> a ``norm(channels)`` constructor.

    SyncBN builds plain BatchNorm here; the trainer converts it to SyncBatchNorm only when more
    than one process trains (a single GPU or the CPU has nothing to synchronise).
    GN is GluonCV's GroupNorm: 32 groups, eps 1e-5.
    """
    if callable(name) and not isinstance(name, str):
        return name
    key = str(name).lower()
    if key not in _NORMS:
        raise ValueError(f"norm_layer must be one of BN, SyncBN, GN; got {name!r}")
    if key == "gn":
        return GroupNorm32
    return partial(nn.BatchNorm2d, eps=1e-5, momentum=0.1)   # = MXNet momentum 0.9


class GroupNorm32(nn.GroupNorm):
    """GluonCV's GroupNorm (32 groups) as a ``norm(channels)`` constructor; a class, not a
    partial, because timm unwraps partials and would drop the group count."""

    def __init__(self, num_channels, eps=1e-5, **kwargs):
        super().__init__(32, num_channels, eps=eps, **kwargs)


def resize(x: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resize with MXNet ``BilinearResize2D`` semantics (align_corners=True)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class ConvBNAct(nn.Sequential):
    """The original's ``ConvModule2d``: conv (no bias) -> norm -> activation."""

    def __init__(self, in_ch, out_ch, kernel_size=3, stride=1, padding=None, dilation=1,
                 groups=1, bias=False, norm_layer=nn.BatchNorm2d, act=True):
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        layers = [nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation, groups,
                            bias=bias)]
        if norm_layer is not None:
            layers.append(norm_layer(out_ch))
        if act is True:
            layers.append(nn.ReLU(inplace=True))
        elif isinstance(act, nn.Module):
            layers.append(act)
        super().__init__(*layers)


class FCNHead(nn.Sequential):
    """CBR(3, inter) -> Dropout -> 1x1 conv with bias.

    inter = 256 when ``in_ch >= 256``, else ``in_ch`` (the original's rule).
    """

    def __init__(self, in_ch, nclass, norm_layer=nn.BatchNorm2d, drop=0.1, inter=None):
        inter = inter or (256 if in_ch >= 256 else in_ch)
        layers = [ConvBNAct(in_ch, inter, 3, norm_layer=norm_layer)]
        if drop > 0:
            layers.append(nn.Dropout(drop))
        layers.append(nn.Conv2d(inter, nclass, 1))
        super().__init__(*layers)
