"""SwiftResNet / SwiftResNetPr (GluonCV ResNet trunk + SwiftNet heads).

The original's ``ConvModule2d`` holds ``conv`` and ``bn``; our ``ConvBNAct`` is a Sequential
(0 = conv, 1 = norm). Its ``PPModule`` names its branches ``conv1..conv4``; ours is the
ModuleList ``convs.0..3``. FCNHead / AuxHead go through ``fcn_head_name`` (an AuxHead is an
FCNHead without dropout: conv1 = CBR, conv2 = the classifier).
"""
from __future__ import annotations

import re
from typing import Optional

import torch.nn as nn

from . import fcn_heads_key, register_mxnet_map, rename, resnet_base_name

# every ConvModule2d of both heads, after the PPM branches are renumbered
_CBR = (r"(ppool\.convs\.[0-3]|conv_c4|conv1x1|"
        r"(?:fusion_c[1-3]|fusion_(?:32|16|8)x|final)\.conv(?:1x1|3x3))")
_RULES = ((_CBR + r"\.conv", r"head.\1.0"), (_CBR + r"\.bn", r"head.\1.1"))


def _ppm_branch(m: re.Match) -> str:
    return f"ppool.convs.{int(m.group(1)) - 1}."


@register_mxnet_map("SwiftResNet", "SwiftResNetPr")
def swiftnet_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head.seg_head", "aux_head"))
    if handled:
        return ours
    if name.startswith("head."):
        return rename(re.sub(r"^ppool\.conv([1-4])\.", _ppm_branch, name[len("head."):]),
                      _RULES)
    return resnet_base_name(name)
