"""DeepLab v3 (Chen et al., arXiv 2017) and DeepLab v3+ (Chen et al., ECCV 2018): ResNet and
Xception trunks as the original; GluonCV's v3b+ on Wider ResNet-38.

Faithful to the original's deviations from the papers: v3 uses ASPP rates 6/12/18 at any output
stride and an FCN head (extra 3x3 CBR) after ASPP; v3+ uses rates 12/24/36, a 3x3 (not 1x1)
low-level projection to 48 channels, one 3x3 decoder conv, dropout 0.5, then an FCN head.
Every variant takes ``atrous_rates`` (``model_kwargs: {atrous_rates: [12, 24, 36]}``): v3's
6/12/18 is the original's HEAD; its initial commit, which trained the published VOC run
(fearless-firefly-5), used 12/24/36.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import (ASPPModule, ConvBNAct, FCNHead, GlobalFlow, check_atrous_rates,
                     check_channels, only_backbone, resize)
from .wideresnet import WiderResNet38
from .xception import Xception65


@register_model("DeepLabv3", aliases=("deeplabv3", "deeplab"))
class DeepLabv3(SegmentationModel):
    """ASPP(256, rates 6/12/18, image pooling, dropout 0.5) -> FCNHead on c4; aux FCNHead on c3.
    Honours ``dilate`` (output stride 8 or 32) and ``output_stride``. GluonCV's DeepLabV3
    (``deeplab_resnet*`` / ``deeplab_resnest*`` zoo names) is this with
    ``atrous_rates=(12, 24, 36)`` at output stride 8."""

    def build(self, nclass, aux, norm, trunk, atrous_rates=(6, 12, 18)):
        rates = check_atrous_rates("DeepLabv3", atrous_rates, (6, 12, 18))
        self.backbone = trunk.resnet()
        c3_ch, c4_ch = self.backbone.channels[2:]
        self.head = nn.Sequential(OrderedDict(
            aspp=ASPPModule(c4_ch, 256, norm, rates=rates),
            head=FCNHead(256, nclass, norm)))
        self.aux_head = FCNHead(c3_ch, nclass, norm) if aux else None


class DeepLabPlusHead(nn.Module):
    """v3+ decoder: ASPP(256, rates 12/24/36) on the deep feature, resized to the low-level
    feature's size and concatenated with CBR(3, 48) of it (304 ch) -> CBR(3, 256) -> Dropout 0.5
    -> FCNHead. Shared with the Xception variant (low 128 ch, deep 2048 ch)."""

    def __init__(self, nclass, in_ch, low_ch, norm_layer=nn.BatchNorm2d, rates=(12, 24, 36)):
        super().__init__()
        self.aspp = ASPPModule(in_ch, 256, norm_layer, rates=rates)
        self.conv_c1 = ConvBNAct(low_ch, 48, 3, norm_layer=norm_layer)
        self.conv3x3 = ConvBNAct(48 + 256, 256, 3, norm_layer=norm_layer)
        self.drop = nn.Dropout(0.5)
        self.head = FCNHead(256, nclass, norm_layer)

    def forward(self, low, deep):
        low = self.conv_c1(low)
        deep = resize(self.aspp(deep), low.shape[-2:])
        return self.head(self.drop(self.conv3x3(torch.cat([low, deep], dim=1))))


@register_model("DeepLabv3PlusR", aliases=("deeplabv3plus", "deeplabv3+", "deeplabv3plusr"))
class DeepLabv3PlusR(SegmentationModel):
    """DeepLab v3+ on a ResNet (c1 low-level, c4 deep). Honours ``dilate``/``output_stride``.
    ``aux`` is accepted and ignored: the original forces aux off, so there is only one output.
    The ASPP input (2048) is hard-coded as in the original: ResNet-50/101/152 only."""
    head_stages = (0, -1)

    def build(self, nclass, aux, norm, trunk, atrous_rates=(12, 24, 36)):
        rates = check_atrous_rates("DeepLabv3PlusR", atrous_rates, (12, 24, 36))
        self.backbone = trunk.resnet()
        check_channels("DeepLabv3PlusR", self.backbone, c4=2048)
        self.head = DeepLabPlusHead(nclass, 2048, self.backbone.channels[0], norm, rates)


@register_model("DeepLabv3PlusX", aliases=("deeplabv3plusx", "deeplabv3+x"))
class DeepLabv3PlusX(SegmentationModel):
    """DeepLab v3+ on GluonCV's Xception65 (low-level = ReLU(block1), 128 ch; deep = exit flow,
    2048 ch). As the original: output stride forced to 8 (``dilate`` ignored), aux forced off
    (``aux`` accepted, one output), xception65 the only backbone."""
    default_backbone = "xception65"
    fixed_stride = 8
    head_stages = (0, -1)

    def build(self, nclass, aux, norm, trunk, atrous_rates=(12, 24, 36)):
        rates = check_atrous_rates("DeepLabv3PlusX", atrous_rates, (12, 24, 36))
        only_backbone("DeepLabv3PlusX", trunk.name, "xception65", "DeepLabv3PlusR for ResNets")
        self.backbone = Xception65(trunk.output_stride, trunk.norm_layer, trunk.pretrained)
        low_ch, _, deep_ch = self.backbone.channels
        self.head = DeepLabPlusHead(nclass, deep_ch, low_ch, norm, rates)


class WideASPP(nn.Module):
    """GluonCV DeepLabv3b+'s ASPP: concat[image pool; CBR(1); CBR(3, d=r) per rate] (pool
    first) -> a bare 1x1 conv (no norm, activation or dropout)."""

    def __init__(self, in_ch, out_ch=256, norm_layer=nn.BatchNorm2d, rates=(12, 24, 36)):
        super().__init__()
        self.branches = nn.ModuleList(
            [GlobalFlow(in_ch, out_ch, norm_layer),
             ConvBNAct(in_ch, out_ch, 1, norm_layer=norm_layer)] +
            [ConvBNAct(in_ch, out_ch, 3, dilation=r, norm_layer=norm_layer) for r in rates])
        self.projection = nn.Conv2d(len(self.branches) * out_ch, out_ch, 1, bias=False)

    def forward(self, x):
        return self.projection(torch.cat([branch(x) for branch in self.branches], dim=1))


class DeepLabV3bPlusHead(nn.Module):
    """WideASPP(-> 256) on the deep feature, resized to the low-level feature and concatenated
    with its 1x1 conv to 48 (no norm) -> CBR(3, 256) x 2 -> 1x1 conv without bias."""

    def __init__(self, nclass, in_ch, low_ch, norm_layer=nn.BatchNorm2d, rates=(12, 24, 36)):
        super().__init__()
        self.aspp = WideASPP(in_ch, 256, norm_layer, rates)
        self.c1_block = nn.Conv2d(low_ch, 48, 1, bias=False)
        self.block = nn.Sequential(ConvBNAct(48 + 256, 256, 3, norm_layer=norm_layer),
                                   ConvBNAct(256, 256, 3, norm_layer=norm_layer),
                                   nn.Conv2d(256, nclass, 1, bias=False))

    def forward(self, low, deep):
        deep = resize(self.aspp(deep), low.shape[-2:])
        return self.block(torch.cat([self.c1_block(low), deep], dim=1))


@register_model("DeepLabv3PlusW", aliases=("deeplabv3plusw", "deeplabv3b_plus", "deeplabv3+w"))
class DeepLabv3PlusW(SegmentationModel):
    """GluonCV's DeepLabv3b+ on Wider ResNet-38 (``deeplab_v3b_plus_wideresnet_citys``): the
    head reads the trunk's stride-2 feature (mod2, 128 ch) and its stride-8 output (4096 ch).
    One output (no aux head); output stride 8 (``dilate`` ignored); wideresnet38 only."""
    default_backbone = "wideresnet38"
    fixed_stride = 8
    head_stages = (0, -1)

    def build(self, nclass, aux, norm, trunk, atrous_rates=(12, 24, 36)):
        rates = check_atrous_rates("DeepLabv3PlusW", atrous_rates, (12, 24, 36))
        only_backbone("DeepLabv3PlusW", trunk.name, "wideresnet38", "DeepLabv3PlusR for ResNets")
        self.backbone = WiderResNet38(True, trunk.norm_layer, trunk.pretrained)
        low_ch, deep_ch = self.backbone.channels
        self.head = DeepLabV3bPlusHead(nclass, deep_ch, low_ch, norm, rates)
