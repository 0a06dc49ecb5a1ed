"""AttaNet: Attention-Augmented Network for Fast and Accurate Scene Parsing (Song et al.,
AAAI 2021).

The original's ``AttaNet``: a ResNet at output stride 32 (``dilate`` ignored); the attention
fusion module (AFM) merges c4 into c3 (128 channels, stride 16), a CBR(3, 128) follows, then the
strip attention module (SAM) and an FCN head (inter 128). Aux: FCNHead on c3.

Faithful to the original (which differs from the paper in places): the AFM's gate is computed
from concat(**raw** c4 resized to c3, CBR(3)(c3)); the SAM's key and value are averaged over the
height (strips along the width), its softmax runs over the width, and it has no scale factor or
learnable gamma (out = attention + x).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import ConvBNAct, FCNHead, resize


class AttentionFusionModule(nn.Module):
    """low = CBR(3)(c3); w = CB-sigmoid(1)(GAP(CBR(1)(concat(up(c4 -> c3), low))));
    out = up(CBR(3)(c4) * w -> c3) + low * (1 - w)."""

    def __init__(self, high_ch, low_ch, channels=128, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv3x3_high = ConvBNAct(high_ch, channels, 3, norm_layer=norm_layer)
        self.conv3x3_low = ConvBNAct(low_ch, channels, 3, norm_layer=norm_layer)
        self.conv1x1_1 = ConvBNAct(high_ch + channels, channels, 1, norm_layer=norm_layer)
        self.conv1x1_2 = ConvBNAct(channels, channels, 1, norm_layer=norm_layer, act=nn.Sigmoid())
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, high, low):
        low = self.conv3x3_low(low)
        size = low.shape[-2:]
        weight = self.conv1x1_1(torch.cat([resize(high, size), low], dim=1))
        weight = self.conv1x1_2(self.gap(weight))
        high = self.conv3x3_high(high) * weight
        return resize(high, size) + low * (1 - weight)


class StripAttentionModule(nn.Module):
    """q = CBR(1, C/2)(x) (N, C/2, HW); k = mean over H of CBR(1, C/2)(x) (N, C/2, W);
    v = mean over H of CBR(1, C)(x) (N, C, W); A = softmax over W of q^T k (N, HW, W);
    out = v A^T reshaped + x."""

    def __init__(self, in_ch=128, norm_layer=nn.BatchNorm2d, reduction=2):
        super().__init__()
        self.query_conv = ConvBNAct(in_ch, in_ch // reduction, 1, norm_layer=norm_layer)
        self.key_conv = ConvBNAct(in_ch, in_ch // reduction, 1, norm_layer=norm_layer)
        self.value_conv = ConvBNAct(in_ch, in_ch, 1, norm_layer=norm_layer)

    def forward(self, x):
        query = self.query_conv(x).flatten(2)                                  # N C' HW
        key = self.key_conv(x).mean(dim=2)                                     # N C' W
        attn = torch.softmax(query.transpose(1, 2) @ key, dim=-1)              # N HW W
        value = self.value_conv(x).mean(dim=2)                                 # N C W
        return (value @ attn.transpose(1, 2)).view_as(x) + x


class AttaNetHead(nn.Module):
    """AFM(c4, c3) -> CBR(3, 128) -> SAM -> FCNHead(128) (inter 128)."""

    def __init__(self, nclass, c4_ch, c3_ch, channels=128, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.afm = AttentionFusionModule(c4_ch, c3_ch, channels, norm_layer)
        self.conv3x3 = ConvBNAct(channels, channels, 3, norm_layer=norm_layer)
        self.sam = StripAttentionModule(channels, norm_layer)
        self.seg = FCNHead(channels, nclass, norm_layer)

    def forward(self, c4, c3):
        return self.seg(self.sam(self.conv3x3(self.afm(c4, c3))))


@register_model("AttaNet", aliases=("attanet",))
class AttaNet(SegmentationModel):
    """``dilate`` is ignored (output stride 32, as the original). Outputs (main, aux(c3)).
    The original's constructor defaults to ``aux=True``; ours to False like every model (the
    config's ``aux`` key decides either way)."""
    default_backbone = "resnet18"
    fixed_stride = 32
    head_stages = (-1, -2)

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        c3_ch, c4_ch = self.backbone.channels[2:]
        self.head = AttaNetHead(nclass, c4_ch, c3_ch, 128, norm)
        self.aux_head = FCNHead(c3_ch, nclass, norm) if aux else None
