"""Ours (eager and optimised) against the ORIGINAL under MXNet, interleaved on one machine.

Run from the repository root with the project's Python; the original runs under the MXNet
environment (``--mxpython``) through scripts/parity/speed_original.py:

    python scripts/parity/speed_compare.py --orig /work/mxorig --mxpython /work/mxvenv/bin/python \
        --rounds 2 --warmup 2 --iters 5 --threads 2 --out speed_compare.json

Every measurement is its own process. Each round runs, for every model in turn, the original,
then each of our variants (``--variants``: eager = ``bench --no-optimize``, optimized =
``bench`` (default ``--optimize``), jit / compile = ``bench --backend ...``), so a load change
on a shared machine hits all of them alike. The table gives, per model and variant, the median
over rounds of each run's median latency, and the original's latency divided by it.
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
VARIANTS = {"eager": ["--no-optimize"], "optimized": [], "bf16": ["--amp", "bf16"],
            "jit": ["--backend", "jit"],
            "compile": ["--backend", "compile"]}
HERE = Path(__file__).resolve().parent


def run_json(cmd, env):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "cmd": cmd}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orig", required=True, help="folder holding the original's mxnetseg/")
    p.add_argument("--mxpython", required=True, help="python of the MXNet environment")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, nargs=2, default=[512, 512])
    p.add_argument("--variants", nargs="+", default=["eager", "optimized"],
                   choices=sorted(VARIANTS))
    p.add_argument("--models", nargs="+", default=[f"{m}/{b}" for m, b in MODELS],
                   help="MODEL/BACKBONE, names of both registries")
    p.add_argument("--out", help="also write every run (JSON lines) here")
    args = p.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": str(HERE.parents[1])}
    common = ["--size", *map(str, args.size), "--threads", str(args.threads), "--warmup",
              str(args.warmup), "--iters", str(args.iters)]
    runs = []
    out = open(args.out, "w") if args.out else None
    for rnd in range(args.rounds):
        for spec in args.models:
            model, backbone = spec.split("/")
            cmds = {"original": [args.mxpython, str(HERE / "speed_original.py"), args.orig,
                                 "--model", model, "--backbone", backbone, *common]}
            for v in args.variants:
                cmds[v] = [sys.executable, "-m", "mxnetseg", "bench", "--model", model,
                           "--backbone", backbone, "--dilate", "--no-aux", "--json",
                           "--no-flops", *common, *VARIANTS[v]]
            for name, cmd in cmds.items():
                start = time.time()
                row = {"round": rnd, "spec": spec, "variant": name, **run_json(cmd, env),
                       "wall_s": time.time() - start,
                       "load": os.getloadavg()[0]}
                runs.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
    print(table(runs, args.models, ["original", *args.variants]))


def table(runs, specs, variants) -> str:
    lines = ["| model | " + " | ".join(f"{v} ms" for v in variants) + " | "
             + " | ".join(f"{v} speed-up" for v in variants[1:]) + " |",
             "|---|" + "---:|" * (2 * len(variants) - 1)]
    for spec in specs:
        med = {}
        for v in variants:
            vals = [r["latency_ms"]["median"] for r in runs
                    if r["spec"] == spec and r["variant"] == v and "latency_ms" in r]
            med[v] = statistics.median(vals) if vals else None
        cells = [f"{med[v]:.0f}" if med[v] else "failed" for v in variants]
        ratios = [f"{med['original'] / med[v]:.2f}x" if med[v] and med["original"] else "-"
                  for v in variants[1:]]
        lines.append(f"| {spec} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
