"""FCN: Fully Convolutional Networks for Semantic Segmentation (Long et al., CVPR 2015).

The original's ``FCNResNet``: an FCN-32s style head on the last backbone stage (c4) and an
auxiliary FCN head on c3, logits bilinearly upsampled to the input size.
"""
from __future__ import annotations

import torch.nn as nn

from . import register_model
from .backbones import ResNetBackbone
from .layers import FCNHead, get_norm_layer, resize


@register_model("FCNResNet", aliases=("fcn", "fcn_resnet"))
class FCNResNet(nn.Module):
    def __init__(self, nclass, backbone="resnet50", aux=False, dilate=False, norm_layer="BN",
                 pretrained_base=False, output_stride=None, drop=0.1):
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.backbone = ResNetBackbone(backbone, output_stride or (8 if dilate else 32),
                                       norm_layer, pretrained_base)
        c3_ch, c4_ch = self.backbone.channels[2:]
        self.head = FCNHead(c4_ch, nclass, norm, drop)
        self.aux_head = FCNHead(c3_ch, nclass, norm, drop) if aux else None

    def forward(self, x):
        size = x.shape[-2:]
        _, _, c3, c4 = self.backbone(x)
        out = [resize(self.head(c4), size)]
        if self.aux_head is not None:
            out.append(resize(self.aux_head(c3), size))
        return tuple(out)
