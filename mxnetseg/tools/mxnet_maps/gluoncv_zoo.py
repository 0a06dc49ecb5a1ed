"""GluonCV model-zoo ``.params`` names (``save_parameters``, no prefixes) -> our keys.

GluonCV's FCN, PSPNet, DeepLabV3 and DANet are our FCNResNet, PSPNet, DeepLabv3 and DANet with
zoo options, so their maps here sit beside the original MXNetSeg's (``map_names`` tries the
GluonCV one first; the two name dialects do not overlap: GluonCV's heads are ``head.block.N``,
``auxlayer``, ``head.aspp.concurent``, ``head.conv5a``...). DeepLabv3PlusW is GluonCV's only.
Trunks: ResNet v1s as the original's (``conv1.0``, ``layer3.4.bn2``); ResNeSt adds the split-
attention conv (``layerN.i.conv2.{conv,bn,fc1,bn1,fc2}``; timm calls the first norm ``bn0``).
"""
from __future__ import annotations

import re
from typing import Optional

import torch.nn as nn

from . import register_gluoncv_map, register_mxnet_map, rename, resnet_base_name

# GluonCV's _FCNHead: block = [conv, BN, ReLU, Dropout, conv] -> our FCNHead Sequential
# (0 = ConvBNAct(conv, bn), 1 = Dropout, 2 = conv)
_FCN_HEAD = (("0", "0.0"), ("1", "0.1"), ("4", "2"))
_SAME = ((r"(.+)", r"\1"),)     # rename() rule that only converts the parameter suffix
_RESNEST = re.compile(r"^(conv1\.\d|bn1|layer[1-4]\.\d+\.(conv[13]|bn[13]|downsample\.[12]|"
                      r"conv2\.(conv|bn|fc1|bn1|fc2)))$")


def _head_rules(theirs: str, ours: str):
    return tuple((rf"{re.escape(theirs)}\.{a}", f"{ours}.{b}") for a, b in _FCN_HEAD)


def trunk_name(name: str) -> Optional[str]:
    """A GluonCV ResNet v1s or ResNeSt trunk parameter -> ``backbone.body.<same>``."""
    ours = resnet_base_name(name)
    if ours is not None:
        return ours
    stem, _, last = name.rpartition(".")
    if not _RESNEST.match(stem):
        return None
    stem = re.sub(r"\.conv2\.bn$", ".conv2.bn0", stem)
    return rename(f"backbone.body.{stem}.{last}", _SAME)


def _gluon(name: str, rules) -> Optional[str]:
    return trunk_name(name) or rename(name, rules)


@register_gluoncv_map("FCNResNet")
def fcn_name(name: str, model: nn.Module) -> Optional[str]:
    aux = _head_rules("auxlayer.block", "aux_head") if model.aux_head is not None else ()
    return _gluon(name, _head_rules("head.block", "head") + aux)


@register_gluoncv_map("PSPNet")
def psp_name(name: str, model: nn.Module) -> Optional[str]:
    aux = _head_rules("auxlayer.block", "aux_head") if model.aux_head is not None else ()
    pool = tuple((rf"head\.psp\.conv{i + 1}\.([01])", rf"head.pool.convs.{i}.\1")
                 for i in range(4))
    return _gluon(name, pool + _head_rules("head.block", "head.seg_head") + aux)


@register_gluoncv_map("DeepLabv3")
def deeplab_name(name: str, model: nn.Module) -> Optional[str]:
    aux = _head_rules("auxlayer.block", "aux_head") if model.aux_head is not None else ()
    aspp = ((r"head\.aspp\.concurent\.([0-3])\.([01])", r"head.aspp.branches.\1.\2"),
            (r"head\.aspp\.concurent\.4\.gap\.1", "head.aspp.branches.4.conv1x1.0"),
            (r"head\.aspp\.concurent\.4\.gap\.2", "head.aspp.branches.4.conv1x1.1"),
            (r"head\.aspp\.project\.([01])", r"head.aspp.projection.\1"))
    return _gluon(name, aspp + _head_rules("head.block", "head.head") + aux)


_DANET_GAMMA = {"head.sa.gamma": "head.pam.gamma", "head.sc.gamma": "head.cam.gamma"}


@register_gluoncv_map("DANet")
def danet_name(name: str, model: nn.Module) -> Optional[str]:
    if name in _DANET_GAMMA:
        return _DANET_GAMMA[name]
    rules = [(r"head\.conv5a\.([01])", r"head.compress_pam.\1"),
             (r"head\.conv5c\.([01])", r"head.compress_cam.\1"),
             (r"head\.conv51\.([01])", r"head.proj_pam.\1"),
             (r"head\.conv52\.([01])", r"head.proj_cam.\1"),
             (r"head\.sa\.(query_conv|key_conv|value_conv)", r"head.pam.\1"),
             (r"head\.conv8\.0", "head.head.1")]
    if model.aux_head is not None:   # GluonCV always has the two branch classifiers
        rules += [(r"head\.conv6\.0", "aux_head.0.1"), (r"head\.conv7\.0", "aux_head.1.1")]
    return _gluon(name, rules)


# GluonCV's wider_resnet38_a2 keeps its names under ``backbone.``; image pooling comes first in
# its ASPP concat (b4, then b0..b3); its decoder block is [conv, BN, ReLU] x 2 + conv
_WRN = ((r"mod\d\..+", lambda m: f"backbone.{m[0]}"),
        (r"head\.aspp\.b4\.gap\.([12])",
         lambda m: f"head.aspp.branches.0.conv1x1.{int(m[1]) - 1}"),
        (r"head\.aspp\.b([0-3])\.([01])",
         lambda m: f"head.aspp.branches.{int(m[1]) + 1}.{m[2]}"),
        (r"head\.aspp\.project\.0", lambda m: "head.aspp.projection"),
        (r"head\.c1_block\.0", lambda m: "head.c1_block"),
        (r"head\.block\.([0134])", lambda m: "head.block.{}.{}".format(*divmod(int(m[1]), 3))),
        (r"head\.block\.6", lambda m: "head.block.2"))


@register_mxnet_map("DeepLabv3PlusW")
def deeplabv3b_plus_name(name: str, model: nn.Module) -> Optional[str]:
    stem, _, last = name.rpartition(".")
    for pattern, ours in _WRN:
        m = re.fullmatch(pattern, stem)
        if m:
            return rename(f"{ours(m)}.{last}", _SAME)
    return None
