"""The optimised inference path shared by ``eval``, ``predict``, ``bench`` and ``Predictor``.

    from mxnetseg.tools.inference import optimize_for_inference
    fast = optimize_for_inference(model, (1, 3, 512, 512), device="cpu")
    logits = fast(x)[0]                 # the model's contract: a tuple, main output first

Three steps, each exact in fp32 up to rounding:

* BatchNorm folded into the convolution feeding it, only where that is the same function: an
  ``nn.Conv2d`` whose output goes to nothing but one BatchNorm (found by running the model once
  at a small size and recording which operations read each conv output), the BN in eval mode
  with running statistics. The folded model is a copy; the caller's model is left alone.
* channels_last weights and inputs (oneDNN's and cuDNN's preferred layout).
* a compiled graph per input shape (``backend``): ``"jit"`` = TorchScript trace + freeze +
  ``torch.jit.optimize_for_inference``, ``"compile"`` = ``torch.compile`` with Inductor's
  freezing (weights become constants, so conv+BN+ReLU fuse), ``"eager"`` = neither,
  ``"auto"`` (default) = compile for large inputs, jit for small ones. Graphs are
  cached per (shape, dtype, device); a graph that fails to build is reported once as a warning
  and that shape runs eagerly from then on.

``amp="bf16"`` runs under bf16 autocast with :data:`FP32_KEEP` modules (the ones measured to cost
argmax agreement, docs/performance.md) kept in fp32.
"""
from __future__ import annotations

import copy
import time
import os
import warnings

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from .evaluator import autocast

__all__ = ["optimize_for_inference", "fold_batchnorm", "OptimizedModel", "BACKENDS",
           "DEFAULT_BACKEND", "FP32_KEEP"]

BACKENDS = ("auto", "jit", "compile", "eager")
# 'auto': Inductor for inputs of at least AUTO_COMPILE_PIXELS per batch (it ran faster than
# TorchScript on every model measured, docs/performance.md, but takes 10 s to minutes to build
# a graph), TorchScript below (builds in about a second: small inputs cannot repay a compile)
DEFAULT_BACKEND = "auto"
AUTO_COMPILE_PIXELS = 256 * 256
# A graph costs seconds to build: 'auto' builds one only for a shape seen twice (eval windows,
# video frames, a folder of same-size photos), and at most MAX_GRAPHS shapes get one; others
# (a folder of photos of every size) run the folded model eagerly, which is exact too.
MAX_GRAPHS = 8
# what stays fp32 under --amp bf16 (docs/performance.md, "bf16"): modules of these class
# names, and with "classifier" the last conv of every head (so the logits and their
# upsampling are fp32)
FP32_KEEP = ("GlobalFlow", "classifier")

_BN = (nn.BatchNorm2d, nn.SyncBatchNorm)
# metadata reads: they look at a tensor without consuming its values
_META = {"size", "dim", "numel", "__get__", "shape", "dtype", "device", "is_contiguous",
         "requires_grad", "layout", "ndim", "is_floating_point", "stride", "data_ptr",
         "element_size", "get_device", "__len__", "is_cuda"}


class _Uses(TorchFunctionMode):
    """Counts, per tensor id, the torch operations that read it. Only the conv outputs are
    kept alive (and their counts reset when they are made), so their ids stay unique."""

    def __init__(self):
        super().__init__()
        self.uses: dict[int, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name not in _META:
            for t in _tensors((args, kwargs)):
                self.uses[id(t)] = self.uses.get(id(t), 0) + 1
        return func(*args, **kwargs)


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, (list, tuple)):
        for item in tree:
            yield from _tensors(item)
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from _tensors(item)


def _foldable_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(conv name, bn name) pairs where the BN reads a conv's output and nothing else does."""
    names = {m: n for n, m in model.named_modules()}
    mode = _Uses()
    calls: dict[nn.Module, int] = {}
    conv_out: dict[int, nn.Module] = {}
    bn_in: dict[nn.Module, int] = {}
    keep = []

    def count(mod, *_):
        calls[mod] = calls.get(mod, 0) + 1

    def on_conv(mod, _inp, out):
        conv_out[id(out)] = mod
        mode.uses[id(out)] = 0       # reads counted so far were of an older tensor
        keep.append(out)

    def on_bn(mod, inp):
        bn_in[mod] = id(inp[0])
        keep.append(inp[0])

    handles = []
    for m in model.modules():
        if type(m) is nn.Conv2d:
            handles += [m.register_forward_pre_hook(count), m.register_forward_hook(on_conv)]
        elif isinstance(m, _BN) and type(m).forward in (nn.BatchNorm2d.forward,
                                                        nn.SyncBatchNorm.forward):
            handles += [m.register_forward_pre_hook(count), m.register_forward_pre_hook(on_bn)]
    try:
        with torch.no_grad(), mode:
            model(example)
    finally:
        for h in handles:
            h.remove()
    pairs = []
    for bn, tid in bn_in.items():
        conv = conv_out.get(tid)
        # one read = the BN's own batch_norm call
        if conv is None or calls.get(conv) != 1 or calls.get(bn) != 1 or mode.uses.get(tid) != 1:
            continue
        if not bn.track_running_stats or bn.running_mean is None or bn.training:
            continue
        if conv.weight.shape[0] != bn.num_features or conv.padding_mode != "zeros":
            continue
        pairs.append((names[conv], names[bn]))
    return pairs


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.Module) -> None:
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(shift)
    w = conv.weight.double() * scale.view(-1, 1, 1, 1)
    conv.weight.copy_(w.to(conv.weight.dtype))
    new_bias = (bias * scale + shift).to(conv.weight.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias, requires_grad=False)
    else:
        conv.bias.copy_(new_bias)


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> tuple[nn.Module, int]:
    """(a copy of ``model`` with every exactly-foldable BN folded into its conv, the count).
    ``example``: an input to trace with (a small size suffices)."""
    model = copy.deepcopy(model).eval()
    pairs = _foldable_pairs(model, example)
    for conv_name, bn_name in pairs:
        _fold(model.get_submodule(conv_name), model.get_submodule(bn_name))
        _set(model, bn_name, nn.Identity())
    return model, len(pairs)


def _fold_small_first(model, shape, dtype, device):
    """Fold with a trace at most 128 px a side (the trace keeps every conv output alive),
    then at ``shape`` if the model refuses the small size; unfolded, with a warning, if both
    fail."""
    n, c, h, w = shape
    scale = min(1.0, 128 / max(h, w))
    small = (1, c, max(32, round(h * scale)), max(32, round(w * scale)))
    errors = []
    for size in dict.fromkeys([small, (1, c, h, w)]):
        try:
            return fold_batchnorm(model, torch.rand(*size, dtype=dtype, device=device))[0]
        except Exception as err:   # noqa: BLE001  (a model that needs another size)
            errors.append(f"{size}: {type(err).__name__}: {err}".splitlines()[0])
    warnings.warn(f"optimize: BatchNorm not folded, the model did not run on the trace "
                  f"input ({'; '.join(errors)})", RuntimeWarning, stacklevel=3)
    return copy.deepcopy(model)


class _Fp32(nn.Module):
    """Runs ``inner`` with autocast off and floating inputs in fp32 (bf16 policy)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *args):
        args = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
        with torch.autocast(args[0].device.type if torch.is_tensor(args[0]) else "cpu",
                            enabled=False):
            return self.inner(*args)


def _classifiers(model: nn.Module) -> list[str]:
    """The last conv of every ``*Head`` Sequential (FCNHead, AuxHead): the class scores."""
    found = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Sequential) and type(m).__name__.endswith("Head") and len(m) and \
                isinstance(m[-1], nn.Conv2d):
            found.append(f"{name}.{len(m) - 1}" if name else str(len(m) - 1))
    return found


def keep_fp32(model: nn.Module, keep=FP32_KEEP) -> int:
    """Wrap every module whose class name is in ``keep`` (and, with "classifier" there, the
    heads' last convs) to run in fp32; returns how many."""
    found = [n for n, m in model.named_modules() if type(m).__name__ in keep]
    if "classifier" in keep:
        found += [n for n in _classifiers(model) if n not in found]
    for name in found:
        _set(model, name, _Fp32(model.get_submodule(name)))
    return len(found)


class OptimizedModel(nn.Module):
    """The folded model plus its compiled graphs, one per input (shape, dtype, device); called
    like the model. ``timings`` holds each graph's build time in seconds."""

    def __init__(self, model: nn.Module, backend: str, channels_last: bool, amp_dtype=None):
        super().__init__()
        self.model = model
        self.backend, self.channels_last, self.amp_dtype = backend, channels_last, amp_dtype
        self._graphs: dict[tuple, object] = {}
        self._seen: dict[tuple, int] = {}
        self.timings: dict[tuple, float] = {}

    def backend_for(self, x: torch.Tensor) -> str:
        """The graph kind used for input ``x`` (``auto`` and bf16 resolved)."""
        backend = self.backend
        if backend == "auto":
            large = x.shape[0] * x.shape[-2] * x.shape[-1] >= AUTO_COMPILE_PIXELS
            backend = "compile" if large else "jit"
        # TorchScript traces autocast poorly (Inductor copes): bf16 runs eagerly instead
        return "eager" if backend == "jit" and self.amp_dtype is not None else backend

    def _build(self, x: torch.Tensor):
        backend = self.backend_for(x)
        if backend == "eager":
            return self.model
        with torch.no_grad(), autocast(x.device, self.amp_dtype), warnings.catch_warnings():
            # TorchScript's deprecation notices and the tracer's shape-as-constant notes: the
            # graph is rebuilt for every input shape, so constant shapes are what we want
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            if backend == "jit":
                traced = torch.jit.trace(self.model, x, check_trace=False)
                graph = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
                graph(x)
            else:
                import torch._dynamo.config as dynamo_config
                import torch._inductor.config as inductor_config
                # one graph per shape, all on this model class's forward: Dynamo's default of
                # 8 per code object would silently turn later shapes eager
                dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 64)
                graph = torch.compile(self.model, dynamic=False)
                with inductor_config.patch(freezing=True):
                    graph(x)          # the first call compiles, with the weights as constants
        return graph

    def _graph(self, x: torch.Tensor):
        key = (tuple(x.shape), x.dtype, str(x.device), torch.is_autocast_enabled(x.device.type))
        graph = self._graphs.get(key)
        if graph is None:
            self._seen[key] = seen = self._seen.get(key, 0) + 1
            if (self.backend == "auto" and seen < 2) or len(self._graphs) >= MAX_GRAPHS:
                return self.model
            start = time.perf_counter()
            try:
                graph = self._build(x)
            except Exception as err:   # noqa: BLE001  (any failure: run eagerly, say why once)
                warnings.warn(f"optimize: the {self.backend_for(x)} graph for input "
                              f"{tuple(x.shape)} failed to build ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}); running "
                              f"eagerly for this size", RuntimeWarning, stacklevel=3)
                graph = self.model
            self._graphs[key] = graph
            self.timings[key] = time.perf_counter() - start
        return graph

    def forward(self, x: torch.Tensor):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), autocast(x.device, self.amp_dtype):
            out = self._graph(x)(x)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def optimize_for_inference(model: nn.Module, example_shape=(1, 3, 64, 64),
                           dtype=torch.float32, device="cpu", amp=None,
                           backend: str | None = None, channels_last: bool = True,
                           fold: bool = True) -> OptimizedModel:
    """``model`` (left unchanged) -> an :class:`OptimizedModel` on ``device``: BN folded,
    channels_last, a graph per input shape from ``backend`` (default :data:`DEFAULT_BACKEND`).
    ``example_shape``/``dtype`` give the input that finds the foldable BNs (any small size the
    model accepts). ``amp``: None or 'bf16' (autocast with :data:`FP32_KEEP` kept fp32)."""
    backend = backend or os.environ.get("MXNETSEG_OPTIMIZE_BACKEND") or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r} (argument or "
                         f"$MXNETSEG_OPTIMIZE_BACKEND)")
    if amp not in (None, "bf16", "fp16"):
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    device = torch.device(device)
    model = model.eval().to(device)
    if fold:
        model = _fold_small_first(model, tuple(example_shape), dtype, device)
    else:
        model = copy.deepcopy(model)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    if amp_dtype is not None:
        keep_fp32(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return OptimizedModel(model, backend, channels_last, amp_dtype)
