"""ACFNet: Attentional Class Feature Network (Zhang et al., ICCV 2019).

The original's ``ACFNet``: a dilated ResNet (always output stride 8); on c4 an ASPP (512
channels, rates 12/24/36, no image-pooling branch, Dropout 0.5) feeds a coarse FCN classifier;
the attentional class feature (ACF) module pools the ASPP features per class with attention
derived from the coarse logits; main = FCNHead on concat(ASPP, ACF). With aux the outputs are
(main, coarse, aux(c3)).

Faithful: the ACF module works on the coarse head's **raw logits** (no softmax over classes
before the class-feature product), as the original does (the paper uses class probabilities).
Any ResNet works: the ASPP takes c4's width, everything after it is 512/1024 wide.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import ASPPModule, ConvBNAct, FCNHead


class ACFModule(nn.Module):
    """F = CBR(1)(x) as (N, C', HW); P = coarse logits (N, K, HW); E = P F^T (N, K, C');
    A = softmax over C' of (rowmax(E) - E); out = CBR(1)(A^T P reshaped to (N, C', H, W))."""

    def __init__(self, in_ch=512, channels=512, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv_1 = ConvBNAct(in_ch, channels, 1, norm_layer=norm_layer)
        self.conv_2 = ConvBNAct(channels, channels, 1, norm_layer=norm_layer)

    def forward(self, x, coarse):
        x = self.conv_1(x)
        feat = x.flatten(2)                                                    # N C' HW
        prob = coarse.flatten(2)                                               # N K HW
        energy = prob @ feat.transpose(1, 2)                                   # N K C'
        attn = torch.softmax(energy.amax(-1, keepdim=True) - energy, dim=-1)
        out = attn.transpose(1, 2) @ prob                                      # N C' HW
        return self.conv_2(out.view_as(x))


class ACFHead(nn.Module):
    """ASPP(512, rates 12/24/36, no pool) -> coarse FCNHead; ACF; FCNHead on concat (1024).
    Returns (logits, coarse logits)."""

    def __init__(self, nclass, in_ch, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.aspp = ASPPModule(in_ch, 512, norm_layer, rates=(12, 24, 36), pool_branch=False)
        self.coarse_head = FCNHead(512, nclass, norm_layer)
        self.acf = ACFModule(512, 512, norm_layer)
        self.head = FCNHead(1024, nclass, norm_layer)

    def forward(self, x):
        feat = self.aspp(x)
        coarse = self.coarse_head(feat)
        out = self.head(torch.cat([feat, self.acf(feat, coarse)], dim=1))
        return out, coarse


@register_model("ACFNet", aliases=("acfnet", "acf"))
class ACFNet(SegmentationModel):
    """``dilate`` is ignored (output stride 8, as the original). Outputs (main, coarse,
    aux(c3)) with aux, the aux head an FCNHead on c3."""
    fixed_stride = 8

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        c3_ch, c4_ch = self.backbone.channels[2:]
        self.head = ACFHead(nclass, c4_ch, norm)
        self.aux_head = FCNHead(c3_ch, nclass, norm) if aux else None

    def heads(self, feats):
        out, coarse = self.head(feats[-1])
        return [out, coarse, *self.aux_outputs(feats)] if self.aux_head is not None else [out]
