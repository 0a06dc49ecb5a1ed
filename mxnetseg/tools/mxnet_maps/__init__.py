"""Parameter-name maps from the original MXNet models (``Block.save_parameters`` names) to ours.

``MXNET_NAME_MAPS[canonical model name]`` is ``fn(mxnet_name, model) -> our state-dict key``
(or None when the name has no counterpart). One module of this package per model family holds
its functions, registered with ``@register_mxnet_map("ModelName")``; every module here is
imported with the package.

Common pieces: MXNet BatchNorm ``gamma/beta/running_mean/running_var`` (``moving_*`` in some
exports) become ``weight/bias/running_mean/running_var``, PReLU ``alpha`` becomes ``weight``;
conv weights are OIHW and dense weights (out, in) on both sides.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Callable, Iterable, Optional

import torch.nn as nn

__all__ = ["MXNET_NAME_MAPS", "GLUONCV_NAME_MAPS", "register_mxnet_map", "register_gluoncv_map", "map_names", "bn_suffix", "rename",
           "CONV_MODULE", "cbr_rules", "resnet_base_name", "fcn_head_name", "fcn_heads_key"]

MXNET_NAME_MAPS: dict[str, Callable[[str, nn.Module], Optional[str]]] = {}
# GluonCV zoo names for models that also have an original-MXNetSeg map (tried first)
GLUONCV_NAME_MAPS: dict[str, Callable[[str, nn.Module], Optional[str]]] = {}

_BN = {"gamma": "weight", "beta": "bias", "running_mean": "running_mean",
       "running_var": "running_var", "moving_mean": "running_mean", "moving_var": "running_var"}
_PARAM = {"weight": "weight", "bias": "bias", "alpha": "weight", **_BN}


def register_mxnet_map(*names: str):
    def deco(fn):
        for n in names:
            MXNET_NAME_MAPS[n] = fn
        return fn
    return deco


def register_gluoncv_map(*names: str):
    def deco(fn):
        for n in names:
            GLUONCV_NAME_MAPS[n] = fn
        return fn
    return deco


def bn_suffix(name: str) -> Optional[tuple[str, str]]:
    """``a.b.gamma`` -> (``a.b``, ``weight``); None for a suffix that is no parameter."""
    stem, _, last = name.rpartition(".")
    return (stem, _PARAM[last]) if stem and last in _PARAM else None


def rename(name: str, rules: Iterable[tuple[str, str]]) -> Optional[str]:
    """Rewrite ``name``'s module path with the first rule whose pattern fully matches it
    (``re.fullmatch``, replacement with ``\\1``-style groups) and convert its parameter suffix;
    None when no rule matches."""
    split = bn_suffix(name)
    if split is None:
        return None
    stem, suffix = split
    for pattern, repl in rules:
        m = re.fullmatch(pattern, stem)
        if m:
            return f"{m.expand(repl)}.{suffix}"
    return None


# The original's ConvModule2d (``X.conv``, ``X.bn``) is our ConvBNAct Sequential (``X.0``,
# ``X.1``): rename() rules for any module path.
CONV_MODULE = ((r"(.+)\.conv", r"\1.0"), (r"(.+)\.bn", r"\1.1"))


def cbr_rules(stems: str, repl: str = r"\1") -> tuple[tuple[str, str], ...]:
    """CONV_MODULE for only the ConvModule2d's whose path fully matches the regex ``stems``
    (one group), rewritten to ``repl`` + ``.0`` (conv) / ``.1`` (norm)."""
    return tuple((rf"({stems})\.{part}", rf"{repl}.{i}") for i, part in enumerate(("conv", "bn")))


# --- ResNet v1b/v1s (GluonCV) as SegBaseResNet holds it -> timm features_only ResNet --------
# GluonCV and timm use the same structure names: conv1 (v1s: Sequential conv,bn,relu,conv,bn,
# relu,conv -- same indices), bn1, layerN.i.{conv1,bn1,conv2,bn2[,conv3,bn3]},
# layerN.i.downsample.{0,1}.
_RESNET = re.compile(r"^(conv1(\.\d+)?|bn1|layer[1-4]\.\d+\.(conv[1-3]|bn[1-3]|downsample\.[01]))$")


def resnet_base_name(name: str, prefix: str = "", ours: str = "backbone") -> Optional[str]:
    """A GluonCV ResNet trunk parameter (``conv1.0.weight``, ``layer3.4.bn2.gamma``; under
    ``prefix`` when the original nests the trunk) -> ``<ours>.body.<same>.<suffix>``."""
    if prefix:
        if not name.startswith(prefix):
            return None
        name = name[len(prefix):]
    split = bn_suffix(name)
    if split is None or not _RESNET.match(split[0]):
        return None
    return f"{ours}.body.{split[0]}.{split[1]}"


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


def fcn_heads_key(name: str, model: nn.Module, paths) -> tuple[bool, Optional[str]]:
    """(handled, our key) for a parameter of one of the original's FCNHeads at the module
    ``paths`` (the same paths in both models); the key is None when our model lacks that head
    (e.g. aux weights into a model built without aux)."""
    for path in paths:
        if name.startswith(path + "."):
            try:
                head = model.get_submodule(path)
            except AttributeError:
                return True, None
            return True, fcn_head_name(path, name[len(path) + 1:], head)
    return False, None


def map_names(model: nn.Module, names) -> tuple[dict[str, str], list[str]]:
    """(mxnet name -> our key, unmapped mxnet names) for ``model``'s registered map."""
    key = type(model).__name__
    fns = [maps[key] for maps in (GLUONCV_NAME_MAPS, MXNET_NAME_MAPS) if key in maps]
    if not fns:
        known = sorted(set(MXNET_NAME_MAPS) | set(GLUONCV_NAME_MAPS))
        raise KeyError(f"no MXNet name map for model {key!r}; models with one: "
                       f"{', '.join(known) or 'none'}")
    mapped, unmapped = {}, []
    for n in names:
        ours = next((o for o in (fn(n, model) for fn in fns) if o is not None), None)
        (unmapped.append(n) if ours is None else mapped.__setitem__(n, ours))
    return mapped, unmapped


# every module of this package is one family's maps, registering itself on import
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
