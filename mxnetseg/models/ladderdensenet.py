"""Ladder-style DenseNet (Krešo, Šegvić & Krapac, ICCV Workshops 2017).

The original's ``LadderDenseNet``: a DenseNet-121/161/169/201 trunk (output stride 32; the
original has no dilated variant, so ``dilate`` is ignored), c4 compressed by CBR(1, 128), then
three lateral fusions (upsample + CBR(1, 128) of c3, c2, c1 -> CBR(3, 128)) and an FCN head
(inter 128) at stride 4. The aux FCN head (inter 128) classifies the compressed c4.
Faithful layer for layer; the only difference is the default ``aux=False`` (the original's is
True), as for every model here.
"""
from __future__ import annotations

import torch.nn as nn

from . import register_model
from .base import ALL_STAGES, SegmentationModel
from .densenet import DenseNetBackbone
from .layers import ConvBNAct, FCNHead, LateralFusion


class LadderHead(nn.Module):
    """Returns (logits at c1's stride, the compressed c4 that feeds the aux head)."""

    def __init__(self, nclass, channels, capacity=128, norm_layer=nn.BatchNorm2d):
        super().__init__()
        c1, c2, c3, c4 = channels
        self.conv_c4 = ConvBNAct(c4, capacity, 1, norm_layer=norm_layer)
        self.fusion_c3 = LateralFusion(c3, capacity, norm_layer)
        self.fusion_c2 = LateralFusion(c2, capacity, norm_layer)
        self.fusion_c1 = LateralFusion(c1, capacity, norm_layer)
        self.seg_head = FCNHead(capacity, nclass, norm_layer)

    def forward(self, c1, c2, c3, c4):
        c4 = self.conv_c4(c4)
        out = self.fusion_c1(self.fusion_c2(self.fusion_c3(c4, c3), c2), c1)
        return self.seg_head(out), c4


@register_model("LadderDenseNet", aliases=("ladderdensenet", "ladder", "ladder_densenet"))
class LadderDenseNet(SegmentationModel):
    """``backbone``: densenet121 | densenet161 | densenet169 | densenet201. The aux FCNHead
    reads the head's projected c4."""
    default_backbone = "densenet121"
    fixed_stride = 32
    head_stages = ALL_STAGES
    aux_stages = (1,)   # of the head's (logits, projected c4)

    def build(self, nclass, aux, norm, trunk):
        self.backbone = DenseNetBackbone(trunk.name, trunk.norm_layer, trunk.pretrained)
        capacity = 128
        self.head = LadderHead(nclass, self.backbone.channels, capacity, norm)
        self.aux_head = FCNHead(capacity, nclass, norm) if aux else None

    def heads(self, feats):
        out = self.head(*feats)
        return [out[0], *self.aux_outputs(out)]
