"""Draw training curves: ``python -m mxnetseg plot RUN.log [RUN2.log ...] --out curves.png``.

Reads the trainer's JSON-lines run logs (``<ckpt_dir>/<model>/<run>.log``) and draws the train
loss, the learning rate and the val mIoU against the iteration, all runs on one chart.
Needs matplotlib (``pip install 'mxnetseg[plots]'``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mxnetseg.cli import fail, run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mxnetseg plot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("logs", nargs="+", metavar="RUN.log", help="run logs written by the trainer")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--labels", nargs="*", default=None,
                   help="one legend label per log (default: the run names)")
    return p.parse_args(argv)


def _labels(paths, given):
    if given:
        if len(given) != len(paths):
            fail(f"--labels gives {len(given)} labels for {len(paths)} logs; give one per log")
        return list(given)
    stems = [p.stem for p in paths]
    # two runs of the same name (different models/folders): tell them apart by their folder
    return [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]


def load_runs(paths, labels=None) -> dict:
    from mxnetseg.tools.logging import read_run_log
    from mxnetseg.tools.plots import run_curves
    paths = [Path(p) for p in paths]
    runs = {}
    for path, label in zip(paths, _labels(paths, labels)):
        if not path.is_file():
            fail(f"{path}: no such run log (the trainer writes <ckpt_dir>/<model>/<run>.log)")
        try:
            records = read_run_log(path)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            fail(f"{path} is not a JSON-lines run log ({err}); pass the .log the trainer wrote")
        if not any(isinstance(r, dict) for r in records) or not run_curves(records):
            fail(f"{path} holds no loss, lr or val mIoU records yet (the run logged no step)")
        runs[label] = records
    return runs


def main(argv=None):
    args = parse_args(argv)

    def go():
        from mxnetseg.tools.plots import MissingPackageError, plot_runs, require_matplotlib
        try:
            require_matplotlib()
        except MissingPackageError as err:
            fail(str(err))
        out = plot_runs(load_runs(args.logs, args.labels), args.out)
        print(f"wrote {out}")
    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
