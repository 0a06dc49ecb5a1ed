"""Fetch GluonCV's published segmentation weights into the local cache.

    python -m mxnetseg download psp_resnet101_citys [--dir D]
    python -m mxnetseg download --list

The file is checked against the sha1 GluonCV recorded, written into the cache in one rename
(``$MXNETSEG_HOME``, default ``~/.cache/mxnetseg``) and its path printed. A file already cached
with the right sha1 is not downloaded again. ``$MXNETSEG_REPO`` points at a mirror.
"""
from __future__ import annotations

import argparse
import sys

from mxnetseg.cli import run_cli


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m mxnetseg download", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", help="GluonCV zoo name(s)")
    p.add_argument("--dir", help="cache folder (default $MXNETSEG_HOME or ~/.cache/mxnetseg)")
    p.add_argument("--list", action="store_true", help="list the names with weights and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if not args.names and not args.list:
        p.error("give a NAME (see --list)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    def go():
        from mxnetseg.models.model_store import MODEL_SHA1, cached_file, get_model_file
        if args.list:
            for name in MODEL_SHA1:
                mark = "  (cached)" if cached_file(name, args.dir) else ""
                print(f"{name}{mark}")
            return
        for name in args.names:
            print(get_model_file(name, args.dir, progress=not args.quiet))
    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
