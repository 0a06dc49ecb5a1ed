"""DenseNet-BC backbones (121/161/169/201) split into stages as the original's
``SegBaseDenseNet`` splits GluonCV's ``features``, built from timm's DenseNet.

GluonCV and timm build the same network (7x7/2 stem conv -> BN-ReLU -> maxpool 3/2; dense
layers BN-ReLU-1x1 (4k) -> BN-ReLU-3x3 (k); transitions BN-ReLU-1x1 (half) -> avgpool 2/2;
final BN-ReLU), with the same parameter counts. Stages (GluonCV ``features`` indices):
stem = 0-3, c1 = dense block 1 (4), c2 = transition 1 + block 2 (5-6), c3 = transition 2 +
block 3 (7-8), c4 = transition 3 + block 4 + final BN-ReLU (9-12). c1..c3 are the blocks' raw
concatenations (no BN-ReLU), c4 is normalised and rectified. Output stride 32 only.
Module names are timm's (``denseblock1.denselayer1.norm1``), so timm's weights fit as they are.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch.nn as nn

from .backbones import load_backbone_weights, timm_model
from .layers import ModelConfigError, get_norm_layer

__all__ = ["DenseNetBackbone", "DENSENET_CHANNELS"]

# c1..c4 channels of each variant (the original's ``stage_channels``)
DENSENET_CHANNELS = {
    "densenet121": (256, 512, 1024, 1024),
    "densenet161": (384, 768, 2112, 2208),
    "densenet169": (256, 512, 1280, 1664),
    "densenet201": (256, 512, 1792, 1920),
}
PRETRAINED_TAG = "tv_in1k"      # timm's port of the torchvision weights (GluonCV's came from them)
_TIMM_NORMS = {"bn": "batchnorm2d", "syncbn": "batchnorm2d", "gn": "groupnorm"}


class DenseNetBackbone(nn.Module):
    """``forward(x)`` -> (c1, c2, c3, c4) at strides 4/8/16/32.

    ``pretrained``: False (random init), True (timm's ``<name>.tv_in1k`` ImageNet weights,
    downloaded or from ``$MXNETSEG_PRETRAINED_DIR``) or a path to a local weights file of timm's
    DenseNet or to GluonCV's ImageNet ``.params`` (``densenet121-f27dbf2d.params``; the same
    torchvision weights, converted; its classifier is dropped). ``norm_layer``: BN, SyncBN (built as BN; the trainer converts it) or GN (32 groups).
    """

    def __init__(self, name="densenet121", norm_layer="BN", pretrained=False):
        super().__init__()
        key = str(name).lower()
        if key not in DENSENET_CHANNELS:
            raise ModelConfigError(f"unknown DenseNet backbone {name!r}; available: "
                                   f"{', '.join(DENSENET_CHANNELS)}")
        get_norm_layer(norm_layer)                      # validates the name
        norm = _TIMM_NORMS[str(norm_layer).lower()] if isinstance(norm_layer, str) else norm_layer
        kwargs = dict(num_classes=0, norm_layer=norm)
        gluoncv_file = _mxnet_file(pretrained)
        net = timm_model(key, name, False if gluoncv_file else pretrained, PRETRAINED_TAG,
                         **kwargs)
        f = dict(net.features.named_children())
        self.stem = nn.Sequential(OrderedDict((n, f[n]) for n in ("conv0", "norm0", "pool0")))
        self.layer1 = nn.Sequential(OrderedDict(denseblock1=f["denseblock1"]))
        self.layer2 = nn.Sequential(OrderedDict(
            (n, f[n]) for n in ("transition1", "denseblock2")))
        self.layer3 = nn.Sequential(OrderedDict(
            (n, f[n]) for n in ("transition2", "denseblock3")))
        self.layer4 = nn.Sequential(OrderedDict(
            (n, f[n]) for n in ("transition3", "denseblock4", "norm5")))
        self.name = key
        self.output_stride = 32
        self.channels = DENSENET_CHANNELS[key]
        if gluoncv_file:
            load_backbone_weights(self, gluoncv_file, key, f"GluonCV's '{key}' .params")

    def forward(self, x):
        c1 = self.layer1(self.stem(x))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        return c1, c2, c3, self.layer4(c3)


def _mxnet_file(pretrained):
    """``pretrained`` when it names an MXNet ``.params`` file (GluonCV's model store)."""
    if isinstance(pretrained, (str, os.PathLike)) and Path(pretrained).expanduser().is_file():
        from ..tools.checkpoint import is_mxnet_params
        if is_mxnet_params(Path(pretrained).expanduser()):
            return Path(pretrained).expanduser()
    return None
