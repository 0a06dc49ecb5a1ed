"""BiSeNetR, BiSeNetX, FCNMobileNet and DeepLabv3PlusX.

The original's ``ConvModule2d`` (``X.conv``, ``X.bn``) is our ``ConvBNAct`` Sequential
(``X.0``, ``X.1``); its FCNHeads go through ``fcn_head_name``. Differences in module paths:

- BiSeNet: the spatial path's ``conv7x7, conv3x3_1, conv3x3_2, conv1x1`` are our Sequential
  ``spatial_path.0..3``; the ARMs ``refine_c4`` / ``refine_c3`` are ``refine_deep`` /
  ``refine_second`` (the Xception variant refines layer3 / layer2 under the same names).
- BiSeNetX's Xception39 stem ``conv`` is our ``backbone.conv1``; its blocks keep their paths.
- FCNMobileNet's and DeepLabv3PlusX's trunks keep the original's paths under ``backbone.``.
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import bn_suffix, cbr_rules, fcn_heads_key, register_mxnet_map, rename, resnet_base_name


def _same_path(name: str, prefix: str = "backbone") -> Optional[str]:
    """``a.b.gamma`` -> ``<prefix>.a.b.weight``: a module kept at the original's path."""
    split = bn_suffix(name)
    return None if split is None else f"{prefix}.{split[0]}.{split[1]}"


# --- BiSeNet ---------------------------------------------------------------------------------
_SPATIAL = {"conv7x7": 0, "conv3x3_1": 1, "conv3x3_2": 2, "conv1x1": 3}
_BISENET_HEAD = (
    tuple(rule for stem, i in _SPATIAL.items()
          for rule in cbr_rules(rf"head\.spatial_path\.{stem}", f"head.spatial_path.{i}"))
    + cbr_rules(r"head\.(?:global_flow\.conv1x1|proj|fusion\.(?:proj|conv1x1_[12])|"
           r"(?:refine_deep|refine_second)\.(?:conv3x3|conv1x1))"))


def _bisenet_head(name: str, model: nn.Module) -> tuple[bool, Optional[str]]:
    handled, ours = fcn_heads_key(name, model, ("head.seg", "aux_head.0", "aux_head.1"))
    if handled:
        return True, ours
    if not name.startswith("head."):
        return False, None
    name = name.replace("head.refine_c4.", "head.refine_deep.", 1)
    name = name.replace("head.refine_c3.", "head.refine_second.", 1)
    return True, rename(name, _BISENET_HEAD)


@register_mxnet_map("BiSeNetR")
def bisenet_r_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = _bisenet_head(name, model)
    return ours if handled else resnet_base_name(name)


_XCEPTION39 = (
    cbr_rules(r"conv", "backbone.conv1")
    + cbr_rules(r"layer[1-3]\.\d+\.(?:down|residual\.[0-2]\.pointwise)", r"backbone.\1")
    + ((r"(layer[1-3]\.\d+\.residual\.[0-2]\.depthwise)", r"backbone.\1"),))


@register_mxnet_map("BiSeNetX")
def bisenet_x_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = _bisenet_head(name, model)
    return ours if handled else rename(name, _XCEPTION39)


# --- FCNMobileNet ----------------------------------------------------------------------------
@register_mxnet_map("FCNMobileNet")
def fcn_mobilenet_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head", "aux_head"))
    if handled:
        return ours
    # GluonCV's ``features`` split into layer1..4 as the original does; paths kept
    return _same_path(name) if name.startswith(("layer1.", "layer2.", "layer3.", "layer4.")) \
        else None


# --- DeepLabv3PlusX --------------------------------------------------------------------------
_XCEPTION65_TOP = ("conv", "bn", "block", "midflow.")
_DEEPLAB_PLUS_HEAD = cbr_rules(r"head\.(?:aspp\.(?:branches\.\d+(?:\.conv1x1)?|projection)|"
                          r"conv_c1|conv3x3)")


@register_mxnet_map("DeepLabv3PlusX")
def deeplabv3plus_x_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head.head",))
    if handled:
        return ours
    if name.startswith("head."):
        return rename(name, _DEEPLAB_PLUS_HEAD)
    # GluonCV Xception65 trunk: conv1/2, bn1..5, block1..3, midflow.N, block20, conv3..5
    return _same_path(name) if name.startswith(_XCEPTION65_TOP) else None
