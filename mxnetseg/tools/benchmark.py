"""Inference speed of a model: the original's ``eval.py --purpose speed`` (time N forward passes
of a random input after a warm-up), plus percentiles, memory, parameters and FLOPs.

    from mxnetseg.tools.benchmark import benchmark
    result = benchmark(model, size=(512, 512), batch=1, device="cuda:0", amp="bf16")
"""
from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time

import torch
import torch.nn as nn

from ..models import count_parameters, list_models
from .evaluator import autocast_dtype

__all__ = ["benchmark", "count_flops", "bench_all", "markdown_table", "machine_name"]


def count_flops(model: nn.Module, size, device="cpu") -> int:
    """Floating-point operations of one forward pass of one (3, H, W) image (a multiply-add is
    two, as ``torch.utils.flop_counter`` counts them)."""
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.rand(1, 3, *size, device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def _percentile(values, q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]) of a non-empty list."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _rss_bytes() -> int | None:
    """The process's resident memory now (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _release_free_memory() -> None:
    """Hand memory freed by earlier runs back to the OS (glibc keeps it), so that the rise of
    resident memory measures this run's allocations rather than being hidden by reuse."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _RssPeak:
    """Samples resident memory every 2 ms in a thread: the CPU allocator keeps no peak, and
    the process-wide ru_maxrss would carry one model's peak over to the next in ``--all``."""

    def __init__(self):
        _release_free_memory()
        self.base = _rss_bytes()
        self.peak = self.base or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_bytes() or 0)

    def __enter__(self):
        if self.base is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.peak = max(self.peak, _rss_bytes() or 0)


def _weight_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size()
               for t in [*model.parameters(), *model.buffers()])


def _peak_memory_mb(device: torch.device, model: nn.Module, sampler: _RssPeak) -> float:
    """GPU: PyTorch's peak allocation during the timed passes (weights included). CPU: the
    weights plus the largest rise of resident memory during them (Linux; elsewhere the
    process's peak resident memory)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    if sampler.base is None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 2 ** 20 if sys.platform == "darwin" else rss / 2 ** 10
    return (_weight_bytes(model) + sampler.peak - sampler.base) / 2 ** 20


def benchmark(model: nn.Module, size=(512, 512), batch: int = 1, device="cpu", amp=None,
              channels_last: bool = False, compile: bool = False, warmup: int = 5,
              iters: int = 20, threads=None, flops: bool = True, optimize: bool = False,
              backend: str | None = None) -> dict:
    """Time ``iters`` forward passes of a random (batch, 3, H, W) input after ``warmup`` ones
    (CUDA synchronised around each pass). Returns latency_ms {median, p90} per batch,
    images_per_s, peak_mem_mb, params (the README's "all" convention), gflops per image, the
    settings, the machine and the torch version. ``optimize``: time
    :func:`~mxnetseg.tools.inference.optimize_for_inference`'s model (``backend``, or
    'compile' when ``compile``) instead of the eager one; its graph is built in the warm-up."""
    if batch < 1 or iters < 1 or warmup < 0:
        raise ValueError(f"batch and iters must be >= 1 and warmup >= 0 (got batch={batch}, "
                         f"iters={iters}, warmup={warmup})")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be two positive numbers H W, got {tuple(size)}")
    device = torch.device(device)
    if threads:
        torch.set_num_threads(int(threads))
    dtype = autocast_dtype(amp, device)
    model = model.eval().to(device)
    params = count_parameters(model, "all")
    gflops = count_flops(model, size, device) / 1e9 if flops else None
    if optimize:
        from .inference import DEFAULT_BACKEND, optimize_for_inference
        backend = backend or ("compile" if compile else DEFAULT_BACKEND)
        channels_last = True
        run = optimize_for_inference(model, (batch, 3, *size), device=device, amp=amp,
                                     backend=backend)
        dtype = None          # the optimised model applies its own autocast policy
        warmup = max(warmup, 1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if not optimize:
        model = model.to(memory_format=fmt)
        run = torch.compile(model) if compile else model
    x = torch.rand(batch, 3, *size, device=device).contiguous(memory_format=fmt)
    cuda = device.type == "cuda"

    def timed_pass() -> float:
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run(x)
        if cuda:
            torch.cuda.synchronize(device)
        return (time.perf_counter() - start) * 1000.0

    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
    with torch.inference_mode(), autocast:
        for _ in range(warmup):        # compilation and allocator growth happen here
            timed_pass()
        if cuda:                       # peak memory: of the timed passes, as on the CPU
            torch.cuda.reset_peak_memory_stats(device)
        with _RssPeak() as sampler:
            times = [timed_pass() for _ in range(iters)]
    median = statistics.median(times)
    return {"latency_ms": {"median": median, "p90": _percentile(times, 90)},
            "images_per_s": batch * 1000.0 / median,
            "peak_mem_mb": _peak_memory_mb(device, model, sampler),
            "params": params, "gflops": gflops,
            "size": list(size), "batch": batch, "device": str(device), "amp": amp,
            "channels_last": channels_last, "compile": compile,
            "optimize": run.backend_for(x) if optimize else False,
            "threads": torch.get_num_threads(), "iters": iters, "warmup": warmup,
            "machine": machine_name(device), "torch": torch.__version__,
            # OpenMP's idle-thread policy moved 2-thread CPU latency by 2x (docs/performance.md)
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}


def bench_all(build, names=None, log=print, **options) -> list[dict]:
    """``benchmark`` every registered model (or ``names``) at its default backbone; ``build``
    (name -> (model, label)) makes each. A model that fails keeps a row with its error."""
    rows = []
    for name in names or list_models():
        try:
            model, label = build(name)
            row = {"model": label, **benchmark(model, **options)}
        except Exception as err:   # noqa: BLE001  (one broken model must not stop the table)
            row = {"model": name, "error": f"{type(err).__name__}: {err}".splitlines()[0]}
        finally:
            model = None
        log(summary_line(row))
        rows.append(row)
    return rows


def summary_line(row: dict) -> str:
    if "error" in row:
        return f"{row['model']}: failed ({row['error']})"
    flops = f"{row['gflops']:.2f} GFLOPs/img, " if row.get("gflops") is not None else ""
    return (f"{row['model']}: latency median {row['latency_ms']['median']:.2f} ms, "
            f"p90 {row['latency_ms']['p90']:.2f} ms, {row['images_per_s']:.2f} images/s, "
            f"peak memory {row['peak_mem_mb']:.0f} MB, {row['params'] / 1e6:.2f} M params, "
            f"{flops}batch {row['batch']} at {row['size'][0]}x{row['size'][1]} on "
            f"{row['device']}")


def markdown_table(rows) -> str:
    head = ("| model | params (M) | GFLOPs / image | latency median (ms) | latency p90 (ms) | "
            "images/s | peak mem (MB) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error'].replace('|', '/')} ||||||")
            continue
        g = "" if r.get("gflops") is None else f"{r['gflops']:.2f}"
        lines.append(f"| {r['model']} | {r['params'] / 1e6:.2f} | {g} | "
                     f"{r['latency_ms']['median']:.1f} | {r['latency_ms']['p90']:.1f} | "
                     f"{r['images_per_s']:.2f} | {r['peak_mem_mb']:.0f} |")
    return head + "\n".join(lines) + "\n"


def machine_name(device="cpu") -> str:
    """The GPU's name, or the CPU's model name as lscpu gives it (with the core count)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"{name} ({os.cpu_count()} cores)"
