"""SETR (ViT trunk + naive / PUP / MLA decoders).

The original keeps ``pos_embed``, ``patch_embed``, ``blocks`` and ``layer_norms`` at the top
level; ours hold them in ``backbone`` (timm's block names: ``att.att_qkv`` -> ``attn.qkv``).
Decoder names are the original's: ConvModule2d ``X.conv``/``X.bn`` -> ConvBNAct ``X.0``/``X.1``;
a SegHead (``head.head`` of naive, ``head.aux_head.i``) ``conv1.{conv,bn}``/``conv2`` ->
AuxHead ``0.0``/``0.1``/``1``.
"""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import register_mxnet_map, rename

_SEG_HEAD = r"head\.(head|aux_head\.\d+)"
_RULES = (
    (r"patch_embed\.linear", r"backbone.patch_embed.proj"),
    (r"blocks\.(\d+)\.att\.att_qkv", r"backbone.blocks.\1.attn.qkv"),
    (r"blocks\.(\d+)\.att\.proj", r"backbone.blocks.\1.attn.proj"),
    (r"blocks\.(\d+)\.(norm[12]|mlp\.fc[12])", r"backbone.blocks.\1.\2"),
    (r"layer_norms\.(\d+)", r"backbone.norms.\1"),
    (_SEG_HEAD + r"\.conv1\.conv", r"head.\1.0.0"),
    (_SEG_HEAD + r"\.conv1\.bn", r"head.\1.0.1"),
    (_SEG_HEAD + r"\.conv2", r"head.\1.1"),
    (r"head\.(conv\d|conv(?:1x1|3x3)_p\d|head\d\.\d)\.conv", r"head.\1.0"),
    (r"head\.(conv\d|conv(?:1x1|3x3)_p\d|head\d\.\d)\.bn", r"head.\1.1"),
    (r"head\.head", r"head.head"),   # MLA's final 1x1 conv
)


@register_mxnet_map("SETR")
def setr_name(name: str, model: nn.Module) -> Optional[str]:
    if name == "pos_embed":
        return "backbone.pos_embed"
    return rename(name, _RULES)
