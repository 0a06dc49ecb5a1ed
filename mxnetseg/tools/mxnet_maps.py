"""Parameter-name maps from the original MXNet models (``Block.save_parameters`` names) to ours.

``MXNET_NAME_MAPS[canonical model name]`` is ``fn(mxnet_name, model) -> our state-dict key``
(or None when the name has no counterpart). Add a model by writing its function and
registering it with ``@register_mxnet_map("ModelName")``.

Common pieces: MXNet BatchNorm ``gamma/beta/running_mean/running_var`` (``moving_*`` in some
exports) become ``weight/bias/running_mean/running_var``; conv weights are OIHW on both sides.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

import torch.nn as nn

__all__ = ["MXNET_NAME_MAPS", "register_mxnet_map", "map_names", "bn_suffix"]

MXNET_NAME_MAPS: dict[str, Callable[[str, nn.Module], Optional[str]]] = {}

_BN = {"gamma": "weight", "beta": "bias", "running_mean": "running_mean",
       "running_var": "running_var", "moving_mean": "running_mean", "moving_var": "running_var"}
_PARAM = {"weight": "weight", "bias": "bias", **_BN}


def register_mxnet_map(*names: str):
    def deco(fn):
        for n in names:
            MXNET_NAME_MAPS[n] = fn
        return fn
    return deco


def bn_suffix(name: str) -> Optional[tuple[str, str]]:
    """``a.b.gamma`` -> (``a.b``, ``weight``); None for a suffix that is no parameter."""
    stem, _, last = name.rpartition(".")
    return (stem, _PARAM[last]) if stem and last in _PARAM else None


# --- ResNet v1b/v1s (GluonCV) as SegBaseResNet holds it -> timm features_only ResNet --------
# GluonCV and timm use the same structure names: conv1 (v1s: Sequential conv,bn,relu,conv,bn,
# relu,conv -- same indices), bn1, layerN.i.{conv1,bn1,conv2,bn2[,conv3,bn3]},
# layerN.i.downsample.{0,1}.
_RESNET = re.compile(r"^(conv1(\.\d+)?|bn1|layer[1-4]\.\d+\.(conv[1-3]|bn[1-3]|downsample\.[01]))$")


def resnet_base_name(name: str) -> Optional[str]:
    split = bn_suffix(name)
    if split is None or not _RESNET.match(split[0]):
        return None
    return f"backbone.body.{split[0]}.{split[1]}"


def fcn_head_name(prefix: str, rest: str, head: nn.Module) -> Optional[str]:
    """The original's FCNHead (conv1 = ConvModule2d(conv, bn), drop, conv2) -> our FCNHead
    Sequential (0 = ConvBNAct(0 conv, 1 bn), [1 = Dropout], last = Conv2d)."""
    stem, _, last = rest.rpartition(".")
    if stem == "conv1.conv" and last == "weight":
        return f"{prefix}.0.0.weight"
    if stem == "conv1.bn" and last in _BN:
        return f"{prefix}.0.1.{_BN[last]}"
    if stem == "conv2" and last in ("weight", "bias"):
        return f"{prefix}.{len(head) - 1}.{last}"
    return None


@register_mxnet_map("FCNResNet")
def fcn_resnet_name(name: str, model: nn.Module) -> Optional[str]:
    for prefix in ("head", "aux_head"):
        if name.startswith(prefix + "."):
            head = getattr(model, prefix, None)
            return fcn_head_name(prefix, name[len(prefix) + 1:], head) if head is not None \
                else None
    return resnet_base_name(name)


def map_names(model: nn.Module, names) -> tuple[dict[str, str], list[str]]:
    """(mxnet name -> our key, unmapped mxnet names) for ``model``'s registered map."""
    key = type(model).__name__
    if key not in MXNET_NAME_MAPS:
        raise KeyError(f"no MXNet name map for model {key!r}; models with one: "
                       f"{', '.join(sorted(MXNET_NAME_MAPS)) or 'none'}")
    fn = MXNET_NAME_MAPS[key]
    mapped, unmapped = {}, []
    for n in names:
        ours = fn(n, model)
        (unmapped.append(n) if ours is None else mapped.__setitem__(n, ours))
    return mapped, unmapped
