"""FaPN: Feature-aligned Pyramid Network for Dense Image Prediction (Huang et al., ICCV 2021).

The original's ``FaPN``: a ResNet at output stride 32 (``dilate`` ignored); p = CBR(1, 256)(c4),
then a feature-alignment (FA) module for c3, c2 and c1 in turn: the feature-selection module
(FSM) re-weights and projects the lateral feature, a CBR(1) on concat(lateral, up(p)) gives
"offset" features, and a modulated deformable 3x3 conv (DCNv2, 8 deformable groups) on
concat(up(p), offset features) aligns them; ReLU, plus the lateral. FCN head at stride 4; aux
FCNHead on c3.

Faithful to the original: its deformable conv is MXNet's Gluon ``ModulatedDeformableConvolution``,
which owns its own offset conv (3x3 + bias, zero-initialised) run on the deformable conv's input
(the 512-channel concat): 144 offset channels then 72 mask channels, mask = 2 * sigmoid. The
channel layouts are the same as torchvision's ``deform_conv2d`` (per deformable group, per
kernel tap: (dy, dx); masks per group, per tap), checked against the original numerically.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torchvision.ops import deform_conv2d

from . import register_model
from .base import ALL_STAGES, SegmentationModel
from .layers import ConvBNAct, FCNHead, resize


class ModulatedDeformConv(nn.Module):
    """MXNet Gluon's ``ModulatedDeformableConvolution``: ``conv_offset`` (k x k, bias, zero init)
    on the input gives 2*g*k*k offsets then g*k*k mask logits (mask = 2 * sigmoid); the main
    k x k conv (with bias) samples the input at the offset taps."""

    def __init__(self, in_ch, out_ch, kernel_size=3, padding=1, deformable_groups=8):
        super().__init__()
        taps = deformable_groups * kernel_size * kernel_size
        self.padding = padding
        self.split = 2 * taps
        self.conv_offset = nn.Conv2d(in_ch, 3 * taps, kernel_size, padding=padding)
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_ch))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.zeros_(self.bias)

    def forward(self, x):
        offset, mask = self.conv_offset(x).split([self.split, self.split // 2], dim=1)
        return deform_conv2d(x, offset, self.weight, self.bias, padding=self.padding,
                             mask=2 * torch.sigmoid(mask))


class FSModule(nn.Module):
    """Feature selection: s = CB-sigmoid(1)(GAP(x)); out = ReLU(conv1x1(x * s + x)), the 1x1
    conv without bias or norm."""

    def __init__(self, in_ch, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvBNAct(in_ch, in_ch, 1, norm_layer=norm_layer, act=nn.Sigmoid())
        self.conv2 = ConvBNAct(in_ch, channels, 1, norm_layer=None)

    def forward(self, x):
        return self.conv2(x * self.conv1(self.gap(x)) + x)


class FAModule(nn.Module):
    """low = FSM(lateral); high = up(x -> low); off = CBR(1)(concat(low, high));
    out = ReLU(MDCN(concat(high, off))) + low."""

    def __init__(self, in_ch, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.fsm = FSModule(in_ch, channels, norm_layer)
        self.offset = ConvBNAct(2 * channels, channels, 1, norm_layer=norm_layer)
        self.align = ModulatedDeformConv(2 * channels, channels, 3, 1, deformable_groups=8)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x, lateral):
        low = self.fsm(lateral)
        high = resize(x, low.shape[-2:])
        offset = self.offset(torch.cat([low, high], dim=1))
        return self.relu(self.align(torch.cat([high, offset], dim=1))) + low


class FaPNHead(nn.Module):
    def __init__(self, nclass, in_channels, capacity=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        c1, c2, c3, c4 = in_channels
        self.conv = ConvBNAct(c4, capacity, 1, norm_layer=norm_layer)
        self.align_c3 = FAModule(c3, capacity, norm_layer)
        self.align_c2 = FAModule(c2, capacity, norm_layer)
        self.align_c1 = FAModule(c1, capacity, norm_layer)
        self.seg = FCNHead(capacity, nclass, norm_layer)

    def forward(self, c1, c2, c3, c4):
        out = self.align_c3(self.conv(c4), c3)
        out = self.align_c2(out, c2)
        return self.seg(self.align_c1(out, c1))


@register_model("FaPN", aliases=("fapn",))
class FaPN(SegmentationModel):
    """``dilate`` is ignored (output stride 32, as the original). Outputs (main, aux(c3)); the
    aux FCNHead is built with deferred input channels in the original, so its inter is 256
    whatever c3's width."""
    fixed_stride = 32
    head_stages = ALL_STAGES

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        self.head = FaPNHead(nclass, self.backbone.channels, 256, norm)
        self.aux_head = FCNHead(self.backbone.channels[2], nclass, norm, inter=256) \
            if aux else None
