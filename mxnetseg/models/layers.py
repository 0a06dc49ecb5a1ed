"""Shared bricks of the model zoo (the original's ``mxnetseg/nn/layers``)."""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ModelConfigError", "get_norm_layer", "ConvBNAct", "FCNHead", "resize",
           "AuxHead", "GlobalFlow", "PPModule", "LateralFusion", "GCN", "ASPPModule",
           "DenseASPPModule", "SelfAttentionModule", "ChannelAttention", "fixed_output_stride",
           "dilated_output_stride", "check_channels", "only_backbone", "check_atrous_rates"]

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
        raise ModelConfigError(f"norm_layer must be one of BN, SyncBN, GN; got {name!r}")
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


class AuxHead(nn.Sequential):
    """CBR(1, inter) -> 1x1 conv with bias: the original's light auxiliary head (no 3x3, no
    dropout). inter = 256 when ``in_ch > 256``, else ``in_ch``; the original builds its AuxHeads
    with deferred input channels, which means inter = 256 whatever the input: pass ``inter=256``
    to reproduce that."""

    def __init__(self, in_ch, nclass, norm_layer=nn.BatchNorm2d, inter=None):
        inter = inter or (256 if in_ch > 256 else in_ch)
        super().__init__(ConvBNAct(in_ch, inter, 1, norm_layer=norm_layer),
                         nn.Conv2d(inter, nclass, 1))


class GlobalFlow(nn.Module):
    """Image-level context: global average pool -> CBR(1, out_ch) -> broadcast back to the
    input's size (a bilinear resize of a 1x1 map, as the original writes it)."""

    def __init__(self, in_ch, out_ch, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.conv1x1 = ConvBNAct(in_ch, out_ch, 1, norm_layer=norm_layer)

    def forward(self, x):
        return resize(self.conv1x1(self.gap(x)), x.shape[-2:])


class PPModule(nn.Module):
    """PSPNet's pyramid pooling: for each bin, adaptive average pool -> CBR(1, in/reduction) ->
    resize back; output = concat(input, branches) = 2 * in_ch channels for 4 bins and /4.
    (MXNet's AdaptiveAvgPooling2D uses PyTorch's floor/ceil bin edges.)"""

    def __init__(self, in_ch, norm_layer=nn.BatchNorm2d, reduction=4, bins=(1, 2, 3, 6)):
        super().__init__()
        self.bins = tuple(bins)
        self.convs = nn.ModuleList(ConvBNAct(in_ch, in_ch // reduction, 1, norm_layer=norm_layer)
                                   for _ in self.bins)
        self.out_channels = in_ch + len(self.bins) * (in_ch // reduction)

    def forward(self, x):
        size = x.shape[-2:]
        pyramid = [resize(conv(F.adaptive_avg_pool2d(x, b)), size)
                   for b, conv in zip(self.bins, self.convs)]
        return torch.cat([x, *pyramid], dim=1)


class ASPPModule(nn.Module):
    """DeepLab's atrous spatial pyramid pooling: concat[CBR(1); CBR(3, d=r) per rate;
    GlobalFlow if ``pool_branch``] -> CBR(1, out_ch) -> Dropout(drop)."""

    def __init__(self, in_ch, out_ch=256, norm_layer=nn.BatchNorm2d, rates=(6, 12, 18),
                 drop=0.5, pool_branch=True):
        super().__init__()
        branches = [ConvBNAct(in_ch, out_ch, 1, norm_layer=norm_layer)]
        branches += [ConvBNAct(in_ch, out_ch, 3, dilation=r, norm_layer=norm_layer)
                     for r in rates]
        if pool_branch:
            branches.append(GlobalFlow(in_ch, out_ch, norm_layer))
        self.branches = nn.ModuleList(branches)
        self.projection = ConvBNAct(len(branches) * out_ch, out_ch, 1, norm_layer=norm_layer)
        self.drop = nn.Dropout(drop) if drop else nn.Identity()

    def forward(self, x):
        out = torch.cat([branch(x) for branch in self.branches], dim=1)
        return self.drop(self.projection(out))


def check_atrous_rates(model: str, rates, default) -> tuple:
    """``model_kwargs: {atrous_rates: [a, b, c]}`` checked: three positive integers (the ASPP
    has one dilated branch per rate and its projection is sized for three)."""
    if rates is None:
        return tuple(default)
    ok = (isinstance(rates, (list, tuple)) and len(rates) == 3 and
          all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in rates))
    if not ok:
        raise ModelConfigError(f"{model}: model_kwargs.atrous_rates must be three positive "
                               f"integers, e.g. [12, 24, 36]; got {rates!r}")
    return tuple(rates)


class DenseASPPModule(nn.Module):
    """DenseASPP: five dilated CBR(3, in/8) layers, each fed (through a CBR(1, in/2) transition,
    except the first) with the concat of the input and all earlier outputs; the concat of
    everything -> CBR(1, out_ch) -> Dropout 0.5.

    The original hard-codes the projection's input as 3328; that is ``in_ch + 5 * in_ch // 8``
    for its only workable input (2048), which is what we compute.
    """

    def __init__(self, in_ch=2048, out_ch=256, norm_layer=nn.BatchNorm2d,
                 rates=(3, 6, 12, 18, 24)):
        super().__init__()
        grow, trans = in_ch // 8, in_ch // 2
        self.dilate = nn.ModuleList(
            ConvBNAct(in_ch if i == 0 else trans, grow, 3, dilation=r, norm_layer=norm_layer)
            for i, r in enumerate(rates))
        self.trans = nn.ModuleList(ConvBNAct(in_ch + i * grow, trans, 1, norm_layer=norm_layer)
                                   for i in range(1, len(rates)))
        self.projection = ConvBNAct(in_ch + len(rates) * grow, out_ch, 1, norm_layer=norm_layer)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        feats = [x]
        for i, dilate in enumerate(self.dilate):
            feats.append(dilate(x if i == 0 else self.trans[i - 1](torch.cat(feats, dim=1))))
        return self.drop(self.projection(torch.cat(feats, dim=1)))


class SelfAttentionModule(nn.Module):
    """Position attention (DANet PAM / non-local): A = softmax over keys of q^T k (no scaling),
    out = gamma * (v A^T) + x. q, k = 1x1 conv+bias to in/reduction; v = 1x1 conv+bias to in.
    gamma starts at 0 (the original), so the block starts as the identity."""

    def __init__(self, in_ch, reduction=8):
        super().__init__()
        self.query_conv = nn.Conv2d(in_ch, in_ch // reduction, 1)
        self.key_conv = nn.Conv2d(in_ch, in_ch // reduction, 1)
        self.value_conv = nn.Conv2d(in_ch, in_ch, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        query = self.query_conv(x).flatten(2)                                  # N C' HW
        key = self.key_conv(x).flatten(2)                                      # N C' HW
        attn = torch.softmax(query.transpose(1, 2) @ key, dim=-1)              # N HW HW
        out = self.value_conv(x).flatten(2) @ attn.transpose(1, 2)             # N C HW
        return self.gamma * out.view_as(x) + x


class ChannelAttention(nn.Module):
    """DANet's channel attention (CAM), parameter-free but for gamma (init 0):
    E = X X^T (C x C); A = softmax(rowmax(E) - E) over the last axis; out = gamma * A X + x."""

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        feat = x.flatten(2)                                                    # N C HW
        energy = feat @ feat.transpose(1, 2)                                   # N C C
        attn = torch.softmax(energy.amax(-1, keepdim=True) - energy, dim=-1)
        return self.gamma * (attn @ feat).view_as(x) + x


class LateralFusion(nn.Module):
    """FPN / U-shape lateral fusion: ``up(high -> low) + CBR(1)(low)`` -> CBR(3). ``high``
    already has ``channels`` channels; ``low_ch`` is the lateral input's."""

    def __init__(self, low_ch, channels, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1x1 = ConvBNAct(low_ch, channels, 1, norm_layer=norm_layer)
        self.conv3x3 = ConvBNAct(channels, channels, 3, norm_layer=norm_layer)

    def forward(self, high, low):
        return self.conv3x3(resize(high, low.shape[-2:]) + self.conv1x1(low))


class GCN(nn.Module):
    """Global convolution (Peng et al., CVPR 2017): (k x 1 -> 1 x k) + (1 x k -> k x 1), convs
    with bias, no norm or activation."""

    def __init__(self, in_ch, channels, k=3):
        super().__init__()
        p = (k - 1) // 2
        self.conv_l1 = nn.Conv2d(in_ch, channels, (k, 1), padding=(p, 0))
        self.conv_l2 = nn.Conv2d(channels, channels, (1, k), padding=(0, p))
        self.conv_r1 = nn.Conv2d(in_ch, channels, (1, k), padding=(0, p))
        self.conv_r2 = nn.Conv2d(channels, channels, (k, 1), padding=(p, 0))

    def forward(self, x):
        return self.conv_l2(self.conv_l1(x)) + self.conv_r2(self.conv_r1(x))


# --- construction helpers shared by the model files ---------------------------------------

class ModelConfigError(ValueError):
    """A model asked for something it cannot build (a backbone, an output stride, an option):
    the caller's mistake, reported as one line by the command line."""


def fixed_output_stride(model: str, forced: int, output_stride=None) -> int:
    """The original forces some models' output stride and ignores ``dilate``; we do the same,
    but an explicit, different ``output_stride`` is an error rather than silently dropped."""
    if output_stride is not None and output_stride != forced:
        raise ModelConfigError(
            f"{model} always runs at output stride {forced} (as the original does); "
            f"got output_stride={output_stride}. Leave output_stride unset for "
            f"this model.")
    return forced


def dilated_output_stride(dilate: bool, output_stride=None) -> int:
    """The models that honour ``dilate`` as the original: output stride 8 (``dilate``) or 32;
    an explicit ``output_stride`` (8, 16, 32: our addition) wins."""
    return output_stride or (8 if dilate else 32)


def check_channels(model: str, backbone, **required: int) -> None:
    """Raise a clear error when a model that hard-codes its input channels (as the original
    does) gets a backbone with other stage channels, e.g. ``check_channels('PSPNet', bb,
    c4=2048)``; ``backbone`` needs ``.channels`` (c1..c4) and ``.name``."""
    got = dict(zip(("c1", "c2", "c3", "c4"), backbone.channels))
    bad = {k: v for k, v in required.items() if got[k] != v}
    if bad:
        need = ", ".join(f"{k}={v}" for k, v in bad.items())
        has = ", ".join(f"{k}={got[k]}" for k in bad)
        raise ModelConfigError(
            f"{model} hard-codes its input channels ({need}), as the original does, but "
            f"backbone {backbone.name!r} gives {has}. Use resnet50, resnet101 or resnet152.")


def only_backbone(model: str, backbone, supported: str, instead: str) -> None:
    """The models tied to one backbone (as the original): anything else is a clear error."""
    if str(backbone).lower() != supported:
        raise ModelConfigError(f"{model} supports only backbone {supported!r} (as the "
                               f"original), got {backbone!r}; use {instead}.")
