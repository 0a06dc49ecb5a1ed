"""ACFNet, AttaNet, AlignSeg and FaPN (GluonCV ResNet trunk + heads whose module names mirror
the original's).

Besides the trunk, three kinds of names change:
- the original's ``FCNHead`` (conv1 = ConvModule2d, conv2) -> our FCNHead Sequential;
- ``ConvModule2d`` children ``conv`` / ``bn`` -> our ``ConvBNAct`` indices ``0`` / ``1``
  (decided by looking the parent up in our model, so a bare ``bn`` such as RCBlock's stays);
- FaPN's Gluon ``ModulatedDeformableConvolution`` (``offset_weight``/``offset_bias`` of its
  internal offset conv, ``deformable_conv_weight``/``_bias``) -> our ``ModulatedDeformConv``
  (``conv_offset.weight``/``.bias``, ``weight``/``bias``). Same shapes and channel layouts
  (offsets per group and tap as (dy, dx), then masks), so no permutation is needed.
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import bn_suffix, fcn_heads_key, register_mxnet_map, resnet_base_name
from ...models.layers import ConvBNAct

# model -> the FCNHead paths it holds (aux_head for all)
_FCN_HEADS = {"ACFNet": ("head.coarse_head", "head.head"), "AttaNet": ("head.seg",),
              "AlignSeg": ("head.head",), "FaPN": ("head.seg",)}
_DCN = {"offset_weight": "conv_offset.weight", "offset_bias": "conv_offset.bias",
        "deformable_conv_weight": "weight", "deformable_conv_bias": "bias"}
_CONV_MODULE = {"conv": "0", "bn": "1"}


def _submodule(model: nn.Module, path: str) -> Optional[nn.Module]:
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None


@register_mxnet_map("ACFNet", "AttaNet", "AlignSeg", "FaPN")
def attention_align_name(name: str, model: nn.Module) -> Optional[str]:
    if not name.startswith(("head.", "aux_head.")):
        return resnet_base_name(name)
    handled, ours = fcn_heads_key(name, model, ("aux_head", *_FCN_HEADS[type(model).__name__]))
    if handled:
        return ours
    stem, _, last = name.rpartition(".")
    if last in _DCN:
        return f"{stem}.{_DCN[last]}"
    split = bn_suffix(name)
    if split is None:
        return None
    stem, suffix = split
    parent, _, child = stem.rpartition(".")
    if child in _CONV_MODULE and isinstance(_submodule(model, parent), ConvBNAct):
        stem = f"{parent}.{_CONV_MODULE[child]}"
    return f"{stem}.{suffix}"
