"""EPRNet: Efficient Pyramid Representation Network for real-time street scene segmentation
(Tang et al., IEEE T-ITS 2021), with its own EPRNet-Cls trunk (the original's
``backbone/eprnet_cls.py``), written here by hand.

Faithful: layer for layer (the trunk's ImageNet classifier dropped: the segmentation model never
used it), parameter counts, PReLU everywhere with ONE alpha per activation (MXNet
``nn.PReLU()``'s default, init 0.25), MXNet weight names (attribute paths mirror the
original's), output stride 8. As in the original, aux heads do not exist (``aux`` is accepted
and ignored) and ``dilate`` has no effect; the trunk is the only backbone.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .backbones import load_backbone_weights
from .base import SegmentationModel
from .layers import ConvBNAct, ModelConfigError, get_norm_layer

__all__ = ["EPRNetCls", "EPRNet"]


def prelu():
    """MXNet ``nn.PReLU()``: a single alpha shared by all channels, initialised to 0.25."""
    return nn.PReLU(1, init=0.25)


class MPUnit(nn.Module):
    """Multi-rate pyramid: three grouped (groups = in) dilated 3x3 CB-PReLU branches in -> C.
    Full: plus a 1x1 CB-PReLU branch, concat (4C) -> CB-PReLU(1, C). Light: the three branches
    summed, nothing else."""

    def __init__(self, in_ch, channels, rates, norm_layer=nn.BatchNorm2d, light=False):
        super().__init__()
        self.light = light
        branches = [ConvBNAct(in_ch, channels, 3, dilation=r, groups=in_ch,
                              norm_layer=norm_layer, act=prelu()) for r in rates]
        if not light:
            branches.append(ConvBNAct(in_ch, channels, 1, norm_layer=norm_layer, act=prelu()))
        self.concurrent = nn.ModuleList(branches)
        self.conv1x1 = None if light else ConvBNAct(len(branches) * channels, channels, 1,
                                                    norm_layer=norm_layer, act=prelu())

    def forward(self, x):
        outs = [branch(x) for branch in self.concurrent]
        if self.light:
            return sum(outs[1:], outs[0])
        return self.conv1x1(torch.cat(outs, dim=1))


class EPRModule(nn.Module):
    """Pyramid unit -> CB(3, C)/s ("compact"), plus a 1x1/s conv + BN shortcut when the width
    or the resolution changes; sum -> PReLU."""

    def __init__(self, in_ch, channels, rates, norm_layer=nn.BatchNorm2d, down_sample=False,
                 light=False):
        super().__init__()
        stride = 2 if down_sample else 1
        self.pyramid = MPUnit(in_ch, channels, rates, norm_layer, light)
        self.compact = ConvBNAct(channels, channels, 3, stride, norm_layer=norm_layer, act=False)
        if channels != in_ch or down_sample:
            self.skip = nn.Conv2d(in_ch, channels, 1, stride, bias=False)
            self.skip_bn = norm_layer(channels)
        else:
            self.skip = self.skip_bn = None
        self.act = prelu()

    def forward(self, x):
        out = self.compact(self.pyramid(x))
        residual = x if self.skip is None else self.skip_bn(self.skip(x))
        return self.act(out + residual)


class EPRNetCls(nn.Module):
    """The EPRNet-Cls trunk: CB-PReLU(3, 16)/2 -> layer1 (2 EPR modules, rates 1,2,4, second
    strided) -> layer2 (4, rates 3,6,9, last strided) -> layer3 (2: rates 7,13,19 and 13,25,37).
    Output stride 8, 128 channels.

    ``pretrained``: False; a path to a PyTorch state dict of this module or to the original's
    EPRNet-Cls ImageNet ``.params`` (its classifier dropped); or True: that file where the
    original read it, ``weights/eprnetcls/eprnetcls[_light]_imagenet.params`` under the working
    folder, or by that name in ``$MXNETSEG_PRETRAINED_DIR`` (nothing to download)."""

    output_stride = 8

    def __init__(self, light=False, stage_channels=(16, 32, 64, 128), norm_layer="BN",
                 pretrained=False):
        super().__init__()
        norm = get_norm_layer(norm_layer)
        w1, w2, w3, w4 = stage_channels
        self.name = "eprnet_cls_light" if light else "eprnet_cls"
        self.channels = tuple(stage_channels)
        self.conv = nn.Conv2d(3, w1, 3, 2, 1, bias=False)
        self.bn = norm(w1)
        self.act = prelu()

        def epr(cin, cout, rates, ds=False):
            return EPRModule(cin, cout, rates, norm, down_sample=ds, light=light)

        self.layer1 = nn.Sequential(epr(w1, w2, (1, 2, 4)), epr(w2, w2, (1, 2, 4), True))
        self.layer2 = nn.Sequential(epr(w2, w3, (3, 6, 9)), epr(w3, w3, (3, 6, 9)),
                                    epr(w3, w3, (3, 6, 9)), epr(w3, w3, (3, 6, 9), True))
        self.layer3 = nn.Sequential(epr(w3, w4, (7, 13, 19)), epr(w4, w4, (13, 25, 37)))
        original = f"weights/eprnetcls/{self.name.replace('_cls', 'cls')}_imagenet.params"
        load_backbone_weights(self, pretrained, self.name, original, local=original)

    def forward(self, x):
        x = self.act(self.bn(self.conv(x)))
        return self.layer3(self.layer2(self.layer1(x)))


@register_model("EPRNet", aliases=("eprnet",))
class EPRNet(SegmentationModel):
    """EPRNet-Cls trunk -> FCN head (CB-PReLU(3, 128) -> [Dropout ``drop``] -> 1x1 conv+bias).

    ``backbone`` may only be None or ``'eprnet_cls'`` (the original ignored it); ``light=True``
    selects the light trunk. ``aux`` is ignored (the original forces it off); ``dilate`` too."""

    default_backbone = None
    fixed_stride = 8

    def build(self, nclass, aux, norm, trunk, light=False, drop=0.0):
        if trunk.name not in (None, "eprnet_cls"):
            raise ModelConfigError(
                f"EPRNet has its own trunk (EPRNet-Cls) and takes only backbone None or "
                f"'eprnet_cls'; got {trunk.name!r}. In a config write 'backbone: eprnet_cls' "
                f"(and 'model_kwargs: {{light: true}}' for the light trunk).")
        self.backbone = EPRNetCls(light, norm_layer=trunk.norm_layer, pretrained=trunk.pretrained)
        ch = self.backbone.channels[3]
        head = [ConvBNAct(ch, ch, 3, norm_layer=norm, act=prelu())]
        if drop:
            head.append(nn.Dropout(drop))
        head.append(nn.Conv2d(ch, nclass, 1))
        self.head = nn.Sequential(*head)

    def features(self, x):
        return (self.backbone(x),)
