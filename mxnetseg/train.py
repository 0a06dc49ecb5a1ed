"""Train a model: ``python mxnetseg/train.py --config X.yaml --ctx 0 1 2 3 --wandb demo``.

Also ``mxnetseg-train`` and ``python -m mxnetseg train``. ``key=value`` arguments override
config keys (``lr=0.02 poly.power=1.0``). Under ``torchrun`` the same command trains on many
nodes. Without ``--config`` the original's ``config.yml`` in the current directory is used, or the
shipped ``mxnetseg/config.yml`` (the original's default config) when there is none. ``--model
NAME`` (as the original README writes it) sets ``model_name``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a plain script, like the original's train.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "mxnetseg"

from mxnetseg.cli import check_gpus, run_cli, split_ctx   # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mxnetseg-train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML config (default: ./config.yml, as the original)")
    p.add_argument("--model", default=None, help="model name or alias (sets model_name)")
    p.add_argument("--ctx", nargs="*", default=None, metavar="GPU",
                   help="GPU ids, one process each (e.g. --ctx 0 1 2 3); omit for the CPU")
    p.add_argument("--wandb", default=None, help="wandb project name (config wandb_project)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log to TensorBoard (config tensorboard: true)")
    p.add_argument("--log-interval", type=int, default=None, help="iterations between logs")
    p.add_argument("--no-val", action="store_true", help="skip validation after each epoch")
    p.add_argument("--lr", type=float, default=None, help="override the config's lr")
    p.add_argument("--wd", type=float, default=None, help="override the config's wd")
    p.add_argument("--data-root", default=None, help="folder holding the dataset folders")
    p.add_argument("--eval", action="store_true",
                   help="after training, evaluate the best checkpoint on the full-size val set")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    args = p.parse_intermixed_args(argv)
    args.ctx, more = split_ctx(args.ctx)   # `--ctx 0 1 epochs=1`: the override is no GPU id
    args.overrides = list(args.overrides) + more
    return args


SHIPPED_CONFIG = Path(__file__).resolve().parent / "config.yml"


def build_config(args):
    from mxnetseg.config import load_config
    path = args.config
    if path is None:
        path = "config.yml" if Path("config.yml").is_file() else SHIPPED_CONFIG
        if path == SHIPPED_CONFIG:
            print(f"no --config and no ./config.yml: using the original's default config "
                  f"{path}", file=sys.stderr)
    overrides = list(args.overrides)
    for key, value in (("model_name", args.model), ("wandb_project", args.wandb),
                       ("log_interval", args.log_interval), ("lr", args.lr), ("wd", args.wd),
                       ("data_root", args.data_root)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.no_val:
        overrides.append("val=false")
    if args.tensorboard:
        overrides.append("tensorboard=true")
    return load_config(path, overrides)


def resume_command(argv, checkpoint) -> str:
    """The command that continues this run: the same arguments, ``resume=`` the checkpoint."""
    keep = [a for a in argv if not a.startswith("resume=")]
    return "python -m mxnetseg train " + shlex.join(keep + [f"resume={checkpoint}"])


def _worker(cfg, do_eval, argv, ctx=None, local_index=0):
    from mxnetseg.tools.logging import append_record, fmt_metric
    from mxnetseg.tools.runguard import TrainingStopped
    from mxnetseg.tools.trainer import train
    try:
        result = train(cfg, ctx, local_index)
    except TrainingStopped as err:
        if err.checkpoint:
            err.hint = f"resume with: {resume_command(argv, err.checkpoint)}"
        if len(ctx or []) > 1:   # a spawned worker: say it here, the parent returns the code
            if local_index == 0:
                print(f"error: {err}\n{getattr(err, 'hint', '')}", file=sys.stderr)
            raise SystemExit(err.exit_code) from None
        raise
    if result:
        print(f"training done: best val mIoU (center crops) {fmt_metric(result['best_mIoU'])}; "
              f"checkpoints: {result['checkpoint']}"
              + (f", {result['best_checkpoint']}" if result.get("best_checkpoint") else ""))
        if do_eval:
            from mxnetseg.eval import evaluate_checkpoint
            ckpt = result.get("best_checkpoint") or result["checkpoint"]
            metrics = evaluate_checkpoint(ckpt, cfg, ctx=(ctx or [])[:1])
            append_record(result["log"], {"msg": f"final eval of {ckpt}", "eval": metrics})
    return result


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)

    def go():
        args = parse_args(argv)
        check_gpus(args.ctx)
        from mxnetseg.tools.distributed import launch
        cfg = build_config(args)
        return launch(_worker, args.ctx, cfg, args.eval, argv)
    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
