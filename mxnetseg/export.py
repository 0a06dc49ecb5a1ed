"""Export a model to ONNX, then check the file in onnxruntime against PyTorch.

    python -m mxnetseg export --checkpoint run/best.pth --out model.onnx --size 512 1024
    python -m mxnetseg export --model psp_resnet101_citys --out psp.onnx --size 480 480
    python -m mxnetseg export --model BiSeNetR --backbone resnet18 --nclass 19 --out b.onnx \
        --dynamic --opset 17          # random weights: for trying the exporter

The file's input ``image`` is (N, 3, H, W) float32, normalised as for training; its output
``logits`` (N, nclass, H, W) is the model's main output. After writing, the file runs in
onnxruntime on a random input; the command fails when the largest difference to PyTorch exceeds
1e-4 of the largest PyTorch output. Needs ``pip install 'mxnetseg[export]'``. A model whose
operator ONNX cannot express (FaPN's deformable convolution) fails with a message naming it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a plain script, like train.py / eval.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "mxnetseg"

from mxnetseg.cli import add_model_source_args, fail, run_cli   # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mxnetseg-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_source_args(p, "GluonCV zoo name (alone: its published weights), or a registered "
                             "model name (alone: random weights); aux heads are never exported")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--size", type=int, nargs=2, default=[512, 512], metavar=("H", "W"),
                   help="input height and width traced (default 512 512)")
    p.add_argument("--batch", type=int, default=1, help="batch size traced (default 1)")
    p.add_argument("--dynamic", action="store_true", help="batch, height and width free")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime check")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    return p.parse_args(argv)


def export(args) -> dict:
    from mxnetseg.tools.model_source import resolve_model
    from mxnetseg.tools.onnx_export import DEFAULT_OPSET, ExportError, export_onnx
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".onnx":
        fail(f"--out {args.out}: give a file name ending in .onnx")
    if out.exists() and not args.force:
        fail(f"--out {out} already exists; pass --force to overwrite it or choose another --out")
    if not out.parent.is_dir():
        fail(f"--out {args.out}: folder {out.parent} does not exist")
    if min(args.size) < 1 or args.batch < 1:
        fail(f"--size must be positive and --batch >= 1 (got --size {args.size[0]} "
             f"{args.size[1]}, --batch {args.batch})")
    opset = args.opset or DEFAULT_OPSET
    if not 9 <= opset <= 20:
        fail(f"--opset {opset}: the TorchScript exporter writes opsets 9 to 20")
    if not (args.checkpoint or args.model):
        fail("give --checkpoint, a GluonCV zoo name as --model, or --model/--backbone")
    model, label = resolve_model(checkpoint=args.checkpoint, model=args.model,
                                 backbone=args.backbone, nclass=args.nclass, aux=args.aux,
                                 dilate=args.dilate, size=args.size, weights=True)
    from mxnetseg.models import is_zoo_name
    if not args.checkpoint and not is_zoo_name(args.model):
        print(f"note: {label} has random weights (no --checkpoint): the file is for trying "
              f"the exporter", file=sys.stderr)
    try:
        report = export_onnx(model, out, size=tuple(args.size), batch=args.batch,
                             dynamic=args.dynamic, opset=opset, check=not args.no_check,
                             name=label)
    except ExportError as err:
        fail(str(err))
    report["model"] = label
    if args.json:
        print(json.dumps(report))
    else:
        check = (f"; onnxruntime vs PyTorch: max abs diff {report['max_abs_diff']:.3g} "
                 f"(relative {report['rel_diff']:.3g})" if "max_abs_diff" in report else
                 "; not checked")
        print(f"wrote {out} ({label}, opset {opset}"
              f"{', dynamic batch/height/width' if args.dynamic else ''}, "
              f"{args.size[0]}x{args.size[1]}){check}")
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: export(args))


if __name__ == "__main__":
    sys.exit(main())
