"""The one skeleton every model of the zoo is built on (in the spirit of SMP's
``SegmentationModel``): a backbone, a head, optional auxiliary heads, and one forward tail that
resizes every output to the input and returns them main-first.

A model file then holds only what its paper adds::

    @register_model("PSPNet", aliases=("psp",))
    class PSPNet(SegmentationModel):
        fixed_stride = 8                      # the original ignores ``dilate``

        def build(self, nclass, aux, norm, trunk):
            self.backbone = trunk.resnet()
            self.head = ...                   # reads feats[-1] (head_stages)
            self.aux_head = FCNHead(...) if aux else None   # reads feats[-2] (aux_stages)

The common options (``backbone``, ``aux``, ``dilate``, ``norm_layer``, ``pretrained_base``,
``output_stride``) are taken here once; a model's own options are the keyword parameters of its
``build`` after ``trunk``, and appear in the model's signature (which ``create_model`` reads).
"""
from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn as nn

from .backbones import ResNetBackbone
from .layers import dilated_output_stride, fixed_output_stride, get_norm_layer, resize

__all__ = ["SegmentationModel", "Trunk", "ALL_STAGES"]

ALL_STAGES = (0, 1, 2, 3)   # head_stages of the models whose head reads c1..c4


@dataclass(frozen=True)
class Trunk:
    """What the caller asked of the backbone; ``build`` turns it into one (``trunk.resnet()``
    for the ResNets, or any backbone class given these fields)."""
    name: Optional[str]
    output_stride: int
    norm_layer: object
    pretrained: object

    def resnet(self) -> nn.Module:
        return ResNetBackbone(self.name, self.output_stride, self.norm_layer, self.pretrained)


_COMMON = (("backbone", None), ("aux", False), ("dilate", False), ("norm_layer", "BN"),
           ("pretrained_base", False), ("output_stride", None))


class SegmentationModel(nn.Module, metaclass=abc.ABCMeta):
    """Backbone + head + optional aux heads; ``forward`` = ``heads(features(x))``, each output
    resized (bilinear, align_corners) to the input size, main output first.

    Class attributes a model sets:
      ``default_backbone``: the ``backbone`` default;
      ``fixed_stride``: the output stride the original forces (``dilate`` ignored, another
      explicit ``output_stride`` an error); None: ``dilate`` picks 8 or 32 and an explicit
      ``output_stride`` wins (override ``choose_output_stride`` for another rule);
      ``head_stages`` / ``aux_stages``: which entries of ``features(x)`` the head reads (as
      positional arguments) and each aux head reads (one index per aux head, in output order).
    Override ``features`` (e.g. two scales, or the image itself for a spatial path) and
    ``heads`` (heads that return several maps) where the paper needs it.
    """
    default_backbone: Optional[str] = "resnet50"
    fixed_stride: Optional[int] = None
    head_stages: Sequence[int] = (-1,)
    aux_stages: Sequence[int] = (-2,)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__signature__ = _signature(cls)

    def __init__(self, nclass, backbone=None, aux=False, dilate=False, norm_layer="BN",
                 pretrained_base=False, output_stride=None, **options):
        super().__init__()
        trunk = Trunk(backbone if backbone is not None else self.default_backbone,
                      self.choose_output_stride(dilate, output_stride), norm_layer,
                      pretrained_base)
        self.build(nclass, aux, get_norm_layer(norm_layer), trunk, **options)

    def choose_output_stride(self, dilate: bool, output_stride: Optional[int]) -> int:
        if self.fixed_stride is not None:
            return fixed_output_stride(type(self).__name__, self.fixed_stride, output_stride)
        return dilated_output_stride(dilate, output_stride)

    @abc.abstractmethod
    def build(self, nclass: int, aux: bool, norm, trunk: Trunk) -> None:
        """Set ``self.backbone``, ``self.head`` and (with ``aux``) ``self.aux_head``."""

    def features(self, x: torch.Tensor):
        return self.backbone(x)

    def aux_outputs(self, feats) -> list:
        """Each aux head on its ``aux_stages`` entry of ``feats``; [] without aux (a model that
        never has aux heads need not set ``aux_head`` at all)."""
        aux = getattr(self, "aux_head", None)
        if aux is None:
            return []
        aux = aux if isinstance(aux, nn.ModuleList) else [aux]
        return [head(feats[i]) for head, i in zip(aux, self.aux_stages)]

    def heads(self, feats) -> list:
        return [self.head(*(feats[i] for i in self.head_stages)), *self.aux_outputs(feats)]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        size = x.shape[-2:]
        return tuple(resize(out, size) for out in self.heads(self.features(x)))


def _signature(cls) -> inspect.Signature:
    """``(nclass, backbone=<default_backbone>, aux, dilate, norm_layer, pretrained_base,
    output_stride, *, <build's own options>)``: what ``create_model`` and the docs read."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("nclass", kind)]
    params += [inspect.Parameter(name, kind, default=cls.default_backbone if name == "backbone"
                                 else default) for name, default in _COMMON]
    build = list(inspect.signature(cls.build).parameters.values())
    names = [p.name for p in build]
    own = build[names.index("trunk") + 1:] if "trunk" in names else []
    params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    return inspect.Signature(params)
