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
from .gluoncv_zoo import ZooSpec, is_zoo_name, list_zoo, zoo_spec
from .layers import ModelConfigError

__all__ = ["register_model", "create_model", "list_models", "get_model_builder",
           "canonical_name", "count_parameters", "UnknownModelError", "ModelConfigError",
           "MODELS", "is_zoo_name", "zoo_spec"]

# not model files
_SUPPORT_MODULES = {"layers", "backbones", "base", "build", "gluoncv_zoo", "model_store",
                    "wideresnet", "batchnorm"}


class UnknownModelError(UnknownNameError):
    """An unregistered model name."""


class UnknownOptionError(ModelConfigError, TypeError):
    """An option the model does not take (a TypeError, as a wrong keyword argument is)."""


class MissingOptionError(ModelConfigError, TypeError):
    """A required option left out (a TypeError, as a missing argument is)."""


def _load_all():
    # every other module of this package is a model file that registers itself on import
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name not in _SUPPORT_MODULES:
            importlib.import_module(f"{__name__}.{info.name}")


MODELS = Registry("model", UnknownModelError, loader=_load_all)


def register_model(name: str, aliases: tuple[str, ...] = ()):
    """Decorator: register a class or function that builds a model under ``name``."""
    return MODELS.register(name, aliases)


def list_models(aliases: bool = False, zoo: bool = False) -> list[str]:
    """Canonical model names (with ``aliases=True``: every accepted name; with ``zoo=True``
    also GluonCV's zoo names, e.g. ``psp_resnet101_citys``)."""
    names = MODELS.names(aliases)
    return names + list_zoo() if zoo else names


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The builder of a registered name or alias; a GluonCV zoo name gives its model's."""
    if is_zoo_name(name):
        name = zoo_spec(name).model
    try:
        return MODELS.get(name)
    except UnknownModelError as err:
        close = difflib.get_close_matches(str(name).lower(), list_zoo(), n=3, cutoff=0.5)
        if not close:
            raise
        raise UnknownModelError(f"{err} GluonCV zoo names close to it: "
                                f"{', '.join(close)}.") from None


def canonical_name(name: str) -> str:
    """The registered name of ``name``; a GluonCV zoo name stays itself (lower case), since it
    stands for a model *and* its options."""
    if is_zoo_name(name):
        get_model_builder(name)
        return str(name).lower()
    return MODELS.canonical(name)


def create_model(name, nclass: int | None = None, *, checkpoint=None, pretrained: bool = False,
                 **kwargs) -> nn.Module:
    """Build a registered model, or a GluonCV zoo model by its zoo name or ``ZooSpec``.

    A zoo name fixes the architecture: backbone, aux heads and output stride come from its
    spec (``backbone``/``aux``/``dilate``/``output_stride`` passed here are ignored), and
    ``nclass`` defaults to its checkpoint's class count.

    Common keyword arguments (``backbone``, ``aux``, ``dilate``, ``norm_layer``,
    ``pretrained_base``, ``crop_size``, ``base_size``, ...) are passed only to builders that
    accept them, as the original's trainer passes the same set to every model. Anything else
    is a model-specific option and must be accepted by the builder.
    ``checkpoint``: a PyTorch checkpoint file to load (strictly) after building.
    ``pretrained=True``: load GluonCV's published weights of the zoo name ``name`` from the
    cache (:mod:`.model_store`), downloading them first if they are not there.
    """
    if pretrained:
        if checkpoint is not None:
            raise ValueError("pass either checkpoint= or pretrained=True, not both")
        from .model_store import get_model_file
        checkpoint = get_model_file(name.name if isinstance(name, ZooSpec) else name)
    if isinstance(name, ZooSpec) or is_zoo_name(name):
        spec = zoo_spec(name)
        kwargs = {k: v for k, v in kwargs.items()
                  if k not in ("backbone", "aux", "dilate", "output_stride")}
        kwargs.update(spec.model_kwargs())
        name, nclass = spec.model, spec.nclass if nclass is None else nclass
    builder = get_model_builder(name)
    if nclass is None:
        raise MissingOptionError(f"create_model({name!r}) needs nclass (only GluonCV zoo names "
                                 f"such as 'psp_resnet101_citys' carry their class count)")
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
