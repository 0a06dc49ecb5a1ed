"""FCN: Fully Convolutional Networks for Semantic Segmentation (Long et al., CVPR 2015).

The original's ``FCNResNet``: an FCN-32s style head on the last backbone stage (c4) and an
auxiliary FCN head on c3, logits bilinearly upsampled to the input size.
"""
from __future__ import annotations


from . import register_model
from .backbones import MobileNetV2Backbone, ResNetBackbone
from .layers import (C4HeadModel, FCNHead, dilated_output_stride, fixed_output_stride,
                     get_norm_layer)


@register_model("FCNResNet", aliases=("fcn", "fcn_resnet"))
class FCNResNet(C4HeadModel):
    """Also GluonCV's FCN (``fcn_resnet*`` zoo names): ``head_channels=512``, output stride 8."""

    def __init__(self, nclass, backbone="resnet50", aux=False, dilate=False, norm_layer="BN",
                 pretrained_base=False, output_stride=None, drop=0.1, head_channels=None):
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.backbone = ResNetBackbone(backbone, dilated_output_stride(dilate, output_stride),
                                       norm_layer, pretrained_base)
        c3_ch, c4_ch = self.backbone.channels[2:]
        # head_channels: the main head's width; None = the original's 256, GluonCV's is c4 / 4
        self.head = FCNHead(c4_ch, nclass, norm, drop, inter=head_channels)
        self.aux_head = FCNHead(c3_ch, nclass, norm, drop) if aux else None


@register_model("FCNMobileNet", aliases=("fcn_mobilenet", "fcnmobilenet"))
class FCNMobileNet(C4HeadModel):
    """FCN head on GluonCV's MobileNetV2 (``mobilenet_v2_{0_25,0_5,0_75,1_0}``): FCNHead on c4,
    aux FCNHead on c3 (inter = c3 channels when below 256, e.g. 96). Output stride 32 always
    (the original's MobileNet base has no dilation; ``dilate`` is ignored)."""

    def __init__(self, nclass, backbone="mobilenet_v2_1_0", aux=False, dilate=False,
                 norm_layer="BN", pretrained_base=False, output_stride=None, drop=0.1):
        super().__init__()
        fixed_output_stride("FCNMobileNet", 32, output_stride)
        norm = get_norm_layer(norm_layer)
        self.backbone = MobileNetV2Backbone(backbone, norm_layer, pretrained_base)
        c3_ch, c4_ch = self.backbone.channels[2:]
        self.head = FCNHead(c4_ch, nclass, norm, drop)
        self.aux_head = FCNHead(c3_ch, nclass, norm, drop) if aux else None
