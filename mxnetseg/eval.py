"""Evaluate a checkpoint: ``python mxnetseg/eval.py --model fcn --backbone resnet18
--checkpoint X.pth --ctx 0 --data cityscapes --crop 768 --base 2048 --mode val --ms``.

Modes (as the original): ``val`` scores the val split at full resolution (pixel accuracy, mIoU,
per-class IoU); ``testval`` writes colour predictions of the val split; ``test`` writes colour
predictions of the test split (and, for Cityscapes, labelId PNGs for the test server).
A checkpoint written by our trainer carries its config, so ``--checkpoint X.pth --data D`` is
enough; flags override it. An original MXNet ``.params`` file (recognised by content) loads
through the model's name map; it carries no config, so give --model/--backbone/--data/--dilate
(and --aux if it has aux heads) as it was trained.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a plain script, like the original's eval.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "mxnetseg"

from mxnetseg.cli import fail, run_cli   # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mxnetseg-eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint: ours (.pth) or the original's MXNet .params")
    p.add_argument("--config", help="YAML config giving model/data keys (optional)")
    p.add_argument("--model", help="model name or GluonCV zoo name, e.g. psp_resnet101_citys "
                   "(default: from the checkpoint/config)")
    p.add_argument("--backbone", help="backbone name")
    p.add_argument("--dilate", action=argparse.BooleanOptionalAction, default=None,
                   help="output stride 8 (--dilate) or 32 (--no-dilate)")
    p.add_argument("--aux", action=argparse.BooleanOptionalAction, default=None,
                   help="the checkpoint has aux heads")
    p.add_argument("--norm-layer", default=None, help="BN | SyncBN | GN")
    p.add_argument("--ctx", type=int, nargs="*", default=None, help="GPU id (first one is used)")
    p.add_argument("--data", help="dataset name (default for a zoo name: its dataset)")
    p.add_argument("--data-root", help="folder holding the dataset folders")
    p.add_argument("--crop", type=int, help="crop (window) size")
    p.add_argument("--base", type=int, help="base size")
    p.add_argument("--mode", default="val", choices=("val", "testval", "test"))
    p.add_argument("--ms", action="store_true", help="multi-scale + flip, the original's scales")
    p.add_argument("--fusion", default="exp", choices=("exp", "softmax"),
                   help="how scales/flips are fused: exp of logits (original) or softmax mean")
    p.add_argument("--save-dir", help="where predictions go (default color_results/<data>/<mode>)")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="autocast dtype")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    return p.parse_args(argv)


def _config_for(args):
    from mxnetseg.config import load_config
    from mxnetseg.tools.checkpoint import is_mxnet_params, load_checkpoint
    mxnet = is_mxnet_params(args.checkpoint)    # the original's .params: no config inside
    ckpt = {} if mxnet else load_checkpoint(args.checkpoint)
    saved = ckpt.get("config") if isinstance(ckpt, dict) else None
    base = {k: v for k, v in (saved or {}).items()}
    if args.config:
        cfg = load_config(args.config, check_names=False)
        base.update({k: v for k, v in cfg.to_dict().items()
                     if k in ("model_name", "backbone", "dilate", "aux", "norm_layer",
                              "output_stride", "model_kwargs", "data_name", "crop_size",
                              "base_size", "data_root", "val_split",
                              "data_kwargs")})
    data = args.data
    if data is None and args.model:   # a GluonCV zoo name knows its dataset
        from mxnetseg.models import is_zoo_name, zoo_spec
        data = zoo_spec(args.model).dataset if is_zoo_name(args.model) else None
    over = {"model_name": args.model, "backbone": args.backbone, "dilate": args.dilate,
            "aux": args.aux, "norm_layer": args.norm_layer, "data_name": data,
            "crop_size": args.crop, "base_size": args.base, "data_root": args.data_root}
    base.update({k: v for k, v in over.items() if v is not None})
    if args.dilate is not None:
        base["output_stride"] = None
    if not saved and not args.config and not (args.model and data):
        kind = " is an MXNet .params file and" if mxnet else ""
        fail(f"{args.checkpoint}{kind} carries no config: pass --model, --backbone, --data "
             f"(and --dilate/--aux as it was trained) or --config")
    base.setdefault("model_name", "FCNResNet")
    base.setdefault("backbone", "resnet50")
    base["backbone_init"] = {"manner": None}
    return load_config(None, base), ckpt.get("nclass") if isinstance(ckpt, dict) else None


def evaluate_checkpoint(checkpoint, cfg, ctx=None, mode="val", ms=False, fusion="exp",
                        save_dir=None, amp=None, json_path=None):
    """Evaluate ``checkpoint`` with the model/data keys of ``cfg``; prints and returns metrics
    (mode val) or the written prediction files (testval/test)."""
    import torch
    from mxnetseg.data import get_dataset
    from mxnetseg.tools.checkpoint import load_model_weights
    from mxnetseg.tools.evaluator import Evaluator, eval_scales
    from mxnetseg.models.build import build_model

    device = torch.device("cuda", ctx[0]) if ctx else torch.device("cpu")
    split = {"val": cfg.val_split, "testval": cfg.val_split, "test": "test"}[mode]
    data_mode = "testval" if mode == "val" else "test"
    dataset = get_dataset(cfg.data_name, split=split, mode=data_mode,
                          crop_size=cfg.crop_size, base_size=cfg.base_size,
                          data_root=cfg.data_root, **cfg.data_kwargs)
    model = build_model(cfg, dataset.num_class)
    load_model_weights(model, checkpoint)
    model.to(device).eval()
    scales, flip = eval_scales(cfg.data_name, ms)
    evaluator = Evaluator(model, dataset, nclass=dataset.num_class, crop_size=cfg.crop_size,
                          base_size=cfg.base_size, scales=scales, flip=flip, device=device,
                          amp=amp, fusion=fusion)
    if mode == "val":
        metrics = evaluator.run_val()
        print(evaluator.metric.table(dataset.classes))
        print(f"{cfg.data_name} {split}: pixAcc {metrics['pixAcc']:.4f}  "
              f"mIoU {metrics['mIoU']:.4f}  (scales {list(scales)}, flip {flip})")
        if json_path:
            Path(json_path).write_text(json.dumps(
                {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in metrics.items()},
                indent=2))
        return metrics
    out = Path(save_dir or Path("color_results") / cfg.data_name.lower() / mode)
    files = evaluator.run_predict(out, dataset.palette)
    if mode == "test" and cfg.data_name.lower() == "cityscapes":
        from mxnetseg.data.cityscapes import train_id_to_label_id
        files += evaluator.run_predict(out / "submission", None,
                                       label_transform=train_id_to_label_id, submission=True)
    print(f"wrote {len(files)} prediction PNGs under {out}")
    return files


def main(argv=None):
    args = parse_args(argv)

    def go():
        cfg, _ = _config_for(args)
        evaluate_checkpoint(args.checkpoint, cfg, args.ctx, args.mode, args.ms, args.fusion,
                            args.save_dir, args.amp, args.json)
    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
