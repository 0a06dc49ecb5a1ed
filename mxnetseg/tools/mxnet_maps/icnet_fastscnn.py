"""GluonCV's ICNet and Fast-SCNN (``save_parameters`` names, as its model store ships them).

ICNet: the ResNet trunk keeps GluonCV's paths under ``backbone.body``; GluonCV's ``ConvBnRelu``
(``X.conv``, ``X.bn``) is our ``ConvBNAct`` (``X.0``, ``X.1``); its PSP head is our Sequential
(``psp_head.0`` = pyramid pooling with ``convs.0..3`` for ``conv1..4``, ``psp_head.1`` = the
3x3 CBR that GluonCV holds as ``block.0/1``); the CFF's ``conv_hign`` (sic) is ``conv_high``.

Fast-SCNN: the trunk (learning to downsample, global feature extractor) is under ``backbone``,
the fusion and classifier under ``head``; GluonCV's conv/BN Sequentials (``block``/``conv``
with conv, BN, ReLU at 0, 1, 2 and a depthwise-separable pair at 0-2, 3-5) become nested
``ConvBNAct``s; the aux head is our FCNHead (``aux_head.0.0/0.1``, ``aux_head.2``).
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import register_mxnet_map, rename, resnet_base_name

_CFF = r"head\.cff_(12|24)"
_ICNET = (
    (r"(conv_sub1\.\d|conv_sub[24])\.conv", r"\1.0"),
    (r"(conv_sub1\.\d|conv_sub[24])\.bn", r"\1.1"),
    *((rf"psp_head\.psp\.conv{i}\.([01])", rf"psp_head.0.convs.{i - 1}.\1") for i in range(1, 5)),
    (r"psp_head\.block\.([01])", r"psp_head.1.\1"),
    (rf"{_CFF}\.conv_low\.([01])", r"head.cff_\1.conv_low.\2"),
    (rf"{_CFF}\.conv_hign\.([01])", r"head.cff_\1.conv_high.\2"),
    (rf"({_CFF}\.conv_low_cls|head\.conv_cls)", r"\1"),
)


@register_mxnet_map("ICNet")
def icnet_name(name: str, model: nn.Module) -> Optional[str]:
    if name.endswith(".conv_low_cls.weight") and model.head.cff_12.conv_low_cls is None:
        return None                      # CFF classifiers (aux) into a model without aux
    return resnet_base_name(name) or rename(name, _ICNET)


# GluonCV's depthwise-separable Sequential (dw conv, BN, ReLU, pw conv, BN, ReLU) -> our
# DSConv (CBR 0, CBR 1)
_DS = {0: "0.0", 1: "0.1", 3: "1.0", 4: "1.1"}
_LTD, _GFE = "backbone.learning_to_downsample", "backbone.global_feature_extractor"
_BOTTLENECK = r"global_feature_extractor\.(bottleneck[1-3]\.[0-2])\.block"
_FAST = (
    (r"learning_to_downsample\.conv\.block\.([01])", rf"{_LTD}.conv.\1"),
    *((rf"learning_to_downsample\.(dsconv[12])\.conv\.{i}", rf"{_LTD}.\1.{ours}")
      for i, ours in _DS.items()),
    (rf"{_BOTTLENECK}\.0\.block\.([01])", rf"{_GFE}.\1.block.0.\2"),
    (rf"{_BOTTLENECK}\.1\.conv\.([01])", rf"{_GFE}.\1.block.1.\2"),
    (rf"{_BOTTLENECK}\.([23])", rf"{_GFE}.\1.block.\2"),
    *((rf"global_feature_extractor\.ppm\.conv{i}\.([01])", rf"{_GFE}.ppm.convs.{i - 1}.\1")
      for i in range(1, 5)),
    (r"global_feature_extractor\.ppm\.out\.block\.([01])", rf"{_GFE}.ppm_out.\1"),
    (r"feature_fusion\.dwconv\.conv\.([01])", r"head.feature_fusion.dwconv.\1"),
    (r"feature_fusion\.conv_lower_res", "head.feature_fusion.lower.0"),
    (r"feature_fusion\.bn", "head.feature_fusion.lower.1"),
    (r"feature_fusion\.conv_higher_res", "head.feature_fusion.higher.0"),
    (r"feature_fusion\.bn_high", "head.feature_fusion.higher.1"),
    *((rf"classifier\.dsconv{k}\.conv\.{i}", f"head.classifier.{k - 1}.{ours}")
      for k in (1, 2) for i, ours in _DS.items()),
    (r"classifier\.conv", "head.classifier.3"),
    (r"auxlayer\.block\.0", "aux_head.0.0"),
    (r"auxlayer\.block\.1", "aux_head.0.1"),
    (r"auxlayer\.block\.4", "aux_head.2"),
)


@register_mxnet_map("FastSCNN")
def fastscnn_name(name: str, model: nn.Module) -> Optional[str]:
    if name.startswith("auxlayer.") and getattr(model, "aux_head", None) is None:
        return None                      # aux weights into a model built without aux
    return rename(name, _FAST)
