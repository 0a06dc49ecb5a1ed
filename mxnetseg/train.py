"""Train a model: ``python mxnetseg/train.py --config X.yaml --ctx 0 1 2 3 --wandb demo``.

Also ``mxnetseg-train`` and ``python -m mxnetseg train``. ``key=value`` arguments override
config keys (``lr=0.02 poly.power=1.0``). Under ``torchrun`` the same command trains on many
nodes. Without ``--config`` the original's ``config.yml`` in the current directory is used.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a plain script, like the original's train.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "mxnetseg"

from mxnetseg.cli import fail, run_cli   # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mxnetseg-train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML config (default: ./config.yml, as the original)")
    p.add_argument("--ctx", type=int, nargs="*", default=None,
                   help="GPU ids, one process each (e.g. --ctx 0 1 2 3); omit for the CPU")
    p.add_argument("--wandb", default=None, help="wandb project name (config wandb_project)")
    p.add_argument("--log-interval", type=int, default=None, help="iterations between logs")
    p.add_argument("--no-val", action="store_true", help="skip validation after each epoch")
    p.add_argument("--lr", type=float, default=None, help="override the config's lr")
    p.add_argument("--wd", type=float, default=None, help="override the config's wd")
    p.add_argument("--data-root", default=None, help="folder holding the dataset folders")
    p.add_argument("--eval", action="store_true",
                   help="after training, evaluate the best checkpoint on the full-size val set")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return p.parse_intermixed_args(argv)


def build_config(args):
    from mxnetseg.config import load_config
    path = args.config
    if path is None:
        if not Path("config.yml").is_file():
            fail("no config: pass --config FILE.yaml (or put a config.yml in the current folder)")
        path = "config.yml"
    overrides = list(args.overrides)
    for key, value in (("wandb_project", args.wandb), ("log_interval", args.log_interval),
                       ("lr", args.lr), ("wd", args.wd), ("data_root", args.data_root)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.no_val:
        overrides.append("val=false")
    return load_config(path, overrides)


def _worker(cfg, do_eval, ctx=None, local_index=0):
    from mxnetseg.tools.trainer import train
    result = train(cfg, ctx, local_index)
    if result:
        print(f"training done: best val mIoU (center crops) {result['best_mIoU']:.4f}; "
              f"checkpoints: {result['checkpoint']}"
              + (f", {result['best_checkpoint']}" if result.get("best_checkpoint") else ""))
        if do_eval:
            from mxnetseg.eval import evaluate_checkpoint
            ckpt = result.get("best_checkpoint") or result["checkpoint"]
            evaluate_checkpoint(ckpt, cfg, ctx=(ctx or [])[:1])
    return result


def main(argv=None):
    args = parse_args(argv)

    def go():
        from mxnetseg.tools.distributed import launch
        cfg = build_config(args)
        return launch(_worker, args.ctx, cfg, args.eval)
    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
