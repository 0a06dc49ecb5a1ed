"""Checkpoints: one dict, written atomically, loaded with ``weights_only=True``.

A training checkpoint holds model, optimizer, scheduler, scaler, epoch, iteration, best score,
RNG states and the config. ``load_model_weights`` also takes a bare state dict; the format is
recognised by content, not by file extension.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import torch

from .mxnet_params import CheckpointError, is_mxnet_params, read_params

__all__ = ["save_checkpoint", "load_checkpoint", "load_model_weights", "is_mxnet_params",
           "mxnet_backbone_state",
           "rng_state", "set_rng_state", "CheckpointError"]


def non_finite_tensors(state: dict) -> list[str]:
    """Names of the floating-point tensors of a state dict holding NaN or inf."""
    return [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())]


def save_checkpoint(state: dict, path) -> Path:
    """Write ``state`` to ``path`` via a temp file in the same folder and an atomic rename, so a
    crash mid-write never leaves a truncated checkpoint in place of a good one. Temp files a
    killed earlier save left for the same path are removed first. A model state with NaN/inf
    weights is refused (``CheckpointError``): a diverged run never overwrites a good file."""
    path = Path(path)
    bad = non_finite_tensors(state.get("model", {})) if isinstance(state, dict) else []
    if bad:
        raise CheckpointError(f"refusing to save {str(path)!r}: {len(bad)} weight tensors hold "
                              f"NaN/inf (e.g. {', '.join(bad[:3])})")
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _sniff(path: Path) -> str:
    if is_mxnet_params(path):
        return "mxnet"
    with open(path, "rb") as f:
        head = f.read(2)
    if head[:2] == b"PK":
        return "torch"              # torch.save zip format
    if head[:1] == b"\x80":
        return "torch"              # legacy pickle format
    return "unknown"


def load_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    kind = _sniff(path)
    if kind == "mxnet":
        raise CheckpointError(
            f"{str(path)!r} is an MXNet .params file: load it into a model with "
            f"load_model_weights(model, path), or convert it once with "
            f"python -m mxnetseg convert {str(path)!r} out.pth --model NAME --backbone B "
            f"--nclass N [--aux] [--dilate]")
    if kind != "torch":
        raise CheckpointError(f"{str(path)!r} is not a PyTorch checkpoint (unrecognised header)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several kinds for bad files
        raise CheckpointError(f"could not read checkpoint {str(path)!r}: {err}") from err


def _mxnet_state(model: torch.nn.Module, path: Path):
    """An MXNet ``.params`` file as our state dict, through the model's name map; returns
    (state, unmapped MXNet names, our keys that two MXNet names map to)."""
    from .mxnet_maps import map_names   # here: the maps import every model
    arrays = read_params(path)
    try:
        mapped, unmapped = map_names(model, arrays)
    except KeyError as err:
        raise CheckpointError(f"cannot import MXNet file {str(path)!r}: {err.args[0]}") from None
    state, seen, dups = {}, {}, []
    for mx_name, ours in mapped.items():
        if ours in seen:
            dups.append(f"{ours} <- {seen[ours]}, {mx_name}")
        seen[ours] = mx_name
        state[ours] = torch.from_numpy(arrays[mx_name].copy())
    # MXNet keeps no BN batch counters: take the model's own (they only matter for momentum=None)
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = v.clone()
    return state, unmapped, dups


def mxnet_backbone_state(module: torch.nn.Module, arch: str, path) -> dict:
    """An MXNet ImageNet classifier ``.params`` (GluonCV's, the original's EPRNet-Cls) as the
    state dict of backbone ``arch``, through its map in :mod:`.mxnet_maps`."""
    from .mxnet_maps import backbone_state   # here: the maps import every model
    return backbone_state(module, arch, path)


def load_model_weights(model: torch.nn.Module, path, map_location="cpu") -> dict:
    """Load a checkpoint's model weights strictly; mismatches raise one error listing them.

    An MXNet ``.params`` file of the original (recognised by content) is loaded through the
    model's name map in :mod:`mxnetseg.tools.mxnet_maps`; the returned dict is then
    ``{"model": state}``. Nothing is loaded unless every parameter fits."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    extra = []
    if _sniff(path) == "mxnet":
        state, unmapped, dups = _mxnet_state(model, path)
        ckpt = {"model": state}
        extra = [("MXNet names with no counterpart", unmapped),
                 ("mapped twice", dups)]
    else:
        ckpt = load_checkpoint(path, map_location)
        state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise CheckpointError(f"{str(path)!r} holds no model state dict")
        state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = extra + [("missing in file", missing), ("unexpected in file", unexpected),
                        ("shape mismatch", shapes)]
    if any(items for _, items in problems):
        parts = []
        for title, items in problems:
            if items:
                more = f" ... (+{len(items) - 10} more)" if len(items) > 10 else ""
                parts.append(f"{title} ({len(items)}): {', '.join(items[:10])}{more}")
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit this model "
                              f"(wrong --model/--backbone/nclass/aux?):\n  " + "\n  ".join(parts))
    model.load_state_dict(state, strict=True)
    return ckpt


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
