"""Model registry: one decorator maps a name (and aliases) to a builder.

Names are case-insensitive. The canonical name is the original MXNetSeg's (``FCNResNet``);
short aliases (``fcn``) are accepted everywhere a model name is.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from typing import Callable

import torch.nn as nn

from ..registry import Registry, UnknownNameError
from .layers import ModelConfigError

__all__ = ["register_model", "create_model", "list_models", "get_model_builder",
           "canonical_name", "count_parameters", "UnknownModelError", "ModelConfigError",
           "MODELS"]

_SUPPORT_MODULES = {"layers", "backbones", "base", "build"}   # not model files


class UnknownModelError(UnknownNameError):
    """An unregistered model name."""


class UnknownOptionError(ModelConfigError, TypeError):
    """An option the model does not take (a TypeError, as a wrong keyword argument is)."""


def _load_all():
    # every other module of this package is a model file that registers itself on import
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name not in _SUPPORT_MODULES:
            importlib.import_module(f"{__name__}.{info.name}")


MODELS = Registry("model", UnknownModelError, loader=_load_all)


def register_model(name: str, aliases: tuple[str, ...] = ()):
    """Decorator: register a class or function that builds a model under ``name``."""
    return MODELS.register(name, aliases)


def list_models(aliases: bool = False) -> list[str]:
    """Canonical model names (with ``aliases=True``: every accepted name)."""
    return MODELS.names(aliases)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    return MODELS.get(name)


def canonical_name(name: str) -> str:
    return MODELS.canonical(name)


def create_model(name: str, nclass: int, *, checkpoint=None, **kwargs) -> nn.Module:
    """Build a registered model.

    Common keyword arguments (``backbone``, ``aux``, ``dilate``, ``norm_layer``,
    ``pretrained_base``, ``crop_size``, ``base_size``, ...) are passed only to builders that
    accept them, as the original's trainer passes the same set to every model. Anything else
    is a model-specific option and must be accepted by the builder.
    ``checkpoint``: a PyTorch checkpoint file to load (strictly) after building.
    """
    builder = get_model_builder(name)
    params = inspect.signature(builder).parameters
    common = {"backbone", "aux", "dilate", "norm_layer", "pretrained_base", "crop_size",
              "base_size", "output_stride"}
    taken = {}
    for key, value in kwargs.items():
        if key in params:
            taken[key] = value
        elif key not in common:
            valid = [p for p in params if p not in ("self", "nclass")]
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownOptionError(f"model {canonical_name(name)!r} has no option {key!r}.{hint} "
                                     f"Its options: {', '.join(valid)}.")
    model = builder(nclass=nclass, **taken)
    if checkpoint is not None:
        from ..tools.checkpoint import load_model_weights
        load_model_weights(model, checkpoint)
    return model


def count_parameters(model: nn.Module, convention: str = "all") -> int:
    """Parameter count.

    ``"trainable"``: parameters with ``requires_grad``.
    ``"all"``: every parameter plus BatchNorm running mean/var: the convention of the original
    README's #Params column (MXNet counts running statistics as parameters).
    """
    if convention == "trainable":
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    if convention != "all":
        raise ValueError(f"convention must be 'all' or 'trainable', got {convention!r}")
    n = sum(p.numel() for p in model.parameters())
    for name, buf in model.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            n += buf.numel()
    return n
