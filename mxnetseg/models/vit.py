"""The ViT trunk of SETR (the original's ``models/backbone/vit.py``, as SETR uses it).

Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021. SETR keeps the patch embedding
(conv 16x16 / 16) and the transformer blocks of a ViT, drops its cls token, head and 224-px
position embedding, and owns a zero-initialised position embedding of (crop/16)^2 tokens.

Faithful: pre-norm blocks (LayerNorm eps 1e-6), multi-head self-attention with qkv bias and
QK^T/sqrt(head dim), MLP with (erf) GELU, dropout 0.1 after the attention projection and after
both MLP linears, no attention or embedding dropout; builders ``vit_base_16`` (12 x 768,
12 heads, MLP 3072), ``vit_large_16`` (24 x 1024, 16 heads, 4096), ``vit_huge_16`` (32 x 1280,
16 heads, 5120). The blocks are timm's ``Block`` (same parameters, timm's names).

Ours: ``vit_mini_16`` (24 x 64, 4 heads, MLP 128) is a test/debug size that the original lacks;
any input size works: the input is zero-padded at the bottom/right to a multiple of 16 and the
crop-sized position grid is resized bilinearly (align_corners=False) to the padded token grid
(at input == crop: no padding, no resize).
``pretrained``: True loads timm's ImageNet ViT (``TIMM_WEIGHTS``) patch embedding and blocks
(not their position embedding: SETR's own stays zero-initialised, as in the original); a path
(.safetensors, .pth) loads a state dict in timm's naming, which is also this trunk's.
"""
from __future__ import annotations

from functools import partial

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file as load_safetensors
from timm.models.vision_transformer import Block

from .backbones import local_weights
from .layers import ModelConfigError

__all__ = ["VIT_CONFIGS", "VisionTransformer", "vit_config"]

# name -> (patch, depth, embed_dim, mlp hidden, heads): the original's builders + a test size
VIT_CONFIGS = {
    "vit_base_16": (16, 12, 768, 3072, 12),
    "vit_large_16": (16, 24, 1024, 4096, 16),
    "vit_huge_16": (16, 32, 1280, 5120, 16),
    "vit_mini_16": (16, 24, 64, 128, 4),
}
# ImageNet weights with the same patch embedding and blocks (timm names)
TIMM_WEIGHTS = {
    "vit_base_16": "vit_base_patch16_224",
    "vit_large_16": "vit_large_patch16_224",
    "vit_huge_16": "vit_huge_patch16_gap_448",
}


def vit_config(name) -> tuple[int, int, int, int, int]:
    """(patch, depth, embed_dim, mlp hidden, heads) of a ``VIT_CONFIGS`` name."""
    key = str(name).lower()
    if key not in VIT_CONFIGS:
        raise ModelConfigError(
            f"unknown ViT backbone {name!r}; available: {', '.join(VIT_CONFIGS)}")
    return VIT_CONFIGS[key]


class PatchEmbed(nn.Module):
    """Conv patch x patch / patch -> (N, C, gh, gw); the original's ``_PatchEmbedding``."""

    def __init__(self, patch, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, patch, patch)

    def forward(self, x):
        return self.proj(x)


class VisionTransformer(nn.Module):
    """ViT trunk returning the LayerNorm-ed outputs of blocks ``out_indices`` (1-based, as the
    original counts them) as (N, C, gh, gw) maps, in the given order.

    ``img_size`` (the crop) fixes the position embedding: (1, (img_size // patch)^2, C).
    """

    def __init__(self, name="vit_large_16", img_size=480, out_indices=(10, 15, 20, 24),
                 layer_norm_eps=1e-6, pretrained=False):
        super().__init__()
        patch, depth, dim, hidden, heads = vit_config(name)
        if not all(1 <= i <= depth for i in out_indices):
            raise ValueError(f"out_indices {out_indices} outside the {depth} blocks of {name!r}")
        self.name, self.patch, self.depth, self.embed_dim = str(name).lower(), patch, depth, dim
        self.output_stride = patch
        self.channels = (dim,) * len(out_indices)
        self.out_indices = tuple(out_indices)
        self.grid = img_size // patch
        self.patch_embed = PatchEmbed(patch, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid ** 2, dim))
        norm = partial(nn.LayerNorm, eps=layer_norm_eps)
        self.blocks = nn.Sequential(*[
            Block(dim, heads, mlp_ratio=hidden / dim, qkv_bias=True, proj_drop=0.1,
                  attn_drop=0.0, norm_layer=norm) for _ in range(depth)])
        self.norms = nn.ModuleList(norm(dim) for _ in out_indices)
        if pretrained:
            self._load_pretrained(pretrained)

    def _load_pretrained(self, pretrained):
        arch = TIMM_WEIGHTS.get(self.name)
        local = local_weights(arch or self.name, pretrained)
        if local is None and arch is None:
            raise ModelConfigError(f"no ImageNet weights exist for {self.name!r}; pass a state "
                                   f"dict path as pretrained_base or train from scratch")
        if local is None:
            try:
                state = timm.create_model(arch, pretrained=True).state_dict()
            except Exception as err:  # noqa: BLE001 - timm/hub raise many kinds when offline
                raise RuntimeError(
                    f"could not load timm's ImageNet weights {arch!r} for {self.name!r}: "
                    f"{type(err).__name__}: {err}. Offline? Pass a local weights file as "
                    f"pretrained_base (backbone_init.pretrained_path in a config).") from err
        elif local.suffix == ".safetensors":
            state = load_safetensors(str(local))
        else:
            state = torch.load(local, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state.get("model", state))
        state = {k: v for k, v in state.items() if k.startswith(("patch_embed.", "blocks."))}
        missing, unexpected = self.load_state_dict(state, strict=False)
        wanted = [k for k in missing if k.startswith(("patch_embed.", "blocks."))]
        if wanted or unexpected or not state:
            raise RuntimeError(f"{str(pretrained)!r} is not a ViT state dict of {self.name!r}: "
                               f"missing {wanted[:5]}, unexpected {unexpected[:5]}")

    def position_embedding(self, gh: int, gw: int) -> torch.Tensor:
        """The crop's position grid, resized bilinearly to gh x gw tokens when they differ."""
        if (gh, gw) == (self.grid, self.grid):
            return self.pos_embed
        grid = self.pos_embed.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bilinear", align_corners=False)
        return grid.flatten(2).transpose(1, 2)

    def forward(self, x):
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % self.patch, 0, -h % self.patch))
        x = self.patch_embed(x)
        n, c, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2) + self.position_embedding(gh, gw)
        outs = []
        for i, blk in enumerate(self.blocks, start=1):
            x = blk(x)
            if i in self.out_indices:
                outs.append(x)
        return [norm(o).transpose(1, 2).reshape(n, c, gh, gw)
                for norm, o in zip(self.norms, outs)]
