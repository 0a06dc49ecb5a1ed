"""CANet: Chained Context Aggregation Network (Tang et al.; the original's ``CANetv1``,
"Attention-guided Chained Context Aggregation for Semantic Segmentation", IVC 2021) and its
successor head ``CANetv2`` (parallel encoder-decoders with a gated fusion).

Faithful: layer for layer, parameter counts and MXNet weight names (module paths mirror the
original's, so the ``.params`` map is mechanical).

Differs from the original:

- ``CANetv1`` froze its intermediate sizes from ``crop_size`` at construction (the context
  flows pool c4 to ``((crop // 8) // s)`` and resize back to ``crop // 8``; the decoder resizes
  to ``crop // 4``) and only ``predict()`` patched them. We take them from the feature maps at
  run time: pool to ``(h4 // s, w4 // s)`` (at least 1) with ``h4, w4`` = c4's size, resize to
  c4's size, then to c1's size. At an input equal to the crop (a multiple of 8) these are the
  original's numbers, so outputs match; any other size works too (the original failed on
  sizes that are not multiples of 8, or where ``(size // 8) // 16`` is 0).
- ``CANetv2`` needs c3 and c4 at the same resolution (its gate mixes them). The original
  honoured ``dilate`` and simply crashed with ``dilate=False`` (output stride 32); we run it
  at output stride 8 whatever ``dilate`` says (its default there was ``dilate=True``).
  ``output_stride=16`` is accepted as our addition (c3 and c4 are both at 1/16 there);
  ``output_stride=32`` is an error.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model
from .base import SegmentationModel
from .layers import ConvBNAct, FCNHead, GlobalFlow, ModelConfigError, check_channels, resize


class DepthwiseSeparableConv(nn.Module):
    """The original's ``DepthwiseSeparableConv2d(pattern='mobilenet')``: depthwise 3x3 CBR
    (groups = in) -> pointwise 1x1 CBR; no biases."""

    def __init__(self, in_ch, out_ch, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.depthwise = ConvBNAct(in_ch, in_ch, 3, groups=in_ch, norm_layer=norm_layer)
        self.pointwise = ConvBNAct(in_ch, out_ch, 1, norm_layer=norm_layer)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


# --- CANetv1 ----------------------------------------------------------------------------------

class ContextFlow(nn.Module):
    """concat(c4, previous context) -> adaptive average pool to (h // stride, w // stride) ->
    two depthwise-separable convs -> bilinear back to c4's size."""

    def __init__(self, in_ch, channels, stride, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.stride = stride
        self.conv1 = DepthwiseSeparableConv(in_ch + channels, channels, norm_layer)
        self.conv2 = DepthwiseSeparableConv(channels, channels, norm_layer)

    def forward(self, x, upper):
        h, w = x.shape[-2:]
        out = torch.cat([x, upper], dim=1)
        out = F.adaptive_avg_pool2d(out, (max(h // self.stride, 1), max(w // self.stride, 1)))
        return resize(self.conv2(self.conv1(out)), (h, w))


class CAHead(nn.Module):
    """Chained context aggregation (global flow + four chained context flows, pooling strides
    2, 4, 8, 16, summed) -> CBR(3, 256) -> Dropout 0.1 -> up to c1 -> concat CBR(3, 48)(c1) ->
    CBR(3, 256) -> FCNHead(256). The original's optional feature-selection module is off."""

    def __init__(self, nclass, c1_ch, c4_ch=2048, capacity=512, norm_layer=nn.BatchNorm2d,
                 drop=0.1):
        super().__init__()
        self.gamma = 1.0        # a constant in the original, not a parameter
        self.gp = GlobalFlow(c4_ch, capacity, norm_layer)
        for i, stride in enumerate((2, 4, 8, 16), 1):
            setattr(self, f"cp{i}", ContextFlow(c4_ch, capacity, stride, norm_layer))
        self.proj = ConvBNAct(capacity, 256, 3, norm_layer=norm_layer)
        self.drop = nn.Dropout(drop) if drop else nn.Identity()
        self.decoder = ConvBNAct(c1_ch, 48, 3, norm_layer=norm_layer)
        self.conv3x3 = ConvBNAct(256 + 48, 256, 3, norm_layer=norm_layer)
        self.seg_head = FCNHead(256, nclass, norm_layer)

    def forward(self, c1, c4):
        context = self.gp(c4)
        out = self.gamma * context
        for cp in (self.cp1, self.cp2, self.cp3, self.cp4):
            context = cp(c4, context)
            out = out + context
        out = self.drop(self.proj(out))
        c1 = self.decoder(c1)
        out = torch.cat([resize(out, c1.shape[-2:]), c1], dim=1)
        return self.seg_head(self.conv3x3(out))


@register_model("CANetv1", aliases=("canetv1",))
class CANetv1(SegmentationModel):
    """Dilated ResNet (output stride 8 always; ``dilate`` is ignored, as in the original).
    The head hard-codes c4 = 2048 channels (ResNet-50/101/152); aux FCNHead on c3."""
    fixed_stride = 8
    head_stages = (0, -1)

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        check_channels("CANetv1", self.backbone, c4=2048)
        c1_ch, _, c3_ch, c4_ch = self.backbone.channels
        self.head = CAHead(nclass, c1_ch, c4_ch, norm_layer=norm)
        self.aux_head = FCNHead(c3_ch, nclass, norm) if aux else None


# --- CANetv2 ----------------------------------------------------------------------------------

class Bottleneck(nn.Module):
    """CBR(1, 128) -> CBR(3, 128)/2 -> CBR(1, C), plus a CB(1, C)/2 shortcut; no final act."""

    def __init__(self, channels, inner=128, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = ConvBNAct(channels, inner, 1, norm_layer=norm_layer)
        self.conv2 = ConvBNAct(inner, inner, 3, 2, norm_layer=norm_layer)
        self.conv3 = ConvBNAct(inner, channels, 1, norm_layer=norm_layer)
        self.conv4 = ConvBNAct(channels, channels, 1, 2, norm_layer=norm_layer, act=False)

    def forward(self, x):
        return self.conv3(self.conv2(self.conv1(x))) + self.conv4(x)


class EncoderDecoder(nn.Module):
    """log2(scale) strided bottlenecks -> CBR(3, C) -> up to the input's size -> CBR(1, C)."""

    def __init__(self, scale, channels, norm_layer=nn.BatchNorm2d):
        super().__init__()
        num_blocks = scale.bit_length() - 1
        self.encoder = nn.Sequential(*(Bottleneck(channels, norm_layer=norm_layer)
                                       for _ in range(num_blocks)))
        self.conv3x3 = ConvBNAct(channels, channels, 3, norm_layer=norm_layer)
        self.conv1x1 = ConvBNAct(channels, channels, 1, norm_layer=norm_layer)

    def forward(self, x):
        return self.conv1x1(resize(self.conv3x3(self.encoder(x)), x.shape[-2:]))


class CANetHead(nn.Module):
    """C4 = CBR(1, 512)(c4), C3 = CBR(1, 512)(c3), gp = GlobalFlow(48)(c4); three
    encoder-decoders (scales 2, 4, 8) on C4; a softmax gate over (m1, m2, m3, C3) from
    CBR(1, 512) -> CB(1, 4) of their concat; gated sum, concat gp -> FCNHead(256)."""

    def __init__(self, nclass, c3_ch, c4_ch, channels=512, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.comp_c4 = ConvBNAct(c4_ch, channels, 1, norm_layer=norm_layer)
        self.comp_c3 = ConvBNAct(c3_ch, channels, 1, norm_layer=norm_layer)
        self.gap = GlobalFlow(c4_ch, 48, norm_layer)
        self.ed1 = EncoderDecoder(2, channels, norm_layer)
        self.ed2 = EncoderDecoder(4, channels, norm_layer)
        self.ed3 = EncoderDecoder(8, channels, norm_layer)
        self.conv1 = ConvBNAct(4 * channels, channels, 1, norm_layer=norm_layer)
        self.conv2 = ConvBNAct(channels, 4, 1, norm_layer=norm_layer, act=False)
        self.seg = FCNHead(channels + 48, nclass, norm_layer)

    def forward(self, c4, c3):
        gap = self.gap(c4)
        c4 = self.comp_c4(c4)
        mids = torch.stack([self.ed1(c4), self.ed2(c4), self.ed3(c4), self.comp_c3(c3)], dim=1)
        score = torch.softmax(self.conv2(self.conv1(mids.flatten(1, 2))), dim=1)
        out = (mids * score.unsqueeze(2)).sum(dim=1)
        return self.seg(torch.cat([out, gap], dim=1))


@register_model("CANetv2", aliases=("canetv2", "canet"))
class CANetv2(SegmentationModel):
    """Any ResNet (the head's input channels follow the backbone, as the original's deferred
    ones did). Output stride 8 whatever ``dilate`` says (see the module docstring); aux
    FCNHead on c3."""
    head_stages = (-1, -2)

    def choose_output_stride(self, dilate, output_stride):
        if output_stride not in (None, 8, 16):
            raise ModelConfigError(
                f"CANetv2 needs c3 and c4 at the same resolution (output stride 8, or 16); got "
                f"output_stride={output_stride}. Leave it unset (8).")
        return output_stride or 8

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        _, _, c3_ch, c4_ch = self.backbone.channels
        self.head = CANetHead(nclass, c3_ch, c4_ch, norm_layer=norm)
        self.aux_head = FCNHead(c3_ch, nclass, norm) if aux else None
