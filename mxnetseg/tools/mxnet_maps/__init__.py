"""Parameter-name maps from the original MXNet models (``Block.save_parameters`` names) to ours.

A model's map is ``fn(mxnet_name, model) -> our state-dict key`` (or None when the name has no
counterpart), kept with the model's own registry entry (``MODELS``, under the model's name):
``@register_mxnet_map("ModelName")`` in one module of this package per model family; every
module here is imported with the package. ``MXNET_NAME_MAPS`` is a read-only view by name.

Common pieces: MXNet BatchNorm ``gamma/beta/running_mean/running_var`` (``moving_*`` in some
exports) become ``weight/bias/running_mean/running_var``, PReLU ``alpha`` becomes ``weight``;
conv weights are OIHW and dense weights (out, in) on both sides.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Callable, Iterable, Optional

import torch.nn as nn

from ...models import MODELS

__all__ = ["MXNET_NAME_MAPS", "GLUONCV_NAME_MAPS", "register_mxnet_map", "register_gluoncv_map",
           "BACKBONE_NAME_MAPS", "register_backbone_map", "backbone_state", "map_names", "bn_suffix", "rename", "CONV_MODULE", "cbr_rules", "resnet_base_name",
           "fcn_head_name", "fcn_heads_key"]

_KEY = "mxnet_map"
_GLUONCV_KEY = "gluoncv_map"
NameMap = Callable[[str, nn.Module], Optional[str]]


class _Maps(Mapping):
    """canonical model name -> its name map under ``key``, read from the model registry."""

    def __init__(self, key: str):
        self.key = key

    def __getitem__(self, name) -> NameMap:
        fn = MODELS.attached(name, self.key) if name in MODELS else None
        if fn is None:
            raise KeyError(name)
        return fn

    def __iter__(self):
        return iter(MODELS.with_attached(self.key))

    def __len__(self):
        return len(MODELS.with_attached(self.key))


MXNET_NAME_MAPS: Mapping[str, NameMap] = _Maps(_KEY)
# GluonCV zoo names of models that also have an original-MXNetSeg map (tried first)
GLUONCV_NAME_MAPS: Mapping[str, NameMap] = _Maps(_GLUONCV_KEY)

_BN = {"gamma": "weight", "beta": "bias", "running_mean": "running_mean",
       "running_var": "running_var", "moving_mean": "running_mean", "moving_var": "running_var"}
_PARAM = {"weight": "weight", "bias": "bias", "alpha": "weight", **_BN}


def register_mxnet_map(*names: str):
    def deco(fn):
        for n in names:
            MODELS.attach(n, _KEY, fn)
        return fn
    return deco


def register_gluoncv_map(*names: str):
    def deco(fn):
        for n in names:
            MODELS.attach(n, _GLUONCV_KEY, fn)
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
    key = MODELS.name_of(type(model)) or type(model).__name__
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


# --- hand-written backbones from the original's ImageNet classifier files ----------------
# backbone name -> (map, prefixes of the classifier's names, which the backbone drops)
_BACKBONE_MAPS: dict[str, tuple[NameMap, tuple[str, ...]]] = {}
BACKBONE_NAME_MAPS: Mapping[str, tuple[NameMap, tuple[str, ...]]] = MappingProxyType(
    _BACKBONE_MAPS)


def register_backbone_map(*archs: str, skip: tuple[str, ...] = ()):
    """``fn(mxnet_name, backbone) -> key`` for the ``.params`` of the ImageNet classifier a
    backbone was cut from (what the original's ``backbone_init: {manner: cls}`` loaded); names
    starting with one of ``skip`` (the classifier's head) belong to no backbone key."""
    def deco(fn):
        for a in archs:
            _BACKBONE_MAPS[a] = (fn, tuple(skip))
        return fn
    return deco


def backbone_state(module: nn.Module, arch: str, path) -> dict:
    """An MXNet classifier ``.params`` file as ``module``'s state dict, through ``arch``'s
    registered backbone map; every name but the classifier's must map, each to one key."""
    import torch

    from ..mxnet_params import CheckpointError, read_params
    if arch not in _BACKBONE_MAPS:
        raise CheckpointError(f"{str(path)!r} is an MXNet .params file, but backbone {arch!r} "
                              f"has no MXNet name map (backbones with one: "
                              f"{', '.join(sorted(_BACKBONE_MAPS)) or 'none'}); convert it to a "
                              f"PyTorch state dict of the backbone")
    fn, skip = _BACKBONE_MAPS[arch]
    state, seen, problems = {}, {}, []
    for name, array in read_params(path).items():
        if skip and name.startswith(skip):
            continue
        ours = fn(name, module)
        if ours is None or ours in seen:
            problems.append(name if ours is None else f"{name} (also {seen[ours]} -> {ours})")
            continue
        seen[ours] = name
        state[ours] = torch.from_numpy(array.copy())
    if problems:
        more = f" ... (+{len(problems) - 10} more)" if len(problems) > 10 else ""
        raise CheckpointError(f"{str(path)!r} does not fit backbone {arch!r}: MXNet names with no "
                              f"single counterpart ({len(problems)}): "
                              f"{', '.join(problems[:10])}{more}")
    for key, value in module.state_dict().items():   # MXNet keeps no BN batch counters
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value.clone()
    return state


# every module of this package is one family's maps, registering itself on import
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
