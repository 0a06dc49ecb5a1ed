"""ResNet backbones as GluonCV builds them, on timm.

GluonCV ``resnetXX_v1b`` (7x7 stem, stride on the 3x3 conv) is timm's ``resnetXX``; the v1s deep
stem (3x3 convs 64-64-128) is timm's ``resnetXXs``. The original MXNetSeg maps resnet18/34 to v1b
and resnet50/101/152 to v1s. timm's dilation schedule for ``output_stride=8`` equals GluonCV's
``dilated=True`` (first block of a dilated stage keeps the previous dilation on its first 3x3).
"""
from __future__ import annotations

import os
from pathlib import Path

import timm
import torch
import torch.nn as nn

from ..registry import did_you_mean
from .layers import ModelConfigError, get_norm_layer

__all__ = ["ResNetBackbone", "MobileNetV2Backbone", "list_backbones", "load_backbone_weights",
           "BACKBONES"]

# our name -> timm architecture (timm's Gluon ImageNet weights are tagged ``.gluon_in1k``)
BACKBONES = {
    "resnet18": "resnet18", "resnet34": "resnet34",
    "resnet50": "resnet50s", "resnet101": "resnet101s", "resnet152": "resnet152s",
}
BACKBONES.update({f"resnet{d}_v1b": f"resnet{d}" for d in (18, 34, 50, 101, 152)})
BACKBONES.update({f"resnet{d}_v1s": f"resnet{d}s" for d in (50, 101, 152)})
# GluonCV's ResNeSt (deep stem 32 wide for 50, 64 beyond; avg-pool downsample; radix 2)
BACKBONES.update({"resnest50": "resnest50d", "resnest101": "resnest101e",
                  "resnest200": "resnest200e", "resnest269": "resnest269e"})

PRETRAINED_TAG = "gluon_in1k"
RESNEST_TAG = "in1k"      # timm's ResNeSt ImageNet weights (the authors', as GluonCV's)


def list_backbones() -> list[str]:
    return sorted(BACKBONES)


def _timm_name(name: str) -> str:
    key = str(name).lower()
    if key not in BACKBONES:
        raise ModelConfigError(f"unknown backbone {name!r}.{did_you_mean(key, BACKBONES)} "
                               f"Available: {', '.join(list_backbones())}")
    return BACKBONES[key]


def local_weights(arch: str, pretrained, tag: str = PRETRAINED_TAG) -> Path | None:
    """A local weights file: ``pretrained`` itself when it is a path, or one found in
    ``$MXNETSEG_PRETRAINED_DIR`` named ``<arch>.<tag>.*`` / ``<arch>.*``."""
    if isinstance(pretrained, (str, os.PathLike)):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"pretrained backbone weights {str(path)!r} do not exist")
        return path
    folder = os.environ.get("MXNETSEG_PRETRAINED_DIR")
    if folder:
        for stem in (f"{arch}.{tag}", arch):
            for ext in (".safetensors", ".pth", ".pt", ".bin"):
                if (Path(folder) / (stem + ext)).is_file():
                    return Path(folder) / (stem + ext)
    return None


def timm_model(arch: str, name: str, pretrained, tag: str = PRETRAINED_TAG, **kwargs):
    """``timm.create_model(arch, **kwargs)``; with ``pretrained`` (True or a local file) its
    ``<arch>.<tag>`` ImageNet weights, and when they cannot be had an error that says how to
    provide them offline. ``name`` is the backbone's name as the user wrote it."""
    local = local_weights(arch, pretrained, tag) if pretrained else None
    if local is not None:
        kwargs["pretrained_cfg_overlay"] = {"file": str(local)}
    try:
        return timm.create_model(f"{arch}.{tag}" if pretrained else arch,
                                 pretrained=bool(pretrained), **kwargs)
    except Exception as err:  # noqa: BLE001 - timm/hub raise many kinds when offline
        if not pretrained:
            raise
        raise RuntimeError(
            f"could not load ImageNet weights for backbone {name!r} (timm '{arch}.{tag}'): "
            f"{type(err).__name__}: {err}\n"
            f"Offline? Download that model's weights file (e.g. model.safetensors from the "
            f"Hugging Face repo timm/{arch}.{tag}) on a connected machine, then either set "
            f"backbone_init.pretrained_path: /path/to/file in the config, or put it in a folder "
            f"as {arch}.{tag}.safetensors and export MXNETSEG_PRETRAINED_DIR=/that/folder. Or "
            f"train from scratch with backbone_init.manner: null.") from err


class ResNetBackbone(nn.Module):
    """Stages c1..c4 (strides 4, 8, 16|8, 32|16|8) of a GluonCV-style ResNet.

    ``output_stride`` 32 = original ``dilated=False``; 8 = ``dilated=True``; 16 is our addition.
    ``pretrained``: False (random init), True (timm's Gluon ImageNet weights, downloaded or from
    ``$MXNETSEG_PRETRAINED_DIR``) or a path to a local weights file.
    """

    def __init__(self, name="resnet50", output_stride=32, norm_layer="BN", pretrained=False):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ModelConfigError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
        arch = _timm_name(name)
        kwargs = dict(features_only=True, out_indices=(1, 2, 3, 4), output_stride=output_stride,
                      norm_layer=get_norm_layer(norm_layer), zero_init_last=False)
        tag = RESNEST_TAG if arch.startswith("resnest") else PRETRAINED_TAG
        self.body = timm_model(arch, name, pretrained, tag, **kwargs)
        if arch.startswith("resnest"):
            gluoncv_resnest_dilation(self.body, output_stride)
        self.name = str(name).lower()
        self.output_stride = output_stride
        self.channels = tuple(self.body.feature_info.channels())

    def forward(self, x: torch.Tensor):
        return tuple(self.body(x))


def gluoncv_resnest_dilation(body: nn.Module, output_stride: int) -> None:
    """Make timm's dilated ResNeSt GluonCV's (parameter-free changes). In a stage that dilates
    instead of striding, GluonCV's first block keeps its 3x3 average pool (stride 1, padding 1)
    after the split-attention conv, because its dilation differs from the previous one, and its
    shortcut pools with a 1x1 window (no-op) where timm averages 2x2 ("same" padding)."""
    dilated = {8: ("layer3", "layer4"), 16: ("layer4",), 32: ()}[output_stride]
    for stage in dilated:
        first = getattr(body, stage)[0]
        first.avd_last = nn.AvgPool2d(3, 1, padding=1)
        if first.downsample is not None:
            first.downsample[0] = nn.Identity()


# --- hand-written backbones (GluonCV/MXNetSeg architectures that timm does not build) ------

def load_backbone_weights(module: nn.Module, pretrained, arch: str, source: str,
                          local: str | None = None) -> None:
    """Weights for a hand-written backbone: ``False`` (random init) or a path to a PyTorch
    state dict of exactly this module, or to an MXNet ``.params`` file of the ImageNet
    classifier it was cut from when ``arch`` has a backbone map in
    :mod:`mxnetseg.tools.mxnet_maps` (the classifier's head is dropped). ``True`` looks for
    ``local``, the file the original read (its path relative to the working folder, or its
    name in ``$MXNETSEG_PRETRAINED_DIR``); there is no download, so none found is an error
    that says what to pass."""
    if pretrained is False or pretrained is None:
        return
    if pretrained is True:
        found = [p for p in _original_places(local) if p.is_file()]
        if not found:
            where = (f" Looked for {' and '.join(repr(str(p)) for p in _original_places(local))}."
                     if local else "")
            raise ModelConfigError(
                f"no downloadable ImageNet weights exist for backbone {arch!r} (the original "
                f"loaded {source}).{where} Pass a local file of this backbone instead: "
                f"pretrained_base='/path/to/{arch}.pth', or in a config "
                f"backbone_init.pretrained_path: /path/to/{arch}.pth. Or train from scratch "
                f"with backbone_init.manner: null.")
        pretrained = found[0]
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"pretrained backbone weights {str(path)!r} do not exist")
    from ..tools.checkpoint import is_mxnet_params, mxnet_backbone_state
    if is_mxnet_params(path):
        state = mxnet_backbone_state(module, arch, path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
    own = module.state_dict() if isinstance(state, dict) else {}
    problems = [(title, keys) for title, keys in (
        ("missing in file", [k for k in own if k not in state]),
        ("unexpected in file", [k for k in state if k not in own]),
        ("shape mismatch", [f"{k}: file {tuple(state[k].shape)} vs backbone "
                            f"{tuple(own[k].shape)}" for k in own
                            if k in state and state[k].shape != own[k].shape])) if keys]
    if not own or problems:
        detail = "; ".join(f"{title} ({len(keys)}): {', '.join(keys[:5])}"
                           f"{' ...' if len(keys) > 5 else ''}" for title, keys in problems)
        raise RuntimeError(f"{str(path)!r} is not a state dict of backbone {arch!r} (wrong "
                           f"file, or another variant?): {detail or 'no state dict in it'}")
    module.load_state_dict(state, strict=True)


def _original_places(local: str | None) -> list[Path]:
    if not local:
        return []
    places = [Path(local)]
    folder = os.environ.get("MXNETSEG_PRETRAINED_DIR")
    if folder:
        places.insert(0, Path(folder) / Path(local).name)
    return places


class LinearBottleneck(nn.Module):
    """GluonCV's MobileNetV2 block (0.9, after its "follow the official implementation" fix):
    1x1 expand (skipped when t == 1) -> 3x3 depthwise/s -> 1x1 project (BN, no act), ReLU6
    after the first two; identity shortcut when stride 1 and the width is kept."""

    def __init__(self, in_ch, out_ch, t, stride, norm_layer=nn.BatchNorm2d):
        super().__init__()
        mid = in_ch * t
        self.use_shortcut = stride == 1 and in_ch == out_ch
        expand = ([nn.Conv2d(in_ch, mid, 1, bias=False), norm_layer(mid), nn.ReLU6(inplace=True)]
                  if t != 1 else [])
        self.out = nn.Sequential(
            *expand,
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), norm_layer(mid),
            nn.ReLU6(inplace=True),
            nn.Conv2d(mid, out_ch, 1, bias=False), norm_layer(out_ch))

    def forward(self, x):
        out = self.out(x)
        return out + x if self.use_shortcut else out


class MobileNetV2Backbone(nn.Module):
    """GluonCV ``mobilenet_v2_<m>`` trunk, stages c1..c4 (strides 4/8/16/32) as the original
    splits ``features`` ([:6], [6:9], [9:16], [16:20]); the final 1280 conv is dropped.
    Widths are ``int(c * m)``: GluonCV truncates where timm rounds to multiples of 8, so timm's
    mobilenetv2 equals this at 1.0 (same 1,811,712 parameters) but not below (0.5: c1 has 12
    channels here, 16 in timm); hence hand-written. Output stride 32 only, as the original."""

    MULTIPLIERS = {"mobilenet_v2_0_25": 0.25, "mobilenet_v2_0_5": 0.5,
                   "mobilenet_v2_0_75": 0.75, "mobilenet_v2_1_0": 1.0}

    def __init__(self, name="mobilenet_v2_1_0", norm_layer="BN", pretrained=False):
        super().__init__()
        key = str(name).lower()
        if key not in self.MULTIPLIERS:
            raise ModelConfigError(f"unknown MobileNetV2 backbone {name!r}; available: "
                                   f"{', '.join(self.MULTIPLIERS)}")
        m = self.MULTIPLIERS[key]
        norm = get_norm_layer(norm_layer)
        ins = [int(c * m) for c in [32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96,
                                    160, 160, 160]]
        outs = [int(c * m) for c in [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96,
                                     160, 160, 160, 320]]
        ts = [1] + [6] * 16
        strides = [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
        stem = [nn.Conv2d(3, int(32 * m), 3, 2, 1, bias=False), norm(int(32 * m)),
                nn.ReLU6(inplace=True)]
        blocks = [LinearBottleneck(i, o, t, s, norm) for i, o, t, s in zip(ins, outs, ts, strides)]
        features = stem + blocks               # indices as GluonCV's ``features``
        self.layer1 = nn.Sequential(*features[:6])
        self.layer2 = nn.Sequential(*features[6:9])
        self.layer3 = nn.Sequential(*features[9:16])
        self.layer4 = nn.Sequential(*features[16:20])
        self.name = key
        self.output_stride = 32
        self.channels = (outs[2], outs[5], outs[12], outs[16])
        load_backbone_weights(self, pretrained, key, f"GluonCV's MXNet weights "
                                                     f"'mobilenetv2_{m}' from its model store")

    def forward(self, x):
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        return c1, c2, c3, self.layer4(c3)
