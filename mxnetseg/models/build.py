"""A model as a config describes it: the one place train and eval build their model."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn as nn

from . import create_model
from .batchnorm import set_bn_momentum_rule

if TYPE_CHECKING:   # config sits above models; only its type is needed here
    from ..config import Config

__all__ = ["build_model"]


def build_model(cfg: "Config", nclass: int) -> nn.Module:
    """``cfg.model_name`` with the config's common options and ``model_kwargs``; the backbone
    initialised as ``cfg.backbone_init`` says (ImageNet weights, or the trunk of a segmentation
    checkpoint trained on other classes); every BatchNorm on ``cfg.bn_momentum_rule``."""
    init = cfg.backbone_init
    pretrained = (init.pretrained_path or True) if init.manner == "cls" else False
    common = dict(backbone=cfg.backbone, aux=cfg.aux, dilate=cfg.dilate,
                  norm_layer=cfg.norm_layer, crop_size=cfg.crop_size, base_size=cfg.base_size,
                  output_stride=cfg.output_stride, **cfg.model_kwargs)
    model = create_model(cfg.model_name, nclass, pretrained_base=pretrained, **common)
    if init.manner == "seg":   # copy the trunk of a segmentation model trained on other classes
        prior = create_model(cfg.model_name, init.prior_classes, pretrained_base=False,
                             checkpoint=init.backbone_ckpt, **common)
        model.backbone.load_state_dict(prior.backbone.state_dict())
    return set_bn_momentum_rule(model, cfg.bn_momentum_rule)
