"""One model from what a command line names: a checkpoint, a GluonCV zoo name, or a registered
model name with its backbone. Shared by ``bench`` (weights do not matter for speed) and
``export`` (they do)."""
from __future__ import annotations

import inspect
from pathlib import Path

import torch.nn as nn

from ..models import create_model, get_model_builder, is_zoo_name

__all__ = ["resolve_model"]


def resolve_model(*, checkpoint=None, model=None, backbone=None, nclass=None, aux=None,
                  dilate=None, size=None, weights=True) -> tuple[nn.Module, str]:
    """(model in eval mode, a label such as ``PSPNet/resnet50``).

    ``checkpoint``: ours (.pth), an MXNet .params (with ``model``/``backbone``/``nclass``) or a
    GluonCV zoo name. ``model`` alone: a zoo name (its published weights when ``weights``, else
    the bare architecture) or a registered name, built at ``backbone`` (default: the model's)
    with random weights and ``nclass`` (default 19). ``size`` (H, W) reaches the models whose
    layers depend on the input size (SETR's position embedding).
    """
    if checkpoint is not None:
        from .predictor import _build
        net, _ = _build(checkpoint, model, backbone=backbone, nclass=nclass, aux=aux,
                        dilate=dilate)
        return net.eval(), Path(str(checkpoint)).name
    if model is None:
        raise FileNotFoundError("give a checkpoint, a GluonCV zoo name or a model name")
    if is_zoo_name(model):
        if weights:
            from .predictor import _zoo_model
            net, _ = _zoo_model(model)
        else:
            net = create_model(model)
        return net.eval(), str(model).lower()
    builder = get_model_builder(model)
    options = {"backbone": backbone, "aux": aux, "dilate": dilate}
    options = {k: v for k, v in options.items() if v is not None}
    if size is not None and "crop_size" in inspect.signature(builder).parameters:
        options["crop_size"] = int(size[0])
    net = create_model(model, int(nclass or 19), pretrained_base=False, **options)
    default = inspect.signature(builder).parameters.get("backbone")
    chosen = backbone or (default.default if default is not None else None)
    name = getattr(builder, "__name__", str(model))
    return net.eval(), f"{name}/{chosen}" if chosen else name
