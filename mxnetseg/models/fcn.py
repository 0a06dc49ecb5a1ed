"""FCN: Fully Convolutional Networks for Semantic Segmentation (Long et al., CVPR 2015).

The original's ``FCNResNet``: an FCN-32s style head on the last backbone stage (c4) and an
auxiliary FCN head on c3, logits bilinearly upsampled to the input size.
"""
from __future__ import annotations

from . import register_model
from .backbones import MobileNetV2Backbone
from .base import SegmentationModel
from .layers import FCNHead


class _FCN(SegmentationModel):
    """FCNHead on c4, aux FCNHead on c3 (inter = c3 channels when below 256)."""

    def build(self, nclass, aux, norm, trunk, drop=0.1, head_channels=None):
        self.backbone = self.make_backbone(trunk)
        c3_ch, c4_ch = self.backbone.channels[2:]
        # head_channels: the main head's width; None = the original's 256, GluonCV's is c4 / 4
        self.head = FCNHead(c4_ch, nclass, norm, drop, inter=head_channels)
        self.aux_head = FCNHead(c3_ch, nclass, norm, drop) if aux else None


@register_model("FCNResNet", aliases=("fcn", "fcn_resnet"))
class FCNResNet(_FCN):
    """Honours ``dilate`` (output stride 8 or 32) and ``output_stride``. Also GluonCV's FCN
    (``fcn_resnet*`` zoo names): ``head_channels=512`` at output stride 8."""

    def make_backbone(self, trunk):
        return trunk.resnet()


@register_model("FCNMobileNet", aliases=("fcn_mobilenet", "fcnmobilenet"))
class FCNMobileNet(_FCN):
    """FCN head on GluonCV's MobileNetV2 (``mobilenet_v2_{0_25,0_5,0_75,1_0}``). Output stride
    32 always (the original's MobileNet base has no dilation; ``dilate`` is ignored)."""
    default_backbone = "mobilenet_v2_1_0"
    fixed_stride = 32

    def make_backbone(self, trunk):
        return MobileNetV2Backbone(trunk.name, trunk.norm_layer, trunk.pretrained)
