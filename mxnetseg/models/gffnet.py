"""GFFNet: Gated Fully Fusion for Semantic Segmentation (Li et al., AAAI 2020).

The original's ``GFFNet``: dilated ResNet (always output stride 8; ``dilate`` ignored).
Pyramid pooling on c4 -> CBR(1, 256). Each level c1..c4 gets a gate (1x1 conv with bias ->
sigmoid, on the raw feature) and a reduction CBR(1, 256). Gated fusion, computed in order
1, 2, 3, 4 with each level using the ALREADY UPDATED earlier levels (as the original does):
``r_i <- r_i + g_i * r_i + (1 - g_i) * sum_{j != i} up(g_j * r_j)``. Each level then gets two
CBR(3, 256) and is resized to c1's size, as is the pooled context; the dense feature pyramid
(DFP) chains CBR(3, 256) blocks over growing concats and an FCN head (1280 -> 256) classifies
the final concat. Aux: FCN head on c3. Every input width follows the backbone, so any ResNet
works (the original reads the PPM input from the backbone as well).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .base import ALL_STAGES, SegmentationModel
from .layers import ConvBNAct, FCNHead, PPModule, resize


class DFPModule(nn.Module):
    """Dense feature pyramid: o4 = B([ppm, f4]); o3 = B([o4, f3, ppm]);
    o2 = B([o3, f2, o4, ppm]); o1 = B([o2, f1, o3, o4, ppm]); FCN head on
    [ppm, o4, o3, o2, o1]. ``blocks`` are in that order (the original's blk_4 .. blk_1)."""

    def __init__(self, nclass, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.blocks = nn.ModuleList(ConvBNAct((k + 2) * channels, channels, 3,
                                              norm_layer=norm_layer) for k in range(4))
        self.head = FCNHead(5 * channels, nclass, norm_layer)

    def forward(self, f1, f2, f3, f4, ppm):
        b4, b3, b2, b1 = self.blocks
        o4 = b4(torch.cat([ppm, f4], 1))
        o3 = b3(torch.cat([o4, f3, ppm], 1))
        o2 = b2(torch.cat([o3, f2, o4, ppm], 1))
        o1 = b1(torch.cat([o2, f1, o3, o4, ppm], 1))
        return self.head(torch.cat([ppm, o4, o3, o2, o1], 1))


class GFFHead(nn.Module):
    def __init__(self, nclass, stage_channels, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        c4_ch = stage_channels[3]
        pool = PPModule(c4_ch, norm_layer, reduction=4)
        self.ppm = nn.Sequential(pool, ConvBNAct(pool.out_channels, channels, 1,
                                                 norm_layer=norm_layer))
        self.reduce = nn.ModuleList(ConvBNAct(c, channels, 1, norm_layer=norm_layer)
                                    for c in stage_channels)
        self.gates = nn.ModuleList(ConvBNAct(c, channels, 1, bias=True, norm_layer=None,
                                             act=nn.Sigmoid()) for c in stage_channels)
        self.fusions = nn.ModuleList(
            nn.Sequential(ConvBNAct(channels, channels, 3, norm_layer=norm_layer),
                          ConvBNAct(channels, channels, 3, norm_layer=norm_layer))
            for _ in stage_channels)
        self.dfp = DFPModule(nclass, channels, norm_layer)

    def forward(self, *feats):
        ppm = self.ppm(feats[3])
        gates = [gate(f) for gate, f in zip(self.gates, feats)]
        levels = [reduce(f) for reduce, f in zip(self.reduce, feats)]
        for i, (g, r) in enumerate(zip(gates, levels)):
            others = sum(resize(gates[j] * levels[j], r.shape[-2:])
                         for j in range(len(levels)) if j != i)
            levels[i] = r + g * r + (1 - g) * others      # later levels see this update
        size = levels[0].shape[-2:]
        fused = [resize(fusion(r), size) for fusion, r in zip(self.fusions, levels)]
        return self.dfp(*fused, resize(ppm, size))


@register_model("GFFNet", aliases=("gffnet", "gff"))
class GFFNet(SegmentationModel):
    """Output stride 8 (``dilate`` ignored); outputs (main, aux(c3)); any ResNet."""
    fixed_stride = 8
    head_stages = ALL_STAGES

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        self.head = GFFHead(nclass, self.backbone.channels, 256, norm)
        self.aux_head = FCNHead(self.backbone.channels[2], nclass, norm) if aux else None
