"""Convert an original MXNetSeg ``.params`` file into a PyTorch checkpoint.

    python -m mxnetseg convert X.params out.pth --model fcn --backbone resnet50 --nclass 19 \
        --aux --dilate

The output is ``{"model": state_dict, "config": {...model keys...}, "nclass": N}``, so
``python -m mxnetseg eval --checkpoint out.pth --data ...`` needs no model options. The model
must have an MXNet name map (``mxnetseg.tools.mxnet_maps.MXNET_NAME_MAPS``); every parameter
must map and fit, or nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m mxnetseg convert",
                                description="MXNet .params (original MXNetSeg) -> PyTorch .pth")
    p.add_argument("params", help="MXNet .params file (Block.save_parameters / export)")
    p.add_argument("output", help="PyTorch checkpoint to write (.pth)")
    p.add_argument("--model", required=True, help="model name, e.g. fcn / FCNResNet")
    p.add_argument("--backbone", required=True, help="backbone, e.g. resnet50")
    p.add_argument("--nclass", type=int, required=True, help="number of classes")
    p.add_argument("--aux", action="store_true", help="the file has the aux head")
    p.add_argument("--dilate", action="store_true", help="dilated backbone (output stride 8)")
    p.add_argument("--norm-layer", default="BN", help="normalisation layer (default BN)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    return p.parse_args(argv)


def convert(params, output, model, backbone, nclass, aux=False, dilate=False, norm_layer="BN"):
    """Load ``params`` into the named model (strictly) and write the checkpoint; returns the
    output path."""
    from mxnetseg.models import canonical_name, create_model
    from mxnetseg.tools.checkpoint import load_model_weights, save_checkpoint
    name = canonical_name(model)
    net = create_model(name, nclass, backbone=backbone, aux=aux, dilate=dilate,
                       norm_layer=norm_layer, pretrained_base=False)
    load_model_weights(net, params)
    config = {"model_name": name, "backbone": backbone, "aux": bool(aux),
              "dilate": bool(dilate), "norm_layer": norm_layer, "output_stride": None}
    return save_checkpoint({"model": net.state_dict(), "config": config, "nclass": nclass},
                           output)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mxnetseg.tools.checkpoint import CheckpointError
    if Path(args.output).exists() and not args.force:
        print(f"error: {args.output} already exists; pass --force to overwrite it, or choose "
              f"another output path", file=sys.stderr)
        return 1
    try:
        out = convert(args.params, args.output, args.model, args.backbone, args.nclass,
                      args.aux, args.dilate, args.norm_layer)
    except (CheckpointError, FileNotFoundError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
