"""SeENet: Towards Bridging Semantic Gap to Improve Semantic Segmentation (Pang et al.,
ICCV 2019).

The original's ``SeENet``: dilated ResNet (always output stride 8; ``dilate`` ignored). Three
semantic-enhancement modules (SeE, a modified ASPP, 128 channels) chained over c2, [s2, c3] and
[s3, c4] (rates 1/2/4/8, 3/6/9/12, 7/13/19/25; the last with a GCN(3) in each branch), then
boundary attention with c1 and a 1x1 classifier. Aux: FCN head on c3.
As the original, the boundary attention hard-codes c1 = 256 channels and the aux head c3 = 1024,
so only ResNet-50/101/152 fit; the SeE inputs follow the backbone.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .base import ALL_STAGES, SegmentationModel
from .layers import GCN, ConvBNAct, FCNHead, check_channels, resize


class SeEModule(nn.Module):
    """Four branches [CBR(1, c) -> (GCN(c, 3) if ``full_sample``) -> CBR(3, c, dilation r)];
    concat(input, branches) -> CBR(1, c)."""

    def __init__(self, in_ch, channels=128, rates=(1, 2, 4, 8), norm_layer=nn.BatchNorm2d,
                 full_sample=False):
        super().__init__()

        def branch(rate):
            layers = [ConvBNAct(in_ch, channels, 1, norm_layer=norm_layer)]
            if full_sample:
                layers.append(GCN(channels, channels, 3))
            layers.append(ConvBNAct(channels, channels, 3, dilation=rate, norm_layer=norm_layer))
            return nn.Sequential(*layers)
        self.branches = nn.ModuleList(branch(r) for r in rates)
        self.proj = ConvBNAct(in_ch + len(rates) * channels, channels, 1, norm_layer=norm_layer)

    def forward(self, x):
        return self.proj(torch.cat([x, *(b(x) for b in self.branches)], 1))


class BoundaryAttention(nn.Module):
    """a = sigmoid(BN(1x1 conv(high))) (low's width); low' = CBR(3)(CBR(1)(low * (1 - a)));
    out = 1x1 conv+b(Dropout(CBR(3)(high + low')))."""

    def __init__(self, nclass, low_ch=256, high_ch=128, norm_layer=nn.BatchNorm2d, drop=0.1):
        super().__init__()
        self.conv1x1 = ConvBNAct(high_ch, low_ch, 1, norm_layer=norm_layer, act=nn.Sigmoid())
        self.fconv1x1 = ConvBNAct(low_ch, high_ch, 1, norm_layer=norm_layer)
        self.fconv3x3 = ConvBNAct(high_ch, high_ch, 3, norm_layer=norm_layer)
        self.cconv3x3 = ConvBNAct(high_ch, high_ch, 3, norm_layer=norm_layer)
        self.drop = nn.Dropout(drop)
        self.cconv1x1 = nn.Conv2d(high_ch, nclass, 1)

    def forward(self, high, low):
        low = self.fconv3x3(self.fconv1x1(low * (1 - self.conv1x1(high))))
        return self.cconv1x1(self.drop(self.cconv3x3(high + low)))


class SeEHead(nn.Module):
    def __init__(self, nclass, stage_channels, norm_layer=nn.BatchNorm2d):
        super().__init__()
        _, c2, c3, c4 = stage_channels
        self.seemc2 = SeEModule(c2, 128, (1, 2, 4, 8), norm_layer)
        self.seemc3 = SeEModule(128 + c3, 128, (3, 6, 9, 12), norm_layer)
        self.seemc4 = SeEModule(128 + c4, 128, (7, 13, 19, 25), norm_layer, full_sample=True)
        self.bam = BoundaryAttention(nclass, 256, 128, norm_layer)

    def forward(self, c1, c2, c3, c4):
        s = self.seemc2(c2)
        s = self.seemc3(torch.cat([s, c3], 1))
        s = self.seemc4(torch.cat([s, c4], 1))
        return self.bam(resize(s, c1.shape[-2:]), c1)


@register_model("SeENet", aliases=("seenet", "see"))
class SeENet(SegmentationModel):
    """Output stride 8 (``dilate`` ignored); outputs (main, aux(c3)); ResNet-50/101/152 (the
    c1 and aux widths are hard-coded; the aux check applies only with ``aux``)."""
    fixed_stride = 8
    head_stages = ALL_STAGES

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        check_channels("SeENet", self.backbone, c1=256, **({"c3": 1024} if aux else {}))
        self.head = SeEHead(nclass, self.backbone.channels, norm)
        self.aux_head = FCNHead(1024, nclass, norm) if aux else None
