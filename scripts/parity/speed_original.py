"""Inference latency of the ORIGINAL MXNetSeg model code under MXNet, as one JSON object in the
schema of ``python -m mxnetseg bench --json`` (so the two can be compared field by field).

Run under the throwaway MXNet environment (scripts/parity/requirements.txt), from the repository
root; ORIG is the folder holding the original's ``mxnetseg`` package:

    /work/mxvenv/bin/python scripts/parity/speed_original.py ORIG --model DeepLabv3 \
        --backbone resnet101 --size 512 512 --threads 2 --warmup 3 --iters 10

The model is built as the original's trainer builds it (random initialisation, 19 classes,
``dilate`` on = output stride 8, no aux head), hybridized with ``static_alloc`` and
``static_shape`` and timed like the original's ``eval.py --purpose speed``
(``net.evaluate`` = the main output, outside ``autograd.record``), but one pass at a time
with ``nd.waitall()`` after each so every pass has its own latency (median and p90 reported).
The thread count goes into OMP_NUM_THREADS and MXNET_CPU_WORKER_NTHREADS before MXNet loads.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("orig", help="folder holding the original's mxnetseg package")
    p.add_argument("--model", required=True, help="the original's registry name, e.g. PSPNet")
    p.add_argument("--backbone", default=None)
    p.add_argument("--nclass", type=int, default=19)
    p.add_argument("--no-dilate", dest="dilate", action="store_false",
                   help="output stride 32 instead of 8")
    p.add_argument("--size", type=int, nargs=2, default=[512, 512], metavar=("H", "W"))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--serve", action="store_true",
                   help="after the warm-up print one 'ready' JSON line, then time one pass per "
                        "line read from stdin and print its ms (speed_compare.py interleaves "
                        "several such processes pass by pass)")
    return p.parse_args(argv)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def percentile(values, q):
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def main(argv=None):
    args = parse_args(argv)
    if not (Path(args.orig) / "mxnetseg").is_dir():
        sys.exit(f"{args.orig}: no mxnetseg/ folder here; pass the folder that holds the "
                 f"original's package")
    for var in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS"):
        os.environ[var] = str(args.threads)
    # this folder holds a gluoncv.py of ours that would shadow the real GluonCV
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [q for q in sys.path if q and str(Path(q).resolve()) != here]
    sys.path.insert(0, str(Path(args.orig).resolve()))
    import importlib
    import mxnet as mx
    from mxnet import autograd
    from mxnetseg.utils import MODELS
    importlib.import_module("mxnetseg.models")       # fills the registry
    if args.model not in MODELS.components_dict:
        sys.exit(f"--model {args.model}: not in the original's registry "
                 f"({', '.join(sorted(MODELS.components_dict))})")
    h, w = args.size
    kw = dict(nclass=args.nclass, aux=False, crop_size=h, height=h, width=w,
              pretrained_base=False, dilate=args.dilate)
    if args.backbone:
        kw["backbone"] = args.backbone
    net = MODELS[args.model](**kw)
    net.initialize()
    net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.random.uniform(shape=(args.batch, 3, h, w))

    def timed_pass():
        mx.nd.waitall()
        start = time.perf_counter()
        with autograd.record(False):
            net.evaluate(x).wait_to_read()
        mx.nd.waitall()
        return (time.perf_counter() - start) * 1000.0

    for _ in range(args.warmup):
        timed_pass()
    params = sum(int(p.data().size) for p in net.collect_params().values())
    if args.serve:
        print(json.dumps({"ready": True, "params": params, "cpu": cpu_name(),
                          "framework": f"mxnet {mx.__version__}"}), flush=True)
        for line in sys.stdin:
            if line.strip() == "quit":
                break
            print(json.dumps({"ms": timed_pass()}), flush=True)
        return
    times = [timed_pass() for _ in range(args.iters)]
    median = statistics.median(times)
    print(json.dumps({
        "model": f"original:{args.model}/{args.backbone or 'default'}",
        "latency_ms": {"median": median, "p90": percentile(times, 90)},
        "images_per_s": args.batch * 1000.0 / median, "params": params,
        "size": [h, w], "batch": args.batch, "device": "cpu", "threads": args.threads,
        "iters": args.iters, "warmup": args.warmup, "optimize": "mxnet-hybridize",
        "cpu": cpu_name(), "framework": f"mxnet {mx.__version__}",
        "mkldnn": bool(mx.runtime.Features().is_enabled("MKLDNN"))}))


if __name__ == "__main__":
    main()
