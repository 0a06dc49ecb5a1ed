"""Fast-SCNN: Fast Semantic Segmentation Network (Poudel et al., BMVC 2019), as GluonCV builds
it (``fastscnn_citys``).

Learning to downsample (1/8, 64 channels) -> global feature extractor (MobileNetV2-style
bottlenecks to 1/32, pyramid pooling) -> feature fusion of the two at 1/8 -> classifier; the
auxiliary head reads the 1/8 features. Its own trunk, trained from scratch (no ImageNet
weights). GluonCV fixes its resize targets from a square crop; here they come from the input.
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from . import register_model
from .backbones import load_backbone_weights
from .base import SegmentationModel
from .layers import ConvBNAct, FCNHead, ModelConfigError, PPModule, get_norm_layer, resize


def dw_conv(channels, stride=1, norm_layer=nn.BatchNorm2d):
    """3x3 depthwise CBR."""
    return ConvBNAct(channels, channels, 3, stride, groups=channels, norm_layer=norm_layer)


class DSConv(nn.Sequential):
    """Depthwise-separable conv: depthwise CBR(3, stride) -> pointwise CBR(1)."""

    def __init__(self, in_ch, out_ch, stride=1, norm_layer=nn.BatchNorm2d):
        super().__init__(dw_conv(in_ch, stride, norm_layer),
                         ConvBNAct(in_ch, out_ch, 1, norm_layer=norm_layer))


class Bottleneck(nn.Module):
    """Fast-SCNN's inverted residual: CBR(1, in*t) -> depthwise CBR(3, stride) -> 1x1 conv + BN,
    identity shortcut at stride 1 with equal widths. Unlike our MobileNetV2 block it uses ReLU
    (not ReLU6) and always expands."""

    def __init__(self, in_ch, out_ch, t=6, stride=1, norm_layer=nn.BatchNorm2d):
        super().__init__()
        mid = in_ch * t
        self.use_shortcut = stride == 1 and in_ch == out_ch
        self.block = nn.Sequential(ConvBNAct(in_ch, mid, 1, norm_layer=norm_layer),
                                   dw_conv(mid, stride, norm_layer),
                                   nn.Conv2d(mid, out_ch, 1, bias=False), norm_layer(out_ch))

    def forward(self, x):
        out = self.block(x)
        return out + x if self.use_shortcut else out


class LearningToDownsample(nn.Module):
    """CBR(3, 32)/2 without padding -> DSConv(48)/2 -> DSConv(64)/2: 1/8 of the image."""

    def __init__(self, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv = ConvBNAct(3, 32, 3, 2, padding=0, norm_layer=norm_layer)
        self.dsconv1 = DSConv(32, 48, 2, norm_layer)
        self.dsconv2 = DSConv(48, 64, 2, norm_layer)

    def forward(self, x):
        return self.dsconv2(self.dsconv1(self.conv(x)))


class GlobalFeatureExtractor(nn.Module):
    """Three stages of three bottlenecks (t=6; 64/2, 96/2, 128/1) -> pyramid pooling (bins 1, 2,
    3, 6; CBR(1, 32) each) -> CBR(1, 128): 1/32 of the image."""

    def __init__(self, norm_layer=nn.BatchNorm2d, in_ch=64, widths=(64, 96, 128),
                 strides=(2, 2, 1), blocks=3, out_ch=128):
        super().__init__()
        stages = []
        for width, stride in zip(widths, strides):
            stages.append(nn.Sequential(*(Bottleneck(in_ch if i == 0 else width, width, 6,
                                                     stride if i == 0 else 1, norm_layer)
                                          for i in range(blocks))))
            in_ch = width
        self.bottleneck1, self.bottleneck2, self.bottleneck3 = stages
        self.ppm = PPModule(in_ch, norm_layer, reduction=4)
        self.ppm_out = ConvBNAct(self.ppm.out_channels, out_ch, 1, norm_layer=norm_layer)

    def forward(self, x):
        x = self.bottleneck3(self.bottleneck2(self.bottleneck1(x)))
        return self.ppm_out(self.ppm(x))


class FastSCNNEncoder(nn.Module):
    """The trunk: (1/8 features, 64 ch; 1/32 global features, 128 ch)."""

    def __init__(self, norm_layer="BN", pretrained=False):
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.learning_to_downsample = LearningToDownsample(norm)
        self.global_feature_extractor = GlobalFeatureExtractor(norm)
        self.name = "fastscnn"
        self.output_stride = 32
        self.channels = (64, 128)
        if pretrained is True:
            raise ModelConfigError("Fast-SCNN has no ImageNet weights (GluonCV trains it from "
                                   "scratch): use pretrained_base=False, or a path to a PyTorch "
                                   "state dict of this trunk (model.backbone).")
        load_backbone_weights(self, pretrained, self.name, "none")   # False or a local file

    def forward(self, x):
        high = self.learning_to_downsample(x)
        return high, self.global_feature_extractor(high)


class FeatureFusion(nn.Module):
    """Global features resized to the 1/8 map -> depthwise CBR(3) -> 1x1 conv+bias, BN; 1/8
    features -> 1x1 conv+bias, BN; ReLU of the sum."""

    def __init__(self, high_ch, low_ch, out_ch, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.dwconv = dw_conv(low_ch, 1, norm_layer)
        self.lower = ConvBNAct(low_ch, out_ch, 1, bias=True, norm_layer=norm_layer, act=False)
        self.higher = ConvBNAct(high_ch, out_ch, 1, bias=True, norm_layer=norm_layer, act=False)

    def forward(self, high, low):
        low = self.lower(self.dwconv(resize(low, high.shape[-2:])))
        return F.relu(self.higher(high) + low)


class FastSCNNHead(nn.Module):
    """Feature fusion -> DSConv(128) x2 -> Dropout 0.1 -> 1x1 conv+bias."""

    def __init__(self, nclass, norm_layer=nn.BatchNorm2d, high_ch=64, low_ch=128, ch=128):
        super().__init__()
        self.feature_fusion = FeatureFusion(high_ch, low_ch, ch, norm_layer)
        self.classifier = nn.Sequential(DSConv(ch, ch, 1, norm_layer),
                                        DSConv(ch, ch, 1, norm_layer),
                                        nn.Dropout(0.1), nn.Conv2d(ch, nclass, 1))

    def forward(self, high, low):
        return self.classifier(self.feature_fusion(high, low))


@register_model("FastSCNN", aliases=("fastscnn", "fast_scnn", "fast-scnn"))
class FastSCNN(SegmentationModel):
    """GluonCV's Fast-SCNN. ``backbone`` may only be None or ``'fastscnn'`` (its own trunk);
    ``dilate`` is ignored (output stride 32). Outputs (main, aux(1/8 features)) with ``aux``
    (GluonCV's ``fastscnn_citys`` is built with it), main only without."""
    default_backbone = None
    fixed_stride = 32
    head_stages = (0, 1)        # (1/8 features, 1/32 global features)
    aux_stages = (0,)

    def build(self, nclass, aux, norm, trunk):
        if trunk.name not in (None, "fastscnn"):
            raise ModelConfigError(f"FastSCNN has its own trunk and takes only backbone None or "
                                   f"'fastscnn'; got {trunk.name!r}.")
        self.backbone = FastSCNNEncoder(trunk.norm_layer, trunk.pretrained)
        high_ch, low_ch = self.backbone.channels
        self.head = FastSCNNHead(nclass, norm, high_ch, low_ch)
        self.aux_head = FCNHead(high_ch, nclass, norm, inter=64) if aux else None
