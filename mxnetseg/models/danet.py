"""DANet: Dual Attention Network for Scene Segmentation (Fu et al., CVPR 2019).

The original's ``DANet``: dilated ResNet (always output stride 8); on c4 a position-attention
branch and a channel-attention branch (each CBR(3) -> attention -> CBR(3) at c4/4 channels),
summed and classified. With aux, each branch is also classified on its own: (main, pam, cam).
"""
from __future__ import annotations

import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import ChannelAttention, ConvBNAct, SelfAttentionModule


def _classifier(in_ch, nclass):
    return nn.Sequential(nn.Dropout(0.1), nn.Conv2d(in_ch, nclass, 1))


class DANetHead(nn.Module):
    """Returns (logits, pam feature, cam feature); the features feed the aux classifiers."""

    def __init__(self, nclass, in_ch, norm_layer=nn.BatchNorm2d):
        super().__init__()
        inter = in_ch // 4
        self.compress_pam = ConvBNAct(in_ch, inter, 3, norm_layer=norm_layer)
        self.pam = SelfAttentionModule(inter)
        self.proj_pam = ConvBNAct(inter, inter, 3, norm_layer=norm_layer)
        self.compress_cam = ConvBNAct(in_ch, inter, 3, norm_layer=norm_layer)
        self.cam = ChannelAttention()
        self.proj_cam = ConvBNAct(inter, inter, 3, norm_layer=norm_layer)
        self.head = _classifier(inter, nclass)

    def forward(self, x):
        pam = self.proj_pam(self.pam(self.compress_pam(x)))
        cam = self.proj_cam(self.cam(self.compress_cam(x)))
        return self.head(pam + cam), pam, cam


@register_model("DANet", aliases=("danet",))
class DANet(SegmentationModel):
    """``dilate`` is ignored (output stride 8, as the original). The head width follows the
    backbone (c4 / 4), so any ResNet works. Aux = Dropout 0.1 -> 1x1 conv on each branch."""
    fixed_stride = 8
    aux_stages = (1, 2)   # of the head's (logits, pam, cam)

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        c4_ch = self.backbone.channels[3]
        self.head = DANetHead(nclass, c4_ch, norm)
        self.aux_head = nn.ModuleList(_classifier(c4_ch // 4, nclass) for _ in range(2)) \
            if aux else None

    def heads(self, feats):
        out = self.head(feats[-1])
        return [out[0], *self.aux_outputs(out)]
