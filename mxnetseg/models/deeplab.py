"""DeepLab v3 (Chen et al., arXiv 2017) and DeepLab v3+ (Chen et al., ECCV 2018): ResNet and
Xception trunks as the original; GluonCV's v3b+ on Wider ResNet-38.

Faithful to the original's deviations from the papers: v3 uses ASPP rates 6/12/18 at any output
stride and an FCN head (extra 3x3 CBR) after ASPP; v3+ uses rates 12/24/36, a 3x3 (not 1x1)
low-level projection to 48 channels, one 3x3 decoder conv, dropout 0.5, then an FCN head.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from . import register_model
from .backbones import ResNetBackbone
from .layers import (ASPPModule, C4HeadModel, ConvBNAct, FCNHead, GlobalFlow, check_channels,
                     dilated_output_stride, fixed_output_stride, get_norm_layer, resize)
from .wideresnet import WiderResNet38
from .xception import Xception65


@register_model("DeepLabv3", aliases=("deeplabv3", "deeplab"))
class DeepLabv3(C4HeadModel):
    """ASPP(256, rates 6/12/18, image pooling, dropout 0.5) -> FCNHead on c4; aux FCNHead on c3.
    Honours ``dilate`` (output stride 8 or 32) and ``output_stride``. GluonCV's DeepLabV3
    (``deeplab_resnet*`` / ``deeplab_resnest*`` zoo names) is this with ``rates=(12, 24, 36)`` at
    output stride 8."""

    def __init__(self, nclass, backbone="resnet50", aux=False, dilate=False, norm_layer="BN",
                 pretrained_base=False, output_stride=None, rates=(6, 12, 18)):
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.backbone = ResNetBackbone(backbone, dilated_output_stride(dilate, output_stride),
                                       norm_layer, pretrained_base)
        c3_ch, c4_ch = self.backbone.channels[2:]
        self.head = nn.Sequential(OrderedDict(
            aspp=ASPPModule(c4_ch, 256, norm, rates=tuple(rates)),
            head=FCNHead(256, nclass, norm)))
        self.aux_head = FCNHead(c3_ch, nclass, norm) if aux else None


class DeepLabPlusHead(nn.Module):
    """v3+ decoder: ASPP(256, rates 12/24/36) on the deep feature, resized to the low-level
    feature's size and concatenated with CBR(3, 48) of it (304 ch) -> CBR(3, 256) -> Dropout 0.5
    -> FCNHead. Shared with the Xception variant (low 128 ch, deep 2048 ch)."""

    def __init__(self, nclass, in_ch, low_ch, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.aspp = ASPPModule(in_ch, 256, norm_layer, rates=(12, 24, 36))
        self.conv_c1 = ConvBNAct(low_ch, 48, 3, norm_layer=norm_layer)
        self.conv3x3 = ConvBNAct(48 + 256, 256, 3, norm_layer=norm_layer)
        self.drop = nn.Dropout(0.5)
        self.head = FCNHead(256, nclass, norm_layer)

    def forward(self, low, deep):
        low = self.conv_c1(low)
        deep = resize(self.aspp(deep), low.shape[-2:])
        return self.head(self.drop(self.conv3x3(torch.cat([low, deep], dim=1))))


@register_model("DeepLabv3PlusR", aliases=("deeplabv3plus", "deeplabv3+", "deeplabv3plusr"))
class DeepLabv3PlusR(nn.Module):
    """DeepLab v3+ on a ResNet (c1 low-level, c4 deep). Honours ``dilate``/``output_stride``.
    ``aux`` is accepted and ignored: the original forces aux off, so there is only one output.
    The ASPP input (2048) is hard-coded as in the original: ResNet-50/101/152 only."""

    def __init__(self, nclass, backbone="resnet50", aux=False, dilate=False, norm_layer="BN",
                 pretrained_base=False, output_stride=None):
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.backbone = ResNetBackbone(backbone, dilated_output_stride(dilate, output_stride),
                                       norm_layer, pretrained_base)
        check_channels("DeepLabv3PlusR", self.backbone, c4=2048)
        self.head = DeepLabPlusHead(nclass, 2048, self.backbone.channels[0], norm)

    def forward(self, x):
        c1, _, _, c4 = self.backbone(x)
        return (resize(self.head(c1, c4), x.shape[-2:]),)


@register_model("DeepLabv3PlusX", aliases=("deeplabv3plusx", "deeplabv3+x"))
class DeepLabv3PlusX(nn.Module):
    """DeepLab v3+ on GluonCV's Xception65 (low-level = ReLU(block1), 128 ch; deep = exit flow,
    2048 ch). As the original: output stride forced to 8 (``dilate`` ignored), aux forced off
    (``aux`` accepted, one output), xception65 the only backbone."""

    def __init__(self, nclass, backbone="xception65", aux=False, dilate=False, norm_layer="BN",
                 pretrained_base=False, output_stride=None):
        super().__init__()
        if str(backbone).lower() != "xception65":
            raise ValueError(f"DeepLabv3PlusX supports only backbone 'xception65' (as the "
                             f"original), got {backbone!r}; use DeepLabv3PlusR for ResNets.")
        self.backbone = Xception65(fixed_output_stride("DeepLabv3PlusX", 8, output_stride),
                                   norm_layer, pretrained_base)
        low_ch, _, deep_ch = self.backbone.channels
        self.head = DeepLabPlusHead(nclass, deep_ch, low_ch, get_norm_layer(norm_layer))

    def forward(self, x):
        low, _, deep = self.backbone(x)
        return (resize(self.head(low, deep), x.shape[-2:]),)


class WideASPP(nn.Module):
    """GluonCV DeepLabv3b+'s ASPP: concat[image pool; CBR(1); CBR(3, d=r) per rate] (pool
    first) -> a bare 1x1 conv (no norm, activation or dropout)."""

    def __init__(self, in_ch, out_ch=256, norm_layer=nn.BatchNorm2d, rates=(12, 24, 36)):
        super().__init__()
        self.branches = nn.ModuleList(
            [GlobalFlow(in_ch, out_ch, norm_layer),
             ConvBNAct(in_ch, out_ch, 1, norm_layer=norm_layer)] + [ConvBNAct(in_ch, out_ch, 3, dilation=r, norm_layer=norm_layer) for r in rates])
        self.projection = nn.Conv2d(len(self.branches) * out_ch, out_ch, 1, bias=False)

    def forward(self, x):
        return self.projection(torch.cat([branch(x) for branch in self.branches], dim=1))


@register_model("DeepLabv3PlusW", aliases=("deeplabv3plusw", "deeplabv3b_plus", "deeplabv3+w"))
class DeepLabv3PlusW(nn.Module):
    """GluonCV's DeepLabv3b+ on Wider ResNet-38 (``deeplab_v3b_plus_wideresnet_citys``):
    WideASPP(4096 -> 256, rates 12/24/36) on the stride-8 trunk output, resized to the stride-2
    feature (mod2, 128 ch) and concatenated with its 1x1 conv to 48 (no norm) -> CBR(3, 256) x 2
    -> 1x1 conv without bias. One output (no aux head); ``dilate`` is ignored (stride 8)."""

    def __init__(self, nclass, backbone="wideresnet38", aux=False, dilate=False,
                 norm_layer="BN", pretrained_base=False, output_stride=None):
        super().__init__()
        if str(backbone).lower() != "wideresnet38":
            raise ValueError(f"DeepLabv3PlusW supports only backbone 'wideresnet38' (as GluonCV), "
                             f"got {backbone!r}")
        fixed_output_stride("DeepLabv3PlusW", 8, output_stride)
        norm = get_norm_layer(norm_layer)
        self.backbone = WiderResNet38(True, norm_layer, pretrained_base)
        low_ch, deep_ch = self.backbone.channels
        self.aspp = WideASPP(deep_ch, 256, norm)
        self.c1_block = nn.Conv2d(low_ch, 48, 1, bias=False)
        self.block = nn.Sequential(ConvBNAct(48 + 256, 256, 3, norm_layer=norm),
                                   ConvBNAct(256, 256, 3, norm_layer=norm),
                                   nn.Conv2d(256, nclass, 1, bias=False))

    def forward(self, x):
        low, deep = self.backbone(x)
        deep = resize(self.aspp(deep), low.shape[-2:])
        out = self.block(torch.cat([self.c1_block(low), deep], dim=1))
        return (resize(out, x.shape[-2:]),)
