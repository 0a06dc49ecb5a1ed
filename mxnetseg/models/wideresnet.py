"""Wider ResNet-38 A2 (Wu et al., "Wider or Deeper", 2016), the trunk of GluonCV's
``deeplab_v3b_plus_wideresnet_citys`` (GluonCV's ``wider_resnet38_a2(dilation=True)``, itself
the Mapillary in-place-ABN / NVIDIA semantic-segmentation trunk).

Pre-activation blocks: BN-ReLU on the input feeds both the convs and, when the width or stride
changes, a 1x1 projection shortcut. Module names follow GluonCV's (``mod2.0.convs.1.0``) so its
``.params`` map one to one. timm has no such network, hence hand-written.
"""
from __future__ import annotations

import torch.nn as nn

from .backbones import load_backbone_weights
from .layers import get_norm_layer

__all__ = ["WiderResNet38"]

# per module (mod2..mod7): blocks, channels (two = basic block, three = bottleneck), dropout
_STRUCTURE = ((3, (128, 128), 0), (3, (256, 256), 0), (6, (512, 512), 0), (3, (512, 1024), 0),
              (1, (512, 1024, 2048), 0.3), (1, (1024, 2048, 4096), 0.5))


def _bn_relu(channels, norm_layer):
    return nn.Sequential(norm_layer(channels), nn.ReLU(inplace=True))


class IdentityResidualBlock(nn.Module):
    def __init__(self, in_ch, channels, stride=1, dilation=1, drop=0.0,
                 norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.bn1 = _bn_relu(in_ch, norm_layer)
        d = dilation
        if len(channels) == 2:
            layers = [nn.Conv2d(in_ch, channels[0], 3, stride, d, d, bias=False),
                      _bn_relu(channels[0], norm_layer),
                      nn.Conv2d(channels[0], channels[1], 3, 1, d, d, bias=False)]
        else:
            layers = [nn.Conv2d(in_ch, channels[0], 1, stride, bias=False),
                      _bn_relu(channels[0], norm_layer),
                      nn.Conv2d(channels[0], channels[1], 3, 1, d, d, bias=False),
                      _bn_relu(channels[1], norm_layer),
                      nn.Conv2d(channels[1], channels[2], 1, bias=False)]
        if drop:     # GluonCV puts the dropout before the last conv
            layers.insert(len(layers) - 1, nn.Dropout(drop))
        self.convs = nn.Sequential(*layers)
        self.proj_conv = (nn.Conv2d(in_ch, channels[-1], 1, stride, bias=False)
                          if stride != 1 or in_ch != channels[-1] else None)

    def forward(self, x):
        pre = self.bn1(x)
        shortcut = self.proj_conv(pre) if self.proj_conv is not None else x
        return self.convs(pre) + shortcut


class WiderResNet38(nn.Module):
    """Returns (mod2 output: stride 2, 128 ch; mod7 output: 4096 ch at stride 8 dilated, else
    32). ``dilated``: mod5 at dilation 2, mod6/mod7 at 4, strided only in mod4 (GluonCV's
    ``dilation=True``); otherwise mod4..mod6 stride 2. mod1 is a 3x3 conv at full resolution;
    the final BN-ReLU (``bn_out``) is not part of the trunk, as in GluonCV's DeepLabv3b+."""

    def __init__(self, dilated=True, norm_layer="BN", pretrained=False):
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.mod1 = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False))
        self.pool2 = nn.MaxPool2d(3, 2, 1)
        self.pool3 = nn.MaxPool2d(3, 2, 1)
        in_ch = 64
        for mod_id, (blocks, channels, drop) in enumerate(_STRUCTURE):
            layers = []
            for i in range(blocks):
                if dilated:
                    dilation = {3: 2, 4: 4, 5: 4}.get(mod_id, 1)
                    stride = 2 if i == 0 and mod_id == 2 else 1
                else:
                    dilation, stride = 1, 2 if i == 0 and 2 <= mod_id <= 4 else 1
                layers.append(IdentityResidualBlock(in_ch, channels, stride, dilation, drop, norm))
                in_ch = channels[-1]
            setattr(self, f"mod{mod_id + 2}", nn.Sequential(*layers))
        self.channels = (128, 4096)
        self.output_stride = 8 if dilated else 32
        load_backbone_weights(self, pretrained, "wideresnet38",
                              "GluonCV's MXNet weights of wider_resnet38_a2 from its model store")

    def forward(self, x):
        m2 = self.mod2(self.pool2(self.mod1(x)))
        x = self.mod4(self.mod3(self.pool3(m2)))
        return m2, self.mod7(self.mod6(self.mod5(x)))
