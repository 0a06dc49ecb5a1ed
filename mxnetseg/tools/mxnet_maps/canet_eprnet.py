"""CANetv1, CANetv2 (GluonCV ResNet trunk + heads) and EPRNet (own EPRNet-Cls trunk).

Our modules keep the original's attribute paths; only the original's ``ConvModule2d``
(``conv``, ``bn``, ``act.act``) becomes our ``ConvBNAct`` Sequential (``0``, ``1``, ``2``), its
``FCNHead`` our FCNHead Sequential, and the EPRNet trunk moves under ``backbone``.
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import fcn_head_name, register_mxnet_map, rename, resnet_base_name

# ConvModule2d parts -> ConvBNAct indices, for any module path (``.+`` keeps the rest as is)
_CONV_MODULE = [(r"(.+)\.conv", r"\1.0"), (r"(.+)\.bn", r"\1.1"), (r"(.+)\.act\.act", r"\1.2")]
# the original's FCNHeads inside a head: (path prefix in MXNet and ours)
_FCN_HEADS = ("aux_head", "head.seg_head", "head.seg")


def _fcn_head(name: str, model: nn.Module) -> Optional[str]:
    for prefix in _FCN_HEADS:
        if name.startswith(prefix + "."):
            head = model
            for part in prefix.split("."):
                head = getattr(head, part, None)
            return fcn_head_name(prefix, name[len(prefix) + 1:], head) if head is not None \
                else None
    return None


@register_mxnet_map("CANetv1", "CANetv2")
def canet_name(name: str, model: nn.Module) -> Optional[str]:
    if name.startswith(("head.", "aux_head.")):
        return _fcn_head(name, model) or rename(name, _CONV_MODULE)
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
