"""SwiftNet: In Defense of Pre-trained ImageNet Architectures for Real-time Semantic
Segmentation of Road-driving Images (Orsic et al., CVPR 2019).

The original's two ResNet variants, both at output stride 32 (``dilate`` is ignored):

- ``SwiftResNet`` (SwiftNet-single): pyramid pooling on c4 -> CBR(1, 256) -> U-shaped lateral
  fusion with c3, c2, c1 -> FCN head at stride 4; aux FCN head on c3.
- ``SwiftResNetPr`` (SwiftNet-pyramid, interleaved pyramid fusion): the same backbone runs on
  the image and on the image at half size; each decoder stage fuses the concat of the
  half-scale feature and the full-scale feature of the same resolution (128 channels);
  aux head (CBR(1, 256) -> 1x1) on c3 of the full-scale image.

Differences from the original, none of them visible at its own input size (crop x crop):
the original halves its *crop size* for the second scale; we halve the input's height and
width at run time (floor, the same numbers when the input is the crop). Where an odd input size
makes a half-scale feature one pixel off its full-scale partner, we resize it to the partner
(align_corners=True) before the concat, which the original, fed crop-sized inputs, never needs.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .base import ALL_STAGES, SegmentationModel
from .layers import AuxHead, ConvBNAct, FCNHead, LateralFusion, PPModule, resize


class SwiftNetHead(nn.Module):
    """PPM(c4) -> CBR(1, capacity) -> lateral fusion with c3, c2, c1 -> FCNHead(capacity)."""

    def __init__(self, nclass, channels, capacity=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        c1_ch, c2_ch, c3_ch, c4_ch = channels
        self.ppool = PPModule(c4_ch, norm_layer, reduction=4)
        self.conv_c4 = ConvBNAct(self.ppool.out_channels, capacity, 1, norm_layer=norm_layer)
        self.fusion_c3 = LateralFusion(c3_ch, capacity, norm_layer)
        self.fusion_c2 = LateralFusion(c2_ch, capacity, norm_layer)
        self.fusion_c1 = LateralFusion(c1_ch, capacity, norm_layer)
        self.seg_head = FCNHead(capacity, nclass, norm_layer)

    def forward(self, c1, c2, c3, c4):
        out = self.conv_c4(self.ppool(c4))
        out = self.fusion_c3(out, c3)
        out = self.fusion_c2(out, c2)
        return self.seg_head(self.fusion_c1(out, c1))


@register_model("SwiftResNet", aliases=("swiftnet", "swift", "swiftresnet"))
class SwiftResNet(SegmentationModel):
    """SwiftNet-single on a ResNet, output stride 32. Outputs (main, aux(c3))."""
    default_backbone = "resnet18"
    fixed_stride = 32
    head_stages = ALL_STAGES

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        self.head = SwiftNetHead(nclass, self.backbone.channels, 256, norm)
        # the original builds it with deferred input channels: inter 256 whatever c3's width
        self.aux_head = (FCNHead(self.backbone.channels[2], nclass, norm, inter=256)
                         if aux else None)



class PyramidFusion(LateralFusion):
    """One SwiftNet-pyramid decoder stage: ``low`` = concat(half-scale feature, full-scale
    feature of the same resolution) (or the full-scale one alone for the last stage), then
    ``CBR(3)(up(high -> low) + CBR(1)(low))``."""

    def forward(self, high, full, half=None):
        if half is not None:
            full = torch.cat([resize(half, full.shape[-2:]), full], dim=1)
        return super().forward(high, full)


class SwiftNetPyramidHead(nn.Module):
    """p = CBR(1, capacity)(c4 of the half-scale image) (stride 64); fused with (c3h, c4) at
    1/32, (c2h, c3) at 1/16, (c1h, c2) at 1/8, then c1 alone at 1/4 -> FCNHead(capacity)."""

    def __init__(self, nclass, channels, capacity=128, norm_layer=nn.BatchNorm2d):
        super().__init__()
        c1_ch, c2_ch, c3_ch, c4_ch = channels
        self.conv1x1 = ConvBNAct(c4_ch, capacity, 1, norm_layer=norm_layer)
        self.fusion_32x = PyramidFusion(c3_ch + c4_ch, capacity, norm_layer)
        self.fusion_16x = PyramidFusion(c2_ch + c3_ch, capacity, norm_layer)
        self.fusion_8x = PyramidFusion(c1_ch + c2_ch, capacity, norm_layer)
        self.final = PyramidFusion(c1_ch, capacity, norm_layer)
        self.seg_head = FCNHead(capacity, nclass, norm_layer)

    def forward(self, full, half):
        c1, c2, c3, c4 = full
        c1h, c2h, c3h, c4h = half
        out = self.conv1x1(c4h)
        out = self.fusion_32x(out, c4, c3h)
        out = self.fusion_16x(out, c3, c2h)
        out = self.fusion_8x(out, c2, c1h)
        return self.seg_head(self.final(out, c1))


@register_model("SwiftResNetPr", aliases=("swiftnetpr", "swift_pr", "swiftresnetpr"))
class SwiftResNetPr(SegmentationModel):
    """SwiftNet-pyramid on a ResNet (one backbone shared by both scales), output stride 32.
    The half scale is the input resized to (H // 2, W // 2). Outputs (main, aux(c3 of 1.0x))."""
    default_backbone = "resnet18"
    fixed_stride = 32

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        self.head = SwiftNetPyramidHead(nclass, self.backbone.channels, 128, norm)
        self.aux_head = (AuxHead(self.backbone.channels[2], nclass, norm, inter=256)
                         if aux else None)

    def features(self, x):
        h, w = x.shape[-2:]
        return self.backbone(x), self.backbone(resize(x, (h // 2, w // 2)))

    def heads(self, feats):
        full, half = feats
        return [self.head(full, half), *self.aux_outputs(full)]
