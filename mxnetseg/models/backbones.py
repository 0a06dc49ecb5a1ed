"""ResNet backbones as GluonCV builds them, on timm.

GluonCV ``resnetXX_v1b`` (7x7 stem, stride on the 3x3 conv) is timm's ``resnetXX``; the v1s deep
stem (3x3 convs 64-64-128) is timm's ``resnetXXs``. The original MXNetSeg maps resnet18/34 to v1b
and resnet50/101/152 to v1s. timm's dilation schedule for ``output_stride=8`` equals GluonCV's
``dilated=True`` (first block of a dilated stage keeps the previous dilation on its first 3x3).
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

import timm
import torch
import torch.nn as nn

from .layers import get_norm_layer

__all__ = ["ResNetBackbone", "list_backbones", "BACKBONES"]

# our name -> timm architecture (timm's Gluon ImageNet weights are tagged ``.gluon_in1k``)
BACKBONES = {
    "resnet18": "resnet18", "resnet34": "resnet34",
    "resnet50": "resnet50s", "resnet101": "resnet101s", "resnet152": "resnet152s",
}
BACKBONES.update({f"resnet{d}_v1b": f"resnet{d}" for d in (18, 34, 50, 101, 152)})
BACKBONES.update({f"resnet{d}_v1s": f"resnet{d}s" for d in (50, 101, 152)})

PRETRAINED_TAG = "gluon_in1k"


def list_backbones() -> list[str]:
    return sorted(BACKBONES)


def _timm_name(name: str) -> str:
    key = str(name).lower()
    if key not in BACKBONES:
        close = difflib.get_close_matches(key, list(BACKBONES), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown backbone {name!r}.{hint} Available: {', '.join(list_backbones())}")
    return BACKBONES[key]


def _local_weights(arch: str, pretrained) -> Path | None:
    """A local weights file: ``pretrained`` itself when it is a path, or one found in
    ``$MXNETSEG_PRETRAINED_DIR`` named ``<arch>.gluon_in1k.*`` / ``<arch>.*``."""
    if isinstance(pretrained, (str, os.PathLike)):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"pretrained backbone weights {str(path)!r} do not exist")
        return path
    folder = os.environ.get("MXNETSEG_PRETRAINED_DIR")
    if folder:
        for stem in (f"{arch}.{PRETRAINED_TAG}", arch):
            for ext in (".safetensors", ".pth", ".pt", ".bin"):
                if (Path(folder) / (stem + ext)).is_file():
                    return Path(folder) / (stem + ext)
    return None


class ResNetBackbone(nn.Module):
    """Stages c1..c4 (strides 4, 8, 16|8, 32|16|8) of a GluonCV-style ResNet.

    ``output_stride`` 32 = original ``dilated=False``; 8 = ``dilated=True``; 16 is our addition.
    ``pretrained``: False (random init), True (timm's Gluon ImageNet weights, downloaded or from
    ``$MXNETSEG_PRETRAINED_DIR``) or a path to a local weights file.
    """

    def __init__(self, name="resnet50", output_stride=32, norm_layer="BN", pretrained=False):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
        arch = _timm_name(name)
        kwargs = dict(features_only=True, out_indices=(1, 2, 3, 4), output_stride=output_stride,
                      norm_layer=get_norm_layer(norm_layer), zero_init_last=False)
        local = _local_weights(arch, pretrained) if pretrained else None
        if local is not None:
            kwargs["pretrained_cfg_overlay"] = {"file": str(local)}
        try:
            self.body = timm.create_model(f"{arch}.{PRETRAINED_TAG}" if pretrained else arch,
                                          pretrained=bool(pretrained), **kwargs)
        except Exception as err:  # noqa: BLE001 - timm/hub raise many kinds when offline
            if not pretrained:
                raise
            raise RuntimeError(
                f"could not load ImageNet weights for backbone {name!r} (timm "
                f"'{arch}.{PRETRAINED_TAG}'): {type(err).__name__}: {err}\n"
                f"Offline? Download that model's weights file (e.g. model.safetensors from the "
                f"Hugging Face repo timm/{arch}.{PRETRAINED_TAG}) on a connected machine, then "
                f"either set backbone_init.pretrained_path: /path/to/file in the config, or put it "
                f"in a folder as {arch}.{PRETRAINED_TAG}.safetensors and export "
                f"MXNETSEG_PRETRAINED_DIR=/that/folder. Or train from scratch with "
                f"backbone_init.manner: null.") from err
        self.name = str(name).lower()
        self.output_stride = output_stride
        self.channels = tuple(self.body.feature_info.channels())

    def forward(self, x: torch.Tensor):
        return tuple(self.body(x))
