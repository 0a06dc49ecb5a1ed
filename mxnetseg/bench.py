"""Inference speed of a model on a random input.

    python -m mxnetseg bench --model PSPNet --backbone resnet50 --size 512 512 --ctx 0 --amp bf16
    python -m mxnetseg bench --checkpoint run/best.pth --batch 4 --json
    python -m mxnetseg bench --model psp_resnet101_citys --channels-last --compile
    python -m mxnetseg bench --all --size 256 256 --iters 5 --out docs/speed.md
    python -m mxnetseg bench --model DeepLabv3 --backbone resnet101 --dilate --threads 2 \
        --size 512 512 --json [--amp bf16] [--no-optimize] [--backend jit]

Prints latency per batch (median, p90), images/s, peak memory (GPU: PyTorch's peak allocation;
CPU: the weights plus the largest rise of resident memory during the timed passes), parameters
(the README's convention: BatchNorm running statistics included) and FLOPs per image
(torch.utils.flop_counter; a multiply-add counts two). ``--all`` runs every registered model at
its default backbone and writes a markdown table (to --out, or stdout).

By default the model runs through ``optimize_for_inference`` (BN folded, channels_last, a graph
per input size: docs/performance.md); ``--no-optimize`` times the eager model. ``--json``
prints one object: latency_ms {median, p90}, images_per_s, peak_mem_mb, params, gflops, the
settings (optimize = the graph kind used), the machine (CPU model or GPU name) and torch.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a plain script, like train.py / eval.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "mxnetseg"

from mxnetseg.cli import add_model_source_args, check_gpus, fail, run_cli   # noqa: E402


def add_speed_args(p: argparse.ArgumentParser, size=(512, 512)) -> None:
    """The timing flags, shared with ``eval.py --purpose speed``."""
    p.add_argument("--size", type=int, nargs=2, default=list(size), metavar=("H", "W"),
                   help=f"input height and width (default {size[0]} {size[1]})")
    p.add_argument("--batch", type=int, default=1, help="images per forward pass")
    p.add_argument("--warmup", type=int, default=5, help="untimed forward passes first")
    p.add_argument("--iters", type=int, default=20, help="timed forward passes")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model first")
    p.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--no-flops", action="store_true", help="skip counting FLOPs")
    p.add_argument("--optimize", action=argparse.BooleanOptionalAction, default=True,
                   help="time the optimised inference path (BN folded, channels_last, a "
                        "graph per input size; default on) or the eager model")
    p.add_argument("--backend", choices=("auto", "jit", "compile", "eager"), default=None,
                   help="with --optimize: the graph (default: the measured-faster one, "
                        "docs/performance.md)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mxnetseg-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_source_args(p, "registered model name (random weights, 19 classes unless "
                             "--nclass), or a GluonCV zoo name")
    p.add_argument("--all", action="store_true",
                   help="every registered model at its default backbone -> a markdown table")
    p.add_argument("--out", help="with --all: write the markdown table here")
    p.add_argument("--ctx", type=int, nargs="*", default=None, metavar="GPU",
                   help="GPU id (the first one is used; default: the CPU)")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="autocast dtype")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    add_speed_args(p)
    return p.parse_args(argv)


def check_speed_args(args) -> None:
    if args.batch < 1 or args.iters < 1 or args.warmup < 0 or min(args.size) < 1:
        fail(f"--batch and --iters must be >= 1, --warmup >= 0 and --size positive (got "
             f"--batch {args.batch} --iters {args.iters} --warmup {args.warmup} --size "
             f"{args.size[0]} {args.size[1]})")
    if args.threads is not None and args.threads < 1:
        fail(f"--threads must be >= 1 (got {args.threads})")


def speed_options(args, device: str) -> dict:
    return {"size": tuple(args.size), "batch": args.batch, "device": device, "amp": args.amp,
            "channels_last": args.channels_last, "compile": args.compile,
            "warmup": args.warmup, "iters": args.iters, "threads": args.threads,
            "flops": not args.no_flops, "optimize": args.optimize, "backend": args.backend}


def _device(args) -> str:
    check_gpus(args.ctx)
    return f"cuda:{args.ctx[0]}" if args.ctx else "cpu"


def _write_all(args, device):
    from mxnetseg.tools.benchmark import bench_all, machine_name, markdown_table
    from mxnetseg.tools.model_source import resolve_model
    if args.model or args.checkpoint or args.backbone:
        fail("--all runs every registered model at its default backbone; drop --model, "
             "--backbone and --checkpoint (or drop --all)")
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        fail(f"--out {args.out}: folder {out.parent} does not exist")

    def build(name):
        return resolve_model(model=name, nclass=args.nclass, aux=args.aux, dilate=args.dilate,
                             size=args.size, weights=False)
    rows = bench_all(build, log=(lambda s: print(s, file=sys.stderr)) if args.json else print,
                     **speed_options(args, device))
    import torch
    env = "".join(f"{k}={os.environ[k]} " for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")
                  if k in os.environ)
    command = env + "python -m mxnetseg bench " + " ".join(map(shlex.quote, sys.argv[2:] if
                                                         sys.argv[1:2] == ["bench"] else
                                                         sys.argv[1:]))
    text = (f"Inference speed on {machine_name(device)}, PyTorch {torch.__version__}, "
            f"{rows[0].get('threads', torch.get_num_threads())} threads; batch {args.batch} "
            f"at {args.size[0]}x{args.size[1]}, {args.warmup} warm-up + {args.iters} timed "
            f"passes, amp {args.amp or 'off'}, nclass {args.nclass or 19}, random weights.\n\n"
            f"Made by: `{command}`\n\n" + markdown_table(rows))
    if out is not None:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
    elif out is None:
        print(text)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)

    def go():
        check_speed_args(args)
        device = _device(args)
        if args.all:
            return _write_all(args, device)
        if args.out:
            fail("--out is for --all (the markdown table); use --json for one model")
        if not (args.model or args.checkpoint):
            fail("give --model (and --backbone), --checkpoint, or --all")
        from mxnetseg.tools.benchmark import benchmark, summary_line
        from mxnetseg.tools.model_source import resolve_model
        model, label = resolve_model(checkpoint=args.checkpoint, model=args.model,
                                     backbone=args.backbone, nclass=args.nclass, aux=args.aux,
                                     dilate=args.dilate, size=args.size, weights=False)
        result = {"model": label, **benchmark(model, **speed_options(args, device))}
        print(json.dumps(result) if args.json else summary_line(result))
    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
