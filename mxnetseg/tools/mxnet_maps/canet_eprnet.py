"""CANetv1, CANetv2 (GluonCV ResNet trunk + heads) and EPRNet (own EPRNet-Cls trunk).

Our modules keep the original's attribute paths; only the original's ``ConvModule2d``
(``conv``, ``bn``, ``act.act``) becomes our ``ConvBNAct`` Sequential (``0``, ``1``, ``2``), its
``FCNHead`` our FCNHead Sequential, and the EPRNet trunk moves under ``backbone``. The
EPRNet-Cls ImageNet classifier (``weights/eprnetcls/*.params``) has the trunk's names at the top
level, plus its ``linear`` classifier, which the trunk drops.
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import (CONV_MODULE, fcn_heads_key, register_backbone_map, register_mxnet_map, rename,
               resnet_base_name)

# ConvModule2d parts -> ConvBNAct indices (0 conv, 1 norm, 2 activation), any module path
_CONV_MODULE = CONV_MODULE + ((r"(.+)\.act\.act", r"\1.2"),)
# the original's FCNHeads (same paths in MXNet and ours)
_FCN_HEADS = ("aux_head", "head.seg_head", "head.seg")


@register_mxnet_map("CANetv1", "CANetv2")
def canet_name(name: str, model: nn.Module) -> Optional[str]:
    if name.startswith(("head.", "aux_head.")):
        handled, ours = fcn_heads_key(name, model, _FCN_HEADS)
        return ours if handled else rename(name, _CONV_MODULE)
    return resnet_base_name(name)


_EPR_TRUNK = [
    (r"(conv|bn)", r"backbone.\1"),                                  # stem conv, BN
    (r"act\.act", "backbone.act"),                                   # stem PReLU
    (r"(layer\d\.\d+\.(skip|skip_bn))", r"backbone.\1"),             # shortcut conv, BN
    (r"(layer\d\.\d+)\.act\.act", r"backbone.\1.act"),               # module's PReLU
    (r"(layer\d\.\d+\..+)\.conv", r"backbone.\1.0"),                 # ConvModule2d inside
    (r"(layer\d\.\d+\..+)\.bn", r"backbone.\1.1"),
    (r"(layer\d\.\d+\..+)\.act\.act", r"backbone.\1.2"),
]
_EPR_HEAD = [(r"head\.conv1\.conv", "head.0.0"), (r"head\.conv1\.bn", "head.0.1"),
             (r"head\.conv1\.act\.act", "head.0.2")]


@register_mxnet_map("EPRNet")
def eprnet_name(name: str, model: nn.Module) -> Optional[str]:
    if name.startswith("head.conv2."):
        return f"head.{len(model.head) - 1}.{name.rsplit('.', 1)[1]}"
    return rename(name, _EPR_HEAD if name.startswith("head.") else _EPR_TRUNK)


@register_backbone_map("eprnet_cls", "eprnet_cls_light", skip=("linear.",))
def eprnet_cls_name(name: str, backbone: nn.Module) -> Optional[str]:
    ours = rename(name, _EPR_TRUNK)
    return ours.removeprefix("backbone.") if ours else None
