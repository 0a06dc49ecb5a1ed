"""DenseASPP for Semantic Segmentation in Street Scenes (Yang et al., CVPR 2018).

The original's ``DenseASPP``: dilated ResNet (always output stride 8), a DenseASPP block
(rates 3/6/12/18/24) on c4 and an FCN head; auxiliary FCN head on c3.
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import DenseASPPModule, FCNHead, check_channels


@register_model("DenseASPP", aliases=("denseaspp",))
class DenseASPP(SegmentationModel):
    """``dilate`` is ignored (output stride 8, as the original). Input channels are hard-coded
    as the original's (2048 into DenseASPP, 3328 into its projection, 1024 into the aux head),
    so only ResNet-50/101/152 fit."""
    fixed_stride = 8

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        check_channels("DenseASPP", self.backbone, c3=1024, c4=2048)
        self.head = nn.Sequential(OrderedDict(
            dense_aspp=DenseASPPModule(2048, 256, norm), head=FCNHead(256, nclass, norm)))
        self.aux_head = FCNHead(1024, nclass, norm) if aux else None
