"""PSPNet, DeepLabv3, DeepLabv3PlusR, DenseASPP, DANet and AttentionToScale (GluonCV ResNet
trunk + the original's heads).

The original's ``ConvModule2d`` (``X.conv``, ``X.bn``) is our ``ConvBNAct`` Sequential
(``X.0``, ``X.1``); its FCNHead goes through ``fcn_head_name``. Module paths otherwise follow the
original's, except where we hold numbered siblings in a list (``convN`` / ``dilateN`` /
``transN`` -> ``convs.N-1`` / ``dilate.N-1`` / ``trans.N-1``).
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import CONV_MODULE, cbr_rules, fcn_heads_key, register_mxnet_map, rename, resnet_base_name

# ASPPModule: the 1x1 and dilated branches and the projection are ConvModule2d; the image-pool
# branch nests one as ``conv1x1``
_ASPP = cbr_rules(r"head\.aspp\.(branches\.\d+(\.conv1x1)?|projection)")


def _trunk_or(name: str, rules) -> Optional[str]:
    return resnet_base_name(name) or rename(name, rules)


def _numbered(name: str, prefix: str, kinds: dict[str, str]) -> Optional[str]:
    """``<prefix><kind>N.(conv|bn).<param>`` (N from 1) -> ``<prefix><kinds[kind]>.N-1.(0|1).
    <param>``: numbered ConvModule2d siblings that we hold in a ModuleList; None otherwise."""
    if not name.startswith(prefix):
        return None
    block, _, rest = name[len(prefix):].partition(".")
    kind = block.rstrip("0123456789")
    idx = block[len(kind):]
    if kind not in kinds or not idx.isdigit() or int(idx) < 1 or rest.count(".") != 1:
        return None
    return rename(f"{prefix}{kinds[kind]}.{int(idx) - 1}.{rest}", CONV_MODULE)


@register_mxnet_map("PSPNet")
def pspnet_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head.seg_head", "aux_head"))
    if handled:
        return ours
    # PPModule conv1..conv4 (one per bin) -> convs.0..3
    return resnet_base_name(name) or _numbered(name, "head.pool.", {"conv": "convs"})


@register_mxnet_map("DeepLabv3")
def deeplabv3_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head.head", "aux_head"))
    return ours if handled else _trunk_or(name, _ASPP)


@register_mxnet_map("DeepLabv3PlusR")
def deeplabv3plus_r_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head.head",))
    if handled:
        return ours
    return _trunk_or(name, _ASPP + cbr_rules(r"head\.(conv_c1|conv3x3)"))


@register_mxnet_map("DenseASPP")
def denseaspp_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head.head", "aux_head"))
    if handled:
        return ours
    return (_trunk_or(name, cbr_rules(r"head\.dense_aspp\.projection"))
            or _numbered(name, "head.dense_aspp.", {"dilate": "dilate", "trans": "trans"}))


@register_mxnet_map("DANet")
def danet_name(name: str, model: nn.Module) -> Optional[str]:
    if name in ("head.pam.gamma", "head.cam.gamma"):          # attention scales, kept as is
        return name
    if name.startswith(("head.pam.", "head.head.", "aux_head.")):
        # plain convs with bias (PAM q/k/v, classifiers = Sequential(Dropout, Conv)): same path
        return name if name.rpartition(".")[2] in ("weight", "bias") else None
    return _trunk_or(name, cbr_rules(r"head\.(compress|proj)_(pam|cam)"))


@register_mxnet_map("AttentionToScale")
def attention_to_scale_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head.seg_head",))
    if handled:
        return ours
    if name in ("head.conv1x1.weight", "head.conv1x1.bias"):
        return name
    # AuxHead (conv1 = ConvModule2d 1x1, conv2 = conv with bias) -> Sequential(ConvBNAct, Conv)
    rules = cbr_rules(r"head\.conv3x3") + (
        (r"aux_head\.(\d+)\.conv1\.conv", r"aux_head.\1.0.0"),
        (r"aux_head\.(\d+)\.conv1\.bn", r"aux_head.\1.0.1"),
        (r"aux_head\.(\d+)\.conv2", r"aux_head.\1.1"))
    return _trunk_or(name, rules)
