"""Semantic FPN: the semantic branch of Panoptic FPN (Kirillov et al., CVPR 2019).

The original's ``SemanticFPN``: ResNet at output stride 32 (``dilate`` ignored) and no aux head
(``aux`` ignored), as the original forces both. FPN (256): p5 = CBR(1)(c4), then top-down
lateral fusions with c3, c2, c1. Semantic branch (128): p5 -> 3 x [CBR(3) -> up], p4 -> 2 x,
p3 -> 1 x, p2 -> CBR(3); the four summed at stride 4 -> 1x1 conv with bias. Any trunk works
(every input width follows the backbone). Norm = the chosen norm (the paper used GN).

Difference: the original's "up" is a fixed x2 bilinear step, so only sides divisible by 32 work
there; here each step resizes to the next pyramid level's size (the same thing at multiples of
32), so any input size works.
"""
from __future__ import annotations

import torch.nn as nn

from . import register_model
from .base import ALL_STAGES, SegmentationModel
from .layers import ConvBNAct, LateralFusion, resize


class FPNBranch(nn.Module):
    """c1..c4 -> (p5, p4, p3, p2), all ``capacity`` channels."""

    def __init__(self, channels, capacity=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        c1, c2, c3, c4 = channels
        self.conv = ConvBNAct(c4, capacity, 1, norm_layer=norm_layer)
        self.lateral16x = LateralFusion(c3, capacity, norm_layer)
        self.lateral8x = LateralFusion(c2, capacity, norm_layer)
        self.lateral4x = LateralFusion(c1, capacity, norm_layer)

    def forward(self, c1, c2, c3, c4):
        p5 = self.conv(c4)
        p4 = self.lateral16x(p5, c3)
        p3 = self.lateral8x(p4, c2)
        return p5, p4, p3, self.lateral4x(p3, c1)


class SemanticBranch(nn.Module):
    """Each level climbs to stride 4 by ``CBR(3) -> upsample`` steps (3, 2, 1, 0 of them; the
    stride-4 level gets one CBR(3) without upsampling); the four are summed."""

    def __init__(self, in_ch=256, capacity=128, norm_layer=nn.BatchNorm2d):
        super().__init__()

        def steps(n):
            return nn.ModuleList(ConvBNAct(in_ch if i == 0 else capacity, capacity, 3,
                                           norm_layer=norm_layer) for i in range(n))
        self.scale_p5 = steps(3)
        self.scale_p4 = steps(2)
        self.scale_p3 = steps(1)
        self.scale_p2 = ConvBNAct(in_ch, capacity, 3, norm_layer=norm_layer)

    @staticmethod
    def _climb(x, convs, sizes):
        for conv, size in zip(convs, sizes):
            x = resize(conv(x), size)
        return x

    def forward(self, p5, p4, p3, p2):
        sizes = [p.shape[-2:] for p in (p4, p3, p2)]
        return (self._climb(p5, self.scale_p5, sizes) + self._climb(p4, self.scale_p4, sizes[1:])
                + self._climb(p3, self.scale_p3, sizes[2:]) + self.scale_p2(p2))


class SemanticHead(nn.Module):
    def __init__(self, nclass, channels, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.fpn = FPNBranch(channels, 256, norm_layer)
        self.semantic = SemanticBranch(256, 128, norm_layer)
        self.seg = nn.Conv2d(128, nclass, 1)

    def forward(self, c1, c2, c3, c4):
        return self.seg(self.semantic(*self.fpn(c1, c2, c3, c4)))


@register_model("SemanticFPN", aliases=("semanticfpn", "fpn", "semantic_fpn"))
class SemanticFPN(SegmentationModel):
    """``aux`` and ``dilate`` are accepted and ignored (one output, output stride 32)."""
    fixed_stride = 32
    head_stages = ALL_STAGES

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        self.head = SemanticHead(nclass, self.backbone.channels, norm)
