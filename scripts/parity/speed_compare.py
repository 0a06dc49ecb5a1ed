"""Ours (eager, optimised, bf16) against the ORIGINAL under MXNet, interleaved pass by pass.

Run from the repository root with the project's Python; the original runs under the MXNet
environment (``--mxpython``) through scripts/parity/speed_original.py:

    python scripts/parity/speed_compare.py --orig /work/mxorig --mxpython /work/mxvenv/bin/python \
        --warmup 2 --iters 5 --threads 2 --out speed_compare.jsonl

For each model, one process per variant is started and warmed up (the original: hybridized
with static_alloc/static_shape; ours: ``eager`` = the model as built, ``optimized`` =
``optimize_for_inference`` with its default backend, ``bf16`` = the same with ``amp='bf16'``,
``jit``/``compile`` = a forced backend). Then the driver asks each process in turn for ONE
timed forward pass, ``--iters`` times round, with a pause between passes so the idle
processes' OpenMP threads have stopped spinning: a load change on a shared machine hits every
variant alike. Each process is idle while another runs. The table gives each variant's median
latency and the original's median divided by it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = [("FCNResNet", "resnet18"), ("DeepLabv3", "resnet101"), ("PSPNet", "resnet101")]
VARIANTS = {"eager": {}, "optimized": {"optimize": True},
            "bf16": {"optimize": True, "amp": "bf16"},
            "jit": {"optimize": True, "backend": "jit"},
            "compile": {"optimize": True, "backend": "compile"}}
HERE = Path(__file__).resolve().parent


def worker(model, backbone, variant, size, warmup, threads):
    """One of our variants, warmed up, timing one pass per stdin line (the --worker mode)."""
    import torch
    sys.path.insert(0, str(HERE.parents[1]))
    from mxnetseg.models import create_model
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = create_model(model, 19, backbone=backbone, dilate=True, aux=False,
                       pretrained_base=False).eval()
    opts = VARIANTS[variant]
    run = net
    if opts.get("optimize"):
        from mxnetseg.tools.inference import optimize_for_inference
        run = optimize_for_inference(net, (1, 3, *size), amp=opts.get("amp"),
                                     backend=opts.get("backend"))
    x = torch.rand(1, 3, *size)

    def timed_pass():
        start = time.perf_counter()
        with torch.inference_mode():
            run(x)
        return (time.perf_counter() - start) * 1000.0

    build = time.perf_counter()
    for _ in range(max(warmup, 1 if opts.get("optimize") else 0)):
        timed_pass()
    backend = run.backend_for(x) if opts.get("optimize") else "eager"
    print(json.dumps({"ready": True, "backend": backend, "torch": torch.__version__,
                      "warmup_s": time.perf_counter() - build}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        print(json.dumps({"ms": timed_pass()}), flush=True)


def _start(cmd, env):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, bufsize=1)
    ready = json.loads(_line(proc))
    return proc, ready


def _line(proc):
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{proc.args[:6]}... exited (code {proc.wait()})")
    return line


def compare(spec, args, env, out):
    model, backbone = spec.split("/")
    common = ["--size", *map(str, args.size), "--threads", str(args.threads), "--warmup",
              str(args.warmup)]
    cmds = {"original": [args.mxpython, str(HERE / "speed_original.py"), args.orig, "--model",
                         model, "--backbone", backbone, *common, "--serve"]}
    for v in args.variants:
        cmds[v] = [sys.executable, __file__, "--worker", model, backbone, v, *common]
    procs, info = {}, {}
    try:
        for name, cmd in cmds.items():          # started one at a time: warm-ups do not overlap
            procs[name], info[name] = _start(cmd, env)
        times = {name: [] for name in cmds}
        for _ in range(args.iters):
            for name, proc in procs.items():
                time.sleep(args.pause)
                proc.stdin.write("go\n")
                times[name].append(json.loads(_line(proc))["ms"])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.stdin.write("quit\n")
                proc.stdin.flush()
                proc.wait(timeout=60)
    rows = []
    for name, ms in times.items():
        row = {"spec": spec, "variant": name, "median_ms": statistics.median(ms),
               "times_ms": ms, **info[name], "load": os.getloadavg()[0]}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()
    return rows


def table(rows, specs, variants) -> str:
    lines = ["| model | " + " | ".join(f"{v} ms" for v in variants) + " | "
             + " | ".join(f"{v} vs original" for v in variants[1:]) + " |",
             "|---|" + "---:|" * (2 * len(variants) - 1)]
    for spec in specs:
        med = {r["variant"]: r["median_ms"] for r in rows if r["spec"] == spec}
        cells = [f"{med[v]:.0f}" if v in med else "failed" for v in variants]
        ratios = [f"{med['original'] / med[v]:.2f}x" if v in med and "original" in med else "-"
                  for v in variants[1:]]
        lines.append(f"| {spec} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        model, backbone, variant = argv[1:4]
        w = argparse.ArgumentParser()
        w.add_argument("--size", type=int, nargs=2)
        w.add_argument("--threads", type=int)
        w.add_argument("--warmup", type=int)
        a = w.parse_args(argv[4:])
        return worker(model, backbone, variant, tuple(a.size), a.warmup, a.threads)
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orig", required=True, help="folder holding the original's mxnetseg/")
    p.add_argument("--mxpython", required=True, help="python of the MXNet environment")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5, help="timed passes per variant")
    p.add_argument("--pause", type=float, default=0.5, help="seconds between passes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, nargs=2, default=[512, 512])
    p.add_argument("--variants", nargs="+", default=["eager", "optimized"],
                   choices=sorted(VARIANTS))
    p.add_argument("--models", nargs="+", default=[f"{m}/{b}" for m, b in MODELS],
                   help="MODEL/BACKBONE, names of both registries")
    p.add_argument("--out", help="also write every model's rows (JSON lines) here")
    args = p.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": str(HERE.parents[1])}
    out = open(args.out, "a") if args.out else None
    rows = []
    for spec in args.models:
        try:
            rows += compare(spec, args, env, out)
        except Exception as err:   # noqa: BLE001  (one model failing keeps the others)
            print(f"{spec}: failed ({type(err).__name__}: {err})", file=sys.stderr, flush=True)
    print(table(rows, args.models, ["original", *args.variants]))


if __name__ == "__main__":
    main()
