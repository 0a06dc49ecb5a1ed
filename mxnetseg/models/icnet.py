"""ICNet: Image Cascade Network (Zhao et al., ECCV 2018), as GluonCV builds it
(``icnet_resnet50_citys``, ``icnet_resnet50_mhpv1``).

Three branches share one dilated ResNet (GluonCV's PSPNet-ResNet50 trunk): the full image goes
through three stride-2 CBRs (1/8); the half image through the stem, layer1 and layer2 (1/16);
layer2's output, resized to 1/32 of the image, through layer3, layer4 and a pyramid-pooling
head. Cascade feature fusion (CFF) merges 1/32 into 1/16, then into 1/8; a 1x1 classifier at
1/4 gives the main output. GluonCV fixes every resize target from the crop size; here they come
from the input and the feature maps at run time (the same numbers when the input is the crop, a
multiple of 32; GluonCV's own ``predict`` sizes the cascade from the feature maps too).
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from . import register_model
from .base import SegmentationModel
from .layers import ConvBNAct, PPModule, check_channels, resize

_STEM = ("conv1", "bn1", "act1", "maxpool", "layer1", "layer2")


class CascadeFeatureFusion(nn.Module):
    """CFF: ``low`` resized to ``high``'s size -> 3x3 conv (dilation 2) + BN; ``high`` -> 1x1
    conv + BN; ReLU of the sum. With ``nclass`` also returns the auxiliary classifier on the
    BN'd low branch (GluonCV classifies before the sum), else None."""

    def __init__(self, low_ch, high_ch, out_ch, nclass=None, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv_low = ConvBNAct(low_ch, out_ch, 3, dilation=2, norm_layer=norm_layer,
                                  act=False)
        self.conv_high = ConvBNAct(high_ch, out_ch, 1, norm_layer=norm_layer, act=False)
        self.conv_low_cls = nn.Conv2d(out_ch, nclass, 1, bias=False) if nclass else None

    def forward(self, low, high):
        low = self.conv_low(resize(low, high.shape[-2:]))
        cls = self.conv_low_cls(low) if self.conv_low_cls is not None else None
        return F.relu(low + self.conv_high(high)), cls


class ICHead(nn.Module):
    """CFF(1/32 -> 1/16), CFF(-> 1/8), resize x2 (1/4 of the image), 1x1 classifier (no bias).
    Returns (1/4 logits, 1/8 CFF logits, 1/16 CFF logits); the CFF logits (aux) are None
    without ``aux``."""

    def __init__(self, nclass, norm_layer=nn.BatchNorm2d, aux=True):
        super().__init__()
        aux_classes = nclass if aux else None
        self.cff_12 = CascadeFeatureFusion(128, 64, 128, aux_classes, norm_layer)
        self.cff_24 = CascadeFeatureFusion(256, 256, 128, aux_classes, norm_layer)
        self.conv_cls = nn.Conv2d(128, nclass, 1, bias=False)

    def forward(self, sub1, sub2, sub4):
        x, cls_24 = self.cff_24(sub4, sub2)
        x, cls_12 = self.cff_12(x, sub1)
        return self.conv_cls(resize(x, [2 * s for s in x.shape[-2:]])), cls_12, cls_24


def _fraction(size, div):
    """GluonCV's ``height // div`` target, at least 1 pixel for tiny inputs. Plain ints: the
    ONNX exporter can then turn the pyramid pooling on this map into fixed pooling."""
    return tuple(max(1, int(s) // div) for s in size)


@register_model("ICNet", aliases=("icnet",))
class ICNet(SegmentationModel):
    """GluonCV's ICNet on a dilated ResNet (output stride 8 in layer3/4, as GluonCV's
    ``SegBaseModel``; ``dilate`` is ignored). Only ResNet-50/101/152 fit (the PSP head takes
    2048 channels, the 1/16 reduce conv 512). With ``aux``: (main, 1/4 logits, 1/8 CFF, 1/16
    CFF) -- GluonCV's order -- every output resized to the input, as GluonCV's ``ICNetLoss``
    does (``aux_weight: [0.4, 0.4, 1.0]`` is that loss; the 1/4 output resized is the main one);
    without: main only, and the two CFF classifiers are not built (GluonCV always builds them:
    its count is ours with aux; it returns all four outputs in eval mode too, its ``predict``
    the main one)."""
    fixed_stride = 8

    def build(self, nclass, aux, norm, trunk):
        self.backbone = trunk.resnet()
        check_channels("ICNet", self.backbone, c2=512, c4=2048)
        self.conv_sub1 = nn.Sequential(ConvBNAct(3, 32, 3, 2, norm_layer=norm),
                                       ConvBNAct(32, 32, 3, 2, norm_layer=norm),
                                       ConvBNAct(32, 64, 3, 2, norm_layer=norm))
        pool = PPModule(2048, norm, reduction=4)
        # GluonCV's PSP head without its classifier: the 512-channel map feeds the cascade
        self.psp_head = nn.Sequential(pool, ConvBNAct(pool.out_channels, 512, 3, norm_layer=norm),
                                      nn.Dropout(0.1))
        self.conv_sub4 = ConvBNAct(512, 256, 1, norm_layer=norm)
        self.conv_sub2 = ConvBNAct(512, 256, 1, norm_layer=norm)
        self.head = ICHead(nclass, norm, aux)

    def features(self, x):
        """(full image -> 1/8; half image -> layer2, 1/16; that -> 1/32 -> layer4 + PSP)."""
        size = x.shape[-2:]
        body = self.backbone.body
        sub2 = resize(x, _fraction(size, 2))
        for name in _STEM:
            sub2 = body[name](sub2)
        sub4 = body["layer4"](body["layer3"](resize(sub2, _fraction(size, 32))))
        return self.conv_sub1(x), self.conv_sub2(sub2), self.conv_sub4(self.psp_head(sub4))

    def heads(self, feats):
        quarter, cls_12, cls_24 = self.head(*feats)
        return [quarter] if cls_12 is None else [quarter, quarter, cls_12, cls_24]
