"""Attention to Scale: Scale-Aware Semantic Image Segmentation (Chen et al., CVPR 2016).

The original's ``AttentionToScale``: one dilated ResNet (output stride 8) runs on the image and
on the image at half size; one shared FCN head scores both c4 maps, and a learned per-pixel
sigmoid weight w mixes them: w * score(1.0x) + (1 - w) * score(0.5x upsampled).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import AuxHead, ConvBNAct, FCNHead, resize


class AttentionHead(nn.Module):
    """Only the original's sigmoid variant: its 2-way softmax variant is unreachable there
    (the constructor never turns it on)."""

    def __init__(self, nclass, in_ch, norm_layer=nn.BatchNorm2d):
        super().__init__()
        # the original builds these with deferred input channels: FCNHead inter is then 256
        self.seg_head = FCNHead(in_ch, nclass, norm_layer, inter=256)
        self.conv3x3 = ConvBNAct(2 * in_ch, 512, 3, norm_layer=norm_layer)
        self.conv1x1 = nn.Conv2d(512, 1, 1)

    def forward(self, c4, c4h):
        c4h = resize(c4h, c4.shape[-2:])
        weight = torch.sigmoid(self.conv1x1(self.conv3x3(torch.cat([c4, c4h], dim=1))))
        return weight * self.seg_head(c4) + (1 - weight) * self.seg_head(c4h)


@register_model("AttentionToScale", aliases=("att2scale", "attention2scale"))
class AttentionToScale(SegmentationModel):
    """``dilate`` is ignored (output stride 8, as the original). The original halves its fixed
    crop size for the second scale; we halve the input's size (the same for crop-sized inputs).
    Aux (AuxHead, inter 256) on c4 of the 1.0x and of the 0.5x input: (main, aux1.0x, aux0.5x).
    """
    fixed_stride = 8
    head_stages = (0, 1)
    aux_stages = (0, 1)

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        c4_ch = self.backbone.channels[3]
        self.head = AttentionHead(nclass, c4_ch, norm)
        self.aux_head = nn.ModuleList(AuxHead(c4_ch, nclass, norm, inter=256)
                                      for _ in range(2)) if aux else None

    def features(self, x):
        h, w = x.shape[-2:]
        return self.backbone(x)[3], self.backbone(resize(x, (h // 2, w // 2)))[3]
