"""SemanticFPN, LadderDenseNet (GluonCV DenseNet trunk), GFFNet and SeENet.

Our heads mirror the original's attribute names except where a list replaced numbered
attributes (GFFNet ``gate_k``/``conv1x1_k``/``fusion_k``/``blk_k``, SeE ``branchK``, the PPM's
``convK``). The original's ``ConvModule2d`` (``.conv``, ``.bn``) is our ``ConvBNAct``
Sequential (``.0``, ``.1``).
"""
from __future__ import annotations

import re
from typing import Optional

import torch.nn as nn

from . import (CONV_MODULE, bn_suffix, fcn_heads_key, register_backbone_map, register_mxnet_map,
               rename, resnet_base_name)

# a ConvModule2d's conv/bn -> ConvBNAct 0/1; any other parameter keeps its path
_ANY_PATH = CONV_MODULE + ((r"(.+)", r"\1"),)
_DENSE_LAYER = {"0": "norm1", "2": "conv1", "3": "norm2", "5": "conv2"}


def _head_name(name: str, model: nn.Module, fcn_prefixes=()) -> Optional[str]:
    """FCN heads at ``fcn_prefixes``, then any ``head.`` parameter as a ConvModule2d path."""
    handled, key = fcn_heads_key(name, model, fcn_prefixes)
    if handled:
        return key
    return rename(name, _ANY_PATH) if name.startswith("head.") else None


@register_mxnet_map("SemanticFPN")
def semanticfpn_name(name: str, model: nn.Module) -> Optional[str]:
    return resnet_base_name(name) or _head_name(name, model)


# --- GluonCV DenseNet trunk as SegBaseDenseNet slices it ----------------------------------
# stem = features[0:4] (0 conv, 1 BN); layer1 = [block1]; layerL = [transition, block] for
# L = 2..4, layer4 adds the final BN (index 2). Dense layer j = HybridConcurrent(Identity,
# Sequential(0 BN, 1 relu, 2 conv1x1, 3 BN, 4 relu, 5 conv3x3)); transition = (0 BN, 1 relu,
# 2 conv, 3 pool).
def densenet_base_name(name: str, ours: str = "backbone") -> Optional[str]:
    split = bn_suffix(name)
    if split is None:
        return None
    stem, suffix = split
    if stem in ("stem.0", "stem.1"):
        return f"{ours}.stem.{'conv0' if stem == 'stem.0' else 'norm0'}.{suffix}"
    if stem == "layer4.2":
        return f"{ours}.layer4.norm5.{suffix}"
    m = re.fullmatch(r"layer([1-4])\.(\d+)\.(\d+)\.1\.([0235])", stem)
    if m and m.group(2) == ("0" if m.group(1) == "1" else "1"):   # dense layer j of block L
        level, layer, part = m.group(1), int(m.group(3)), _DENSE_LAYER[m.group(4)]
        return f"{ours}.layer{level}.denseblock{level}.denselayer{layer + 1}.{part}.{suffix}"
    m = re.fullmatch(r"layer([2-4])\.0\.([02])", stem)
    if m:
        part = "norm" if m.group(2) == "0" else "conv"
        return f"{ours}.layer{m.group(1)}.transition{int(m.group(1)) - 1}.{part}.{suffix}"
    return None


# GluonCV's ImageNet DenseNet (``features.K``, classifier ``output``) -> the slices above
_FEATURES = {0: "stem.0", 1: "stem.1", 4: "layer1.0", 5: "layer2.0", 6: "layer2.1",
             7: "layer3.0", 8: "layer3.1", 9: "layer4.0", 10: "layer4.1", 11: "layer4.2"}


@register_backbone_map("densenet121", "densenet161", "densenet169", "densenet201",
                       skip=("output.",))
def densenet_cls_name(name: str, backbone: nn.Module) -> Optional[str]:
    m = re.fullmatch(r"features\.(\d+)\.(.+)", name)
    if m is None or int(m.group(1)) not in _FEATURES:
        return None
    ours = densenet_base_name(f"{_FEATURES[int(m.group(1))]}.{m.group(2)}")
    return ours.removeprefix("backbone.") if ours else None


@register_mxnet_map("LadderDenseNet")
def ladderdensenet_name(name: str, model: nn.Module) -> Optional[str]:
    return densenet_base_name(name) or _head_name(name, model, ("head.seg_head", "aux_head"))


_GFF_RULES = [
    (r"head\.ppm\.0\.conv([1-4])\.([01])", lambda m: f"head.ppm.0.convs.{int(m[1]) - 1}.{m[2]}"),
    (r"head\.conv1x1_([1-4])\.([01])", lambda m: f"head.reduce.{int(m[1]) - 1}.{m[2]}"),
    (r"head\.gate_([1-4])\.0", lambda m: f"head.gates.{int(m[1]) - 1}.0"),
    (r"head\.fusion_([1-4])\.([01])\.([01])",
     lambda m: f"head.fusions.{int(m[1]) - 1}.{m[2]}.{m[3]}"),
    (r"head\.dfp\.blk_([1-4])\.([01])", lambda m: f"head.dfp.blocks.{4 - int(m[1])}.{m[2]}"),
]


def _apply(name: Optional[str], rules) -> Optional[str]:
    """``rename``-like, for rules whose replacement is a function of the match."""
    if name is None:
        return None
    stem, _, suffix = name.rpartition(".")
    for pattern, repl in rules:
        m = re.fullmatch(pattern, stem)
        if m:
            return f"{repl(m)}.{suffix}"
    return name


@register_mxnet_map("GFFNet")
def gffnet_name(name: str, model: nn.Module) -> Optional[str]:
    return resnet_base_name(name) or \
        _apply(_head_name(name, model, ("head.dfp.head", "aux_head")), _GFF_RULES)


_SEE_RULES = [
    (r"head\.(seemc[234])\.branch([1-4])\.(\d+(\..+)?)",
     lambda m: f"head.{m[1]}.branches.{int(m[2]) - 1}.{m[3]}"),
]


@register_mxnet_map("SeENet")
def seenet_name(name: str, model: nn.Module) -> Optional[str]:
    return resnet_base_name(name) or _apply(_head_name(name, model, ("aux_head",)), _SEE_RULES)
