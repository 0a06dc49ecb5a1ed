"""BiSeNet: Bilateral Segmentation Network (Yu et al., ECCV 2018).

A spatial path (three stride-2 convs on the raw image, stride 8) and a context path (global
context + attention refinement of the two deepest backbone features), fused by the feature
fusion module and classified at stride 8. ``BiSeNetHead`` takes (image, second-deepest,
deepest feature) so the ResNet variant (c3, c4) and the Xception39 one (layer2, layer3) share it.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import ConvBNAct, FCNHead, GlobalFlow, only_backbone, resize
from .xception import Xception39


class SpatialPath(nn.Sequential):
    """CBR(7, 64)/2 -> CBR(3, 64)/2 -> CBR(3, 64)/2 -> CBR(1, 128): stride 8, 128 channels."""

    def __init__(self, out_ch=128, inter=64, norm_layer=nn.BatchNorm2d):
        super().__init__(ConvBNAct(3, inter, 7, 2, norm_layer=norm_layer),
                         ConvBNAct(inter, inter, 3, 2, norm_layer=norm_layer),
                         ConvBNAct(inter, inter, 3, 2, norm_layer=norm_layer),
                         ConvBNAct(inter, out_ch, 1, norm_layer=norm_layer))


class ARModule(nn.Module):
    """Attention refinement: CBR(3) -> x * sigmoid(BN(conv1x1(GAP(x))))."""

    def __init__(self, in_ch, out_ch=128, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv3x3 = ConvBNAct(in_ch, out_ch, 3, norm_layer=norm_layer)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.conv1x1 = ConvBNAct(out_ch, out_ch, 1, norm_layer=norm_layer, act=nn.Sigmoid())

    def forward(self, x):
        x = self.conv3x3(x)
        return x * self.conv1x1(self.gap(x))


class FFModule(nn.Module):
    """Feature fusion: f = CBR(1)(concat); s = CB-sigmoid(1)(CBR(1)(GAP(f))); out = f * s + f."""

    def __init__(self, in_ch, out_ch=256, norm_layer=nn.BatchNorm2d, reduction=1):
        super().__init__()
        self.proj = ConvBNAct(in_ch, out_ch, 1, norm_layer=norm_layer)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.conv1x1_1 = ConvBNAct(out_ch, out_ch // reduction, 1, norm_layer=norm_layer)
        self.conv1x1_2 = ConvBNAct(out_ch // reduction, out_ch, 1, norm_layer=norm_layer,
                                   act=nn.Sigmoid())

    def forward(self, spatial, context):
        x = self.proj(torch.cat([spatial, context], dim=1))
        return x * self.conv1x1_2(self.conv1x1_1(self.gap(x))) + x


class BiSeNetHead(nn.Module):
    """Spatial path + context (GlobalFlow(deep) + ARM(deep) + ARM(second), each resized to the
    spatial path and summed -> CBR(3, 128)) -> FFM(256) -> FCNHead without dropout."""

    def __init__(self, nclass, deep_ch, second_ch, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.spatial_path = SpatialPath(128, norm_layer=norm_layer)
        self.global_flow = GlobalFlow(deep_ch, 128, norm_layer)
        self.refine_deep = ARModule(deep_ch, 128, norm_layer)
        self.refine_second = ARModule(second_ch, 128, norm_layer)
        self.proj = ConvBNAct(128, 128, 3, norm_layer=norm_layer)
        self.fusion = FFModule(256, 256, norm_layer, reduction=1)
        self.seg = FCNHead(256, nclass, norm_layer, drop=0)

    def forward(self, image, second, deep):
        spatial = self.spatial_path(image)
        size = spatial.shape[-2:]
        context = (resize(self.global_flow(deep), size) + resize(self.refine_deep(deep), size)
                   + resize(self.refine_second(second), size))
        return self.seg(self.fusion(spatial, self.proj(context)))


class _BiSeNet(SegmentationModel):
    """The head reads (image, second-deepest, deepest); the aux FCNHeads read (deep, second),
    in the original's output order, built there with deferred input channels, so their inter
    is 256 whatever the feature width."""
    default_backbone = "resnet18"
    fixed_stride = 32
    head_stages = (0, -2, -1)
    aux_stages = (-1, -2)

    def build(self, nclass, aux, norm, trunk):
        self.backbone = self.make_backbone(trunk)
        second_ch, deep_ch = self.backbone.channels[-2:]
        self.head = BiSeNetHead(nclass, deep_ch, second_ch, norm)
        self.aux_head = nn.ModuleList(FCNHead(ch, nclass, norm, inter=256)
                                      for ch in (deep_ch, second_ch)) if aux else None

    def features(self, x):
        return (x, *self.backbone(x))


@register_model("BiSeNetR", aliases=("bisenet", "bisenetr"))
class BiSeNetR(_BiSeNet):
    """BiSeNet on a ResNet: context from c4 (deep) and c3 (second). ``dilate`` is ignored
    (output stride 32, as the original). Outputs (main, aux(c4), aux(c3))."""

    def make_backbone(self, trunk):
        return trunk.resnet()


@register_model("BiSeNetX", aliases=("bisenetx",))
class BiSeNetX(_BiSeNet):
    """BiSeNet on the original's Xception39: context from layer3 (deep, 256 ch) and layer2
    (second, 128 ch); output stride 32 (``dilate`` ignored, as the original). Outputs
    (main, aux(layer3), aux(layer2)). xception39 is the only backbone, as in the original."""
    default_backbone = "xception39"

    def make_backbone(self, trunk):
        only_backbone("BiSeNetX", trunk.name, "xception39", "BiSeNetR for ResNets")
        return Xception39(trunk.norm_layer, trunk.pretrained)
