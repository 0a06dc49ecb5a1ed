"""AlignSeg: Feature-Aligned Segmentation Networks (Huang et al., TPAMI 2021).

The original's ``AlignSeg``: a ResNet at output stride 32 (``dilate`` ignored). The aligned
context module (AlignCM) warps a pooled-context branch of c4 onto a local branch; four
feature-alignment blocks then fuse, coarse to fine, (c2 into c1), (c3 into that), (c4 into that)
and (AlignCM(c4) into that), each warping both inputs with learned flows before summing; a
residual conv block (RCBlock) and an FCN head classify at stride 4. Aux: FCNHead on c4.

Warping (MXNet ``GridGenerator(transform_type='warp')`` + ``BilinearSampler``): the flow is in
pixels (channel 0 along the width, 1 along the height), added to each pixel's own coordinates;
samples are bilinear with zeros outside the map. We normalise the coordinates for
``grid_sample(align_corners=False)`` as (2x + 1) / W - 1, which addresses exactly the same pixel
positions as the original's 2x / (W - 1) - 1 with ``align_corners=True`` and stays defined on
1-pixel-wide maps (where the original divides by zero).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model
from .base import ALL_STAGES, SegmentationModel
from .layers import ConvBNAct, FCNHead, resize


def flow_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` (N, C, H, W) at (col + flow[:, 0], row + flow[:, 1]) bilinearly, zeros
    outside; ``flow`` is (N, 2, H, W) in pixels."""
    h, w = x.shape[-2:]
    rows = torch.arange(h, dtype=flow.dtype, device=flow.device).view(h, 1)
    cols = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, w)
    gx = (2 * (cols + flow[:, 0]) + 1) / w - 1
    gy = (2 * (rows + flow[:, 1]) + 1) / h - 1
    return F.grid_sample(x, torch.stack([gx, gy], dim=-1), mode="bilinear",
                         padding_mode="zeros", align_corners=False)


class RCBlock(nn.Module):
    """Residual conv block: x' = 1x1 conv (no bias, no norm); CBR(3, C/4) -> 3x3 conv (no bias)
    -> norm(. + x') -> ReLU."""

    def __init__(self, in_ch, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_ch, channels, 1, bias=False)
        self.conv3x3_1 = ConvBNAct(channels, channels // 4, 3, norm_layer=norm_layer)
        self.conv3x3_2 = nn.Conv2d(channels // 4, channels, 3, padding=1, bias=False)
        self.bn = norm_layer(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv1x1(x)
        return self.relu(self.bn(self.conv3x3_2(self.conv3x3_1(x)) + x))


class AlignFA(nn.Module):
    """Flow from concat(up(coarse -> fine), fine) by CBR(1) -> 3x3 conv (4 ch, no bias);
    channels 0-1 warp the fine map, 2-3 the upsampled coarse one; the two are summed."""

    def __init__(self, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.delta = nn.Sequential(ConvBNAct(2 * channels, channels, 1, norm_layer=norm_layer),
                                   nn.Conv2d(channels, 4, 3, padding=1, bias=False))

    def forward(self, coarse, fine):
        coarse = resize(coarse, fine.shape[-2:])
        flow_fine, flow_coarse = self.delta(torch.cat([coarse, fine], dim=1)).chunk(2, dim=1)
        return flow_warp(fine, flow_fine) + flow_warp(coarse, flow_coarse)


class AlignBlock(nn.Module):
    """RCBlock on the coarse and on the fine input, then ``AlignFA``."""

    def __init__(self, coarse_ch, fine_ch, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.rcb_1 = RCBlock(coarse_ch, channels, norm_layer)
        self.rcb_2 = RCBlock(fine_ch, channels, norm_layer)
        self.align = AlignFA(channels, norm_layer)

    def forward(self, coarse, fine):
        return self.align(self.rcb_1(coarse), self.rcb_2(fine))


class AlignCM(nn.Module):
    """high = up(CBR(1)(adaptive avg pool 3x3 of x)); low = CBR(3)(x); high is warped by a flow
    (CBR(1) -> 3x3 conv, 2 ch) from concat(high, low); returns concat(high, low) (2C ch)."""

    def __init__(self, in_ch, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1x1 = ConvBNAct(in_ch, channels, 1, norm_layer=norm_layer)
        self.conv3x3 = ConvBNAct(in_ch, channels, 3, norm_layer=norm_layer)
        self.delta = nn.Sequential(ConvBNAct(2 * channels, channels, 1, norm_layer=norm_layer),
                                   nn.Conv2d(channels, 2, 3, padding=1, bias=False))

    def forward(self, x):
        high = resize(self.conv1x1(F.adaptive_avg_pool2d(x, 3)), x.shape[-2:])
        low = self.conv3x3(x)
        high = flow_warp(high, self.delta(torch.cat([high, low], dim=1)))
        return torch.cat([high, low], dim=1)


class AlignHead(nn.Module):
    def __init__(self, nclass, in_channels, channels=256, norm_layer=nn.BatchNorm2d):
        super().__init__()
        c1, c2, c3, c4 = in_channels
        self.align_cm = AlignCM(c4, channels, norm_layer)
        self.align_1 = AlignBlock(c2, c1, channels, norm_layer)
        self.align_2 = AlignBlock(c3, channels, channels, norm_layer)
        self.align_3 = AlignBlock(c4, channels, channels, norm_layer)
        self.align_4 = AlignBlock(2 * channels, channels, channels, norm_layer)
        self.rcb = RCBlock(channels, channels, norm_layer)
        self.head = FCNHead(channels, nclass, norm_layer)

    def forward(self, c1, c2, c3, c4):
        out = self.align_1(c2, c1)
        out = self.align_2(c3, out)
        out = self.align_3(c4, out)
        out = self.align_4(self.align_cm(c4), out)
        return self.head(self.rcb(out))


@register_model("AlignSeg", aliases=("alignseg",))
class AlignSeg(SegmentationModel):
    """``dilate`` is ignored (output stride 32, as the original). Outputs (main, aux(c4)).
    The original's constructor defaults to ``aux=True``; ours to False like every model."""
    fixed_stride = 32
    head_stages = ALL_STAGES
    aux_stages = (3,)   # the aux head reads c4

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        self.head = AlignHead(nclass, self.backbone.channels, 256, norm)
        self.aux_head = FCNHead(self.backbone.channels[3], nclass, norm) if aux else None
