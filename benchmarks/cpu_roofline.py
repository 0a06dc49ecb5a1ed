#!/usr/bin/env python
"""How close to this CPU's fp32 convolution peak the original and we run, and what a speed-up
target would need.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/cpu_roofline.py --threads 2 \
        [--compare speed_compare.jsonl] [--target 1.5]

1. The peak: the fastest fp32 convolution this machine runs, measured with the convolution
   shapes of ResNet-18/101 at output stride 8 and 512x512 input (oneDNN, channels_last, the
   library both the original and we call), in GFLOP/s (a multiply-add is two FLOPs). The
   input carries its border (no zero padding), so every counted multiply-add is executed.
2. With ``--compare`` (the JSON lines of scripts/parity/speed_compare.py ``--out``): each model's
   executed convolution FLOPs (taps that fall on zero padding not counted: oneDNN skips them,
   and at dilation 12-36 on a 64x64 map they are up to 60% of a layer's nominal FLOPs), each
   variant's achieved GFLOP/s and its share of the peak, and the latency and GFLOP/s that
   ``--target`` times the original's speed would take. A target above 100% of the peak cannot
   be met by running the same arithmetic faster.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (in channels, out channels, kernel, dilation, feature size): ResNet-101 OS8 bottleneck and
# head convolutions at 512x512 input, ResNet-18's 3x3 ones.
SHAPES = [(64, 64, 3, 1, 128), (128, 128, 3, 1, 64), (256, 256, 3, 2, 64),
          (512, 512, 3, 4, 64), (1024, 256, 1, 1, 64), (256, 1024, 1, 1, 64),
          (2048, 512, 1, 1, 64), (2048, 256, 3, 12, 64)]


def _median_ms(fn, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def conv_peak(warmup=2, iters=5) -> list[dict]:
    """GFLOP/s of each SHAPES convolution (batch 1, fp32, channels_last, no bias)."""
    rows = []
    for cin, cout, k, dil, size in SHAPES:
        border = dil * (k - 1)   # output size x size, every tap on real input
        x = torch.rand(1, cin, size + border, size + border)
        x = x.contiguous(memory_format=torch.channels_last)
        w = torch.rand(cout, cin, k, k).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            ms = _median_ms(lambda: F.conv2d(x, w, dilation=dil), warmup, iters)
        flops = 2 * size * size * cin * cout * k * k
        rows.append({"shape": f"{cin}->{cout} {k}x{k} d{dil} {size}^2", "ms": ms,
                     "gflops_per_s": flops / ms / 1e6})
    return rows


def _valid_taps(n_in: int, n_out: int, k: int, stride: int, pad: int, dil: int) -> int:
    """Sum over output positions of the kernel taps that land inside the input (one axis)."""
    pos = torch.arange(n_out)[:, None] * stride - pad + torch.arange(k)[None] * dil
    return int(((pos >= 0) & (pos < n_in)).sum())


def executed_conv_flops(net: torch.nn.Module, size) -> int:
    """Convolution FLOPs of one forward pass of a (3, H, W) image, taps on padding excluded."""
    total = 0

    def hook(conv, inputs, out):
        nonlocal total
        (h, w), (oh, ow) = inputs[0].shape[-2:], out.shape[-2:]
        taps = (_valid_taps(h, oh, conv.kernel_size[0], conv.stride[0], conv.padding[0],
                            conv.dilation[0])
                * _valid_taps(w, ow, conv.kernel_size[1], conv.stride[1], conv.padding[1],
                              conv.dilation[1]))
        total += 2 * out.shape[0] * taps * conv.out_channels * (conv.in_channels // conv.groups)

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.inference_mode():
            net(torch.rand(1, 3, *size))
    finally:
        for h in handles:
            h.remove()
    return total


def model_flops(spec: str, size) -> tuple[int, int]:
    """(nominal FLOPs as torch.utils.flop_counter counts them, executed convolution FLOPs)."""
    from mxnetseg.models import create_model
    from mxnetseg.tools.benchmark import count_flops
    model, backbone = spec.split("/")
    net = create_model(model, 19, backbone=backbone, dilate=True, aux=False,
                       pretrained_base=False).eval()
    return count_flops(net, size), executed_conv_flops(net, size)


def roofline(rows: list[dict], peak: float, size, target: float) -> list[dict]:
    """Per model and variant: achieved GFLOP/s, share of the peak; what the target needs."""
    out = []
    for spec in dict.fromkeys(r["spec"] for r in rows):
        nominal, flops = model_flops(spec, size)
        med = {r["variant"]: r["median_ms"] for r in rows if r["spec"] == spec}
        entry = {"spec": spec, "gflop_nominal": nominal / 1e9, "gflop": flops / 1e9,
                 "variants": {}}
        for variant, ms in med.items():
            rate = flops / ms / 1e6
            entry["variants"][variant] = {"ms": ms, "gflops_per_s": rate,
                                          "share_of_peak": rate / peak}
        if "original" in med:
            need_ms = med["original"] / target
            entry["target"] = {"ratio": target, "ms": need_ms,
                               "gflops_per_s": flops / need_ms / 1e6,
                               "share_of_peak": flops / need_ms / 1e6 / peak}
        out.append(entry)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--compare", help="speed_compare.py --out file (JSON lines)")
    p.add_argument("--target", type=float, default=1.5, help="speed-up over the original")
    p.add_argument("--size", type=int, nargs=2, default=[512, 512])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    shapes = conv_peak(iters=args.iters)
    peak = max(r["gflops_per_s"] for r in shapes)
    report = {"threads": args.threads, "peak_gflops_per_s": peak, "convs": shapes}
    if args.compare:
        rows = [json.loads(line) for line in Path(args.compare).read_text().splitlines()
                if line.strip()]
        report["models"] = roofline(rows, peak, args.size, args.target)
    if args.json:
        print(json.dumps(report))
        return 0
    for r in shapes:
        print(f"{r['shape']:<26} {r['ms']:8.1f} ms {r['gflops_per_s']:6.0f} GFLOP/s")
    print(f"peak (fastest of these): {peak:.0f} GFLOP/s on {args.threads} threads")
    for m in report.get("models", []):
        print(f"\n{m['spec']}: {m['gflop']:.1f} GFLOP executed in convolutions per image "
              f"({m['gflop_nominal']:.1f} nominal)")
        for variant, v in m["variants"].items():
            print(f"  {variant:<10} {v['ms']:8.0f} ms {v['gflops_per_s']:6.0f} GFLOP/s "
                  f"{100 * v['share_of_peak']:5.1f}% of peak")
        if "target" in m:
            t = m["target"]
            print(f"  {t['ratio']}x original needs {t['ms']:.0f} ms = {t['gflops_per_s']:.0f} "
                  f"GFLOP/s = {100 * t['share_of_peak']:.0f}% of peak")
    return 0


if __name__ == "__main__":
    sys.exit(main())
