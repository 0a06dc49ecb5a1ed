"""Training/evaluation configuration: a typed schema whose fields are the original's
``config.yml`` keys (an original file loads unchanged) plus new keys beside them.

``load_config(path, overrides)`` reads YAML, merges one level of ``_base_: other.yaml``, applies
``key=value`` / ``section.key=value`` overrides and validates every key and type.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

__all__ = ["Config", "ConfigError", "load_config", "parse_overrides", "read_config_keys",
           "criterion_terms", "LOSS_OPTIONS", "check_scales"]


class ConfigError(ValueError):
    """A config file, key or value is wrong; the message says where and what to do."""


def check_scales(scales, where: str) -> tuple[float, ...]:
    """A non-empty list of positive, finite numbers as floats; else a ConfigError naming
    ``where``."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or not scales:
        raise ConfigError(f'{where}: expected a non-empty list of positive numbers such as '
                          f'[0.5, 0.75, 1.0], got {scales!r}')
    out = []
    for value in scales:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
            raise ConfigError(f'{where}: {value!r} is not a positive number; scales are '
                              f'resize factors of the base size, e.g. 0.5 0.75 1.0 1.25')
        out.append(number)
    return tuple(out)


@dataclass
class BackboneInit:
    manner: Optional[str] = "cls"          # null: random init; cls: ImageNet backbone; seg
    backbone_ckpt: Optional[str] = None    # seg: segmentation checkpoint to copy the trunk from
    prior_classes: Optional[int] = None    # seg: class count of that checkpoint
    pretrained_path: Optional[str] = None  # new: local ImageNet weights file for 'cls' (offline)


@dataclass
class Poly:
    power: float = 0.9


@dataclass
class Step:
    step_factor: float = 0.5
    step_epoch: list[int] = field(default_factory=lambda: [5, 10])


@dataclass
class Adam:
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999


@dataclass
class Config:
    # --- the original's keys (same names, same meaning, same defaults as its HEAD config) ---
    model_name: str = "AlignSeg"
    backbone: str = "resnet101"
    aux: bool = False
    aux_weight: Optional[float] = None
    lr_mult: float = 1.0
    dilate: bool = False
    norm_layer: str = "SyncBN"
    backbone_init: BackboneInit = field(default_factory=BackboneInit)
    resume: Optional[str] = None
    data_name: str = "Cityscapes"
    crop_size: int = 768
    base_size: int = 2048
    lr: float = 0.01
    target_lr: float = 0.0
    wd: float = 1e-4
    momentum: float = 0.9
    optimizer: str = "sgd"
    lr_scheduler: str = "poly"
    poly: Poly = field(default_factory=Poly)
    step: Step = field(default_factory=Step)
    adam: Adam = field(default_factory=Adam)
    epochs: int = 240
    bs_train: int = 8                       # global batch, split evenly over processes
    bs_val: int = 16
    # --- new keys ---
    data_root: Optional[str] = None         # parent of the dataset folders (MXNETSEG_DATA, ./dataset)
    train_split: str = "train"              # the original hard-codes train / val
    val_split: str = "val"
    data_kwargs: dict = field(default_factory=dict)    # extra dataset options, e.g. for `list`
    output_stride: Optional[int] = None     # 8/16/32; overrides `dilate` for models that honour it
    model_kwargs: dict = field(default_factory=dict)   # extra model options, e.g. {drop: 0.0}
    bn_momentum_rule: str = "torch"         # BN running variance: torch (unbiased) | mxnet (biased)
    workers: int = 4                        # DataLoader workers per process
    seed: int = 0
    amp: Optional[str] = None               # null | bf16 | fp16 (fp16 only on GPU)
    channels_last: bool = False
    loss_norm: str = "original"             # the original's gradient scale (its LRs); or valid_mean
    original_gpus: Optional[int] = None     # GPUs of the original run (loss_norm original); null: ours
    criterion: Any = None                   # null: softmax CE; focal | {name: focal, gamma: 2} |
    #                                         [{name: ce, weight: 1}, {name: dice, weight: 0.5}]
    ckpt_dir: str = "weights"               # checkpoints go to <ckpt_dir>/<model>/
    val: bool = True                        # validate every epoch (--no-val turns it off)
    eval_scales: Optional[list[float]] = None   # eval --ms scales; null: the dataset's set
    log_interval: int = 5
    ckpt_interval: int = 0                  # also save the resume checkpoint every N iterations
    stop_at: Optional[int] = None           # stop (after saving) at this global iteration
    nan_policy: str = "stop"                # non-finite loss: stop the run, or skip the batch
    nan_skip_limit: int = 5                 # skip: stop after this many non-finite steps in a row
    preflight: bool = True                  # read every listed file's header before training
    wandb_project: str = "debug"
    wandb_mode: Optional[str] = None        # null: online with an API key, else offline; disabled
    tensorboard: bool = False               # also log to <ckpt_dir>/<model>/tb/<run> (TensorBoard)

    def to_dict(self) -> dict:
        return asdict(self)

    def dump(self, path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def validate(self, check_names: bool = True) -> "Config":
        _choice("optimizer", self.optimizer, ("sgd", "nag", "adam"))
        _choice("lr_scheduler", self.lr_scheduler, ("poly", "cosine", "constant", "step", "linear"))
        _choice("norm_layer", self.norm_layer, ("BN", "SyncBN", "GN"), fold_case=True)
        _choice("amp", self.amp, (None, "bf16", "fp16"))
        _choice("backbone_init.manner", self.backbone_init.manner, (None, "cls", "seg"))
        _choice("output_stride", self.output_stride, (None, 8, 16, 32))
        _choice("loss_norm", self.loss_norm, ("valid_mean", "original"))
        _choice("bn_momentum_rule", self.bn_momentum_rule, ("torch", "mxnet"), fold_case=True)
        _choice("wandb_mode", self.wandb_mode, (None, "online", "offline", "disabled"))
        _choice("nan_policy", self.nan_policy, ("stop", "skip"))
        criterion_terms(self.criterion)
        if self.original_gpus is not None:
            if isinstance(self.original_gpus, bool) or not isinstance(self.original_gpus, int) \
                    or self.original_gpus < 1:
                raise ConfigError(f"original_gpus must be a positive integer (the original run's "
                                  f"GPU count) or null, got {self.original_gpus!r}")
            if self.bs_train % self.original_gpus:
                raise ConfigError(f"bs_train ({self.bs_train}) must divide evenly over "
                                  f"original_gpus ({self.original_gpus}): the original split each "
                                  f"batch evenly over its GPUs")
        if self.eval_scales is not None:
            check_scales(self.eval_scales, "eval_scales")
        for key in ("crop_size", "base_size", "epochs", "bs_train", "bs_val", "log_interval",
                    "nan_skip_limit"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(self, key)!r}")
        if self.backbone_init.manner == "seg" and not (
                self.backbone_init.backbone_ckpt and self.backbone_init.prior_classes):
            raise ConfigError("backbone_init.manner: seg needs backbone_init.backbone_ckpt and "
                              "backbone_init.prior_classes")
        if check_names:
            from .data import get_dataset_class
            from .models import get_model_builder
            try:
                get_model_builder(self.model_name)
                get_dataset_class(self.data_name)
            except (KeyError, ValueError) as err:
                raise ConfigError(str(err).strip("'\"")) from None
        return self


# ----------------------------------------------------------------------------- criterion
# loss name -> its options and their defaults (None: required). tools/losses.py builds them;
# the names live here so a config is checked before anything heavy is imported.
LOSS_OPTIONS = {
    "ce": {},
    "focal": {"gamma": 2.0},
    "weighted_ce": {"class_weight": None},
    "bootstrapped_ce": {"min_k": 100000, "loss_th": 0.357},   # 0.357 = -ln 0.7
    "dice": {"smooth": 1.0, "exponent": 2.0},
    "smooth_ce": {"smooth_alpha": 0.0},
    "mixed_smooth_ce": {"smooth_alpha": 0.05},
}
_LOSS_ALIASES = {   # the original's class names, and common spellings
    "mixedceloss": "ce", "mixsoftmaxcrossentropy": "ce", "cross_entropy": "ce",
    "softmax_ce": "ce", "focalloss": "focal", "weightedceloss": "weighted_ce",
    "bootstrappedceloss": "bootstrapped_ce", "bootstrap": "bootstrapped_ce",
    "diceloss": "dice", "smoothceloss": "smooth_ce", "mixedsmoothceloss": "mixed_smooth_ce"}
_LOSS_CHECKS = {
    "gamma": (float, lambda v: v >= 0, ">= 0"), "min_k": (int, lambda v: v > 0, "> 0"),
    "loss_th": (float, lambda v: True, ""), "smooth": (float, lambda v: v >= 0, ">= 0"),
    "exponent": (float, lambda v: v > 0, "> 0"),
    "smooth_alpha": (float, lambda v: 0 <= v < 1, "in [0, 1)"),
    "weight": (float, lambda v: True, ""),
    "class_weight": (list[float], lambda v: len(v) > 0 and min(v) >= 0,
                     "a non-empty list of values >= 0, one per class"),
}


def criterion_terms(value) -> list:
    """A ``criterion`` config value as a list of ``{name, weight, options...}`` with canonical
    names and defaults filled in. null -> plain CE; a name; one mapping; a list (or
    ``{name: mixed, losses: [...]}``) -> a weighted mixture. Raises ConfigError."""
    if value is None:
        value = "ce"
    if isinstance(value, dict) and str(value.get("name", "")).lower() in ("mixed", "mixedloss"):
        extra = set(value) - {"name", "losses"}
        if extra or not isinstance(value.get("losses"), list):
            raise ConfigError("criterion: a mixture is {name: mixed, losses: [{name: ce, weight: "
                              "1.0}, ...]} (or just the list)")
        value = value["losses"]
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError("criterion: an empty list; give at least one loss or null for CE")
    return [_criterion_term(f"criterion[{i}]" if isinstance(value, list) else "criterion", item)
            for i, item in enumerate(items)]


def _criterion_term(where, item) -> dict:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict) or "name" not in item:
        raise ConfigError(f"{where}: expected a loss name or a mapping with 'name', got {item!r}")
    raw = str(item["name"])
    name = _LOSS_ALIASES.get(raw.lower(), raw.lower())
    if name not in LOSS_OPTIONS:
        close = difflib.get_close_matches(raw.lower(), [*LOSS_OPTIONS, *_LOSS_ALIASES], n=1,
                                          cutoff=0.5)
        hint = f" Did you mean {_LOSS_ALIASES.get(close[0], close[0])!r}?" if close else ""
        raise ConfigError(f"{where}: unknown loss {raw!r}.{hint} "
                          f"Known losses: {', '.join(LOSS_OPTIONS)}")
    allowed = LOSS_OPTIONS[name]
    term = {"name": name, "weight": 1.0, **allowed}
    for key, v in item.items():
        if key == "name":
            continue
        if key != "weight" and key not in allowed:
            close = difflib.get_close_matches(str(key), [*allowed, "weight"], n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: loss {name!r} has no option {key!r}.{hint} Its options: "
                              f"{', '.join([*allowed, 'weight']) or 'weight'}")
        tp, ok, rule = _LOSS_CHECKS[key]
        v = _coerce(f"{where}.{key}", v, tp)
        if not ok(v):
            raise ConfigError(f"{where}.{key} must be {rule}, got {v!r}")
        term[key] = v
    missing = [k for k, v in term.items() if v is None]
    if missing:
        raise ConfigError(f"{where}: loss {name!r} needs {', '.join(missing)}")
    return term


def _choice(key, value, allowed, fold_case=False):
    ok = value in allowed or (fold_case and isinstance(value, str)
                              and value.lower() in [a.lower() for a in allowed if a])
    if not ok:
        shown = ", ".join("null" if a is None else str(a) for a in allowed)
        raise ConfigError(f"{key}: {value!r} is not one of {shown}")


# ----------------------------------------------------------------------------- type coercion
def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, tp) -> Any:
    if tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:                       # Optional[X]
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "~")):
            return None
        return _coerce(key, value, next(a for a in args if a is not type(None)))
    bad = ConfigError(f"{key}: {value!r} is not a valid {_type_name(tp)}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {[f.name for f in fields(tp)]}, "
                              f"got {value!r}")
        return _build(tp, value, prefix=f"{key}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):   # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
    if origin is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(items)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    raise TypeError(f"unsupported schema type {tp!r} for {key}")


def _build(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
            hint = f" Did you mean {prefix + close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config key {prefix + str(key)!r}.{hint} "
                              f"Valid keys here: {', '.join(names)}")
        kwargs[key] = _coerce(prefix + key, value, hints[key])
    return cls(**kwargs)


# ----------------------------------------------------------------------------- loading
def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys, "
                          f"got {type(data).__name__}")
    return data


def _merge(base: dict, over: dict, options_whole: bool = True) -> dict:
    """Merge ``over`` into ``base`` section by section. A config file's ``model_kwargs`` /
    ``data_kwargs`` replace its base's whole (``options_whole``); a dotted command-line override
    (``data_kwargs.root=/x``) changes one key and keeps the rest."""
    out = dict(base)
    for key, value in over.items():
        nested = not options_whole or key not in ("model_kwargs", "data_kwargs")
        if nested and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, options_whole)
        else:
            out[key] = value
    return out


def parse_overrides(items) -> dict:
    """``["lr=0.1", "poly.power=1"]`` -> nested dict; values parsed as YAML scalars."""
    out: dict = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value or section.key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = value
    return out


def read_config_keys(path) -> dict:
    """The keys a config file (with its ``_base_``) actually sets, without the defaults of the
    keys it leaves out; validated like ``load_config``."""
    data = _file_keys(Path(path))
    load_config(None, data, check_names=False)
    return data


def _file_keys(path: Path) -> dict:
    data = _read_yaml(path)
    if {"program", "method", "parameters"} <= set(data):
        raise ConfigError(f"{str(path)!r} is a wandb sweep file, not a training config: start it "
                          f"with `wandb sweep {path}` and `wandb agent SWEEP_ID`")
    base = data.pop("_base_", None)
    if base is not None:
        base_path = (path.parent / base) if not Path(base).is_absolute() else Path(base)
        base_data = _read_yaml(base_path)
        if "_base_" in base_data:
            raise ConfigError(f"{str(base_path)!r}: _base_ may be used one level deep only "
                              f"(it is the base of {str(path)!r})")
        data = _merge(base_data, data)
    return data


def load_config(path=None, overrides=(), check_names: bool = True) -> Config:
    """Load and validate a config. ``path`` None -> defaults (+ overrides)."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        data = _file_keys(path)
    where = f" (in {path})" if path is not None else ""
    try:
        data = _merge(data, parse_overrides(overrides) if not isinstance(overrides, dict)
                      else overrides, options_whole=False)
        cfg = _build(Config, data)
        return cfg.validate(check_names)
    except ConfigError as err:
        raise ConfigError(f"{err}{where}") from None
