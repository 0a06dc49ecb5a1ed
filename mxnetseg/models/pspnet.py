"""PSPNet: Pyramid Scene Parsing Network (Zhao et al., CVPR 2017).

The original's ``PSPNet``: a dilated ResNet (always output stride 8), pyramid pooling on c4
(bins 1, 2, 3, 6) and an FCN head on the 4096-channel concat; auxiliary FCN head on c3.
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import FCNHead, PPModule, check_channels


@register_model("PSPNet", aliases=("psp", "pspnet"))
class PSPNet(SegmentationModel):
    """``dilate`` is ignored and the output stride is 8, as in the original. The head's input
    (2048, so 4096 after pooling) and the aux head's (1024) are hard-coded as the original's,
    so only ResNet-50/101/152 fit. Head: PPM (CBR(1, 512) per bin) -> FCNHead (CBR(3, 256)).
    GluonCV's PSPNet (``psp_resnet*`` zoo names) is the same with ``head_channels=512``."""
    fixed_stride = 8

    def build(self, nclass, aux, norm, trunk, head_channels=None):
        self.backbone = trunk.resnet()
        check_channels("PSPNet", self.backbone, c3=1024, c4=2048)
        pool = PPModule(2048, norm, reduction=4)
        self.head = nn.Sequential(OrderedDict(
            pool=pool, seg_head=FCNHead(pool.out_channels, nclass, norm, inter=head_channels)))
        self.aux_head = FCNHead(1024, nclass, norm) if aux else None
