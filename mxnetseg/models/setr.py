"""SETR: Rethinking Semantic Segmentation from a Sequence-to-Sequence Perspective with
Transformers (Zheng et al., CVPR 2021).

The original's ``SETR``: a ViT trunk (patch embedding, zero-initialised crop-sized position
embedding, no cls token) whose blocks 10, 15, 20, 24 (naive, PUP) or 6, 12, 18, 24 (MLA) are
each LayerNorm-ed (eps 1e-6), reversed (deepest first) and reshaped to 1/16 maps, then one of
three decoders (``decoder=``):

- ``naive``: SegHead (CBR(1, 256) -> 1x1 conv with bias) on the deepest map; aux SegHeads on
  the other three (blocks 20, 15, 10);
- ``pup`` (default): CBR(3, 256) -> up2 -> CBR(3, 256) -> up2 -> CBR(3, 256) -> up2 ->
  CBR(3, 256) -> CBR(3, nclass) -- the logits pass through BN + ReLU, as in the original;
  aux SegHeads on all four maps;
- ``mla``: CBR(1, 256) per map, top-down cumulative sums (no resizing, all 1/16), per level
  CBR(3, 256) -> 2 x CBR(3, 128), concat (512) -> 1x1 conv with bias; aux SegHeads on all four.

Outputs: main, then the aux heads deepest first; all bilinearly resized (align_corners=True).

Differs: the original asserts ``backbone == 'vit_large_16'`` and needs square crop-sized inputs
(its output size is frozen to the crop). Here any ``VIT_CONFIGS`` trunk is accepted -- for a
depth other than 24 the block indices scale as round(i * depth / 24) -- and any input size
works: the trunk zero-pads to a multiple of 16 and resizes its position grid to the token grid
(see ``vit.py``); the logits are resized to the padded size and cropped to the input. At
input == crop (a multiple of 16) this is exactly the original's computation. The original's
default ``aux=True`` is ``aux=False`` here, as for every model of the zoo.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model
from .base import SegmentationModel
from .layers import AuxHead, ConvBNAct, ModelConfigError, resize
from .vit import VisionTransformer, vit_config

_OUT_INDICES = {"naive": (10, 15, 20, 24), "pup": (10, 15, 20, 24), "mla": (6, 12, 18, 24)}


def _seg_heads(n, in_ch, nclass, norm):
    """The original's ``_SegHead`` x n: CBR(1, 256) -> 1x1 conv with bias."""
    return nn.ModuleList(AuxHead(in_ch, nclass, norm, inter=256) for _ in range(n))


class NaiveHead(nn.Module):
    def __init__(self, in_ch, nclass, aux, norm):
        super().__init__()
        self.head = _seg_heads(1, in_ch, nclass, norm)[0]
        self.aux_head = _seg_heads(3, in_ch, nclass, norm) if aux else None

    def forward(self, feats):
        out = [self.head(feats[0])]
        if self.aux_head is not None:
            out += [h(f) for h, f in zip(self.aux_head, feats[1:])]
        return out


class PUPHead(nn.Module):
    """Progressive up-sampling: three x2 bilinear steps (stride 16 -> 2)."""

    def __init__(self, in_ch, nclass, aux, norm):
        super().__init__()
        self.conv0 = ConvBNAct(in_ch, 256, 3, norm_layer=norm)
        self.conv1 = ConvBNAct(256, 256, 3, norm_layer=norm)
        self.conv2 = ConvBNAct(256, 256, 3, norm_layer=norm)
        self.conv3 = ConvBNAct(256, 256, 3, norm_layer=norm)
        self.conv4 = ConvBNAct(256, nclass, 3, norm_layer=norm)
        self.aux_head = _seg_heads(4, in_ch, nclass, norm) if aux else None

    def forward(self, feats):
        x = self.conv0(feats[0])
        for conv in (self.conv1, self.conv2):
            x = conv(resize(x, (2 * x.shape[-2], 2 * x.shape[-1])))
        x = resize(x, (2 * x.shape[-2], 2 * x.shape[-1]))
        out = [self.conv4(self.conv3(x))]
        if self.aux_head is not None:
            out += [h(f) for h, f in zip(self.aux_head, feats)]
        return out


class MLAHead(nn.Module):
    """Multi-level aggregation; names follow the original (p5 = deepest map)."""

    def __init__(self, in_ch, nclass, aux, norm):
        super().__init__()
        for p in ("p5", "p4", "p3", "p2"):
            setattr(self, f"conv1x1_{p}", ConvBNAct(in_ch, 256, 1, norm_layer=norm))
            setattr(self, f"conv3x3_{p}", ConvBNAct(256, 256, 3, norm_layer=norm))
            setattr(self, f"head{p[1]}", nn.Sequential(ConvBNAct(256, 128, 3, norm_layer=norm),
                                                       ConvBNAct(128, 128, 3, norm_layer=norm)))
        self.head = nn.Conv2d(128 * 4, nclass, 1)
        self.aux_head = _seg_heads(4, in_ch, nclass, norm) if aux else None

    def forward(self, feats):
        c5, c4, c3, c2 = (getattr(self, f"conv1x1_{p}")(f)
                          for p, f in zip(("p5", "p4", "p3", "p2"), feats))
        c4 = c5 + c4
        c3 = c4 + c3
        c2 = c3 + c2
        levels = [getattr(self, f"head{p[1]}")(getattr(self, f"conv3x3_{p}")(c))
                  for p, c in zip(("p5", "p4", "p3", "p2"), (c5, c4, c3, c2))]
        out = [self.head(torch.cat(levels, dim=1))]
        if self.aux_head is not None:
            out += [h(f) for h, f in zip(self.aux_head, feats)]
        return out


_DECODERS = {"naive": NaiveHead, "pup": PUPHead, "mla": MLAHead}


@register_model("SETR", aliases=("setr",))
class SETR(SegmentationModel):
    """``crop_size`` sets the position-embedding grid (crop // 16)^2 as in the original (its
    default 480). ``dilate`` is ignored: the trunk always runs at stride 16. The decoder holds
    its own aux heads (their number and inputs differ per decoder)."""
    default_backbone = "vit_large_16"
    fixed_stride = 16

    def build(self, nclass, aux, norm, trunk, crop_size=480, decoder="pup",
              layer_norm_eps=1e-6):
        if decoder not in _DECODERS:
            raise ModelConfigError(
                f"SETR decoder must be one of naive, pup, mla; got {decoder!r}")
        depth = vit_config(trunk.name)[1]
        out_indices = tuple((i * depth + 12) // 24 for i in _OUT_INDICES[decoder])
        self.backbone = VisionTransformer(trunk.name, crop_size, out_indices, layer_norm_eps,
                                          trunk.pretrained)
        self.decoder = decoder
        self.head = _DECODERS[decoder](self.backbone.embed_dim, nclass, aux, norm)

    def features(self, x):
        return self.backbone(x)[::-1], x.shape[-2:]   # deepest first, as the original

    def heads(self, feats):
        """Resized to the padded input (the trunk pads to a multiple of the patch) and cropped
        to the input, so the base's resize has nothing left to do."""
        feats, (h, w) = feats
        p = self.backbone.patch
        size = (feats[0].shape[-2] * p, feats[0].shape[-1] * p)
        return [resize(o, size)[..., :h, :w] for o in self.head(feats)]
