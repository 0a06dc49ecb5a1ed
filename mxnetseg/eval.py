"""Evaluate a checkpoint: ``python mxnetseg/eval.py --model fcn --backbone resnet18
--checkpoint X.pth --ctx 0 --data cityscapes --crop 768 --base 2048 --mode val --ms``.

Modes (as the original): ``val`` scores the val split at full resolution (pixel accuracy, mIoU,
per-class IoU); ``testval`` writes colour predictions of the val split; ``test`` writes colour
predictions of the test split (and, for Cityscapes, labelId PNGs for the test server).
A checkpoint written by our trainer carries its config, so ``--checkpoint X.pth`` is enough: its
model and geometry keys decide (a flag or ``--config`` that disagrees is an error naming both
values); a ``--config`` fills only the data keys the checkpoint lacks; ``--data``/``--data-root``
say where the data is. An original MXNet ``.params`` file (recognised by content) loads
through the model's name map; it carries no config, so give --model/--backbone/--data/--dilate
(and --aux if it has aux heads) as it was trained.

``--ctx 0 1 2 3`` (or torchrun) evaluates with one process per GPU: the images are shared out,
the confusion matrices summed, so the metrics equal one process's; ``--procs N`` does the same
with N CPU processes. ``--ms --scales ...`` replaces the dataset's scale set.

``--purpose speed`` (the original's) times forward passes of a random --size input instead
(the checkpoint is optional then: --model/--backbone suffice); ``python -m mxnetseg bench`` is
the same code with more options.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a plain script, like the original's eval.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "mxnetseg"

from mxnetseg.cli import check_gpus, fail, run_cli, split_ctx   # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mxnetseg-eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--purpose", default="score", choices=("score", "speed"),
                   help="score a split (default), or time the model on a random input")
    p.add_argument("--checkpoint",
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
    p.add_argument("--ctx", nargs="*", default=None, metavar="GPU",
                   help="GPU ids: one process each, the images shared out (torchrun works too)")
    p.add_argument("--data", help="dataset name (default for a zoo name: its dataset)")
    p.add_argument("--data-root", help="folder holding the dataset folders")
    p.add_argument("--crop", type=int, help="crop (window) size")
    p.add_argument("--base", type=int, help="base size")
    p.add_argument("--mode", default="val", choices=("val", "testval", "test"))
    p.add_argument("--ms", action="store_true", help="multi-scale + flip, the original's scales")
    p.add_argument("--scales", nargs="+", type=_scale, metavar="S",
                   help="with --ms: these scales instead of the dataset's (config eval_scales)")
    p.add_argument("--window-batch", type=int, default=None, metavar="N",
                   help="sliding windows per forward, all scales together (default 16 on a "
                   "GPU, 8 on the CPU; halved on a GPU out-of-memory error)")
    p.add_argument("--procs", type=int, default=1, metavar="N",
                   help="without --ctx: N CPU processes (gloo) share the images, as --ctx 0 1 "
                   "... does with one process per GPU")
    p.add_argument("--fusion", default="exp", choices=("exp", "softmax"),
                   help="how scales/flips are fused: exp of logits (original) or softmax mean")
    p.add_argument("--save-dir", help="where predictions go (default color_results/<data>/<mode>)")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="autocast dtype")
    p.add_argument("--json", help="also write the metrics (and class names) to this JSON file")
    p.add_argument("--plots", metavar="DIR", help="mode val: write class_iou.png, confusion.png "
                   "and samples.png here (needs matplotlib: pip install 'mxnetseg[plots]')")
    p.add_argument("--samples", type=int, default=4, metavar="N",
                   help="val images in samples.png (default 4)")
    p.add_argument("--force", action="store_true",
                   help="overwrite predictions / a metrics file an earlier run wrote")
    from mxnetseg.bench import add_speed_args
    add_speed_args(p.add_argument_group("--purpose speed"), size=(480, 480))
    return p.parse_args(argv)


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number (a scale such as "
                                         f"0.75)")
    return value


# The checkpoint's own config decides these: a flag or --config that disagrees is an error.
MODEL_KEYS = ("model_name", "backbone", "dilate", "aux", "norm_layer", "output_stride",
              "model_kwargs", "crop_size", "base_size")
# These say where the data is: a --config fills only what the checkpoint lacks; flags win.
DATA_KEYS = ("data_name", "data_root", "val_split", "data_kwargs")
# Evaluation settings: a --config replaces the checkpoint's (the --scales flag wins over both).
EVAL_KEYS = ("eval_scales",)
FLAGS = {"model_name": "--model", "backbone": "--backbone", "dilate": "--dilate",
         "aux": "--aux", "norm_layer": "--norm-layer", "crop_size": "--crop",
         "base_size": "--base", "data_name": "--data", "data_root": "--data-root"}


def _same(key, a, b) -> bool:
    if key == "model_name":
        from mxnetseg.models import canonical_name
        return canonical_name(a) == canonical_name(b)
    if key == "norm_layer":   # BN and SyncBN are the same layer at evaluation
        return {"syncbn": "bn"}.get(str(a).lower(), str(a).lower()) == \
            {"syncbn": "bn"}.get(str(b).lower(), str(b).lower())
    return a == b


def _config_for(args):
    """The evaluation config: the checkpoint's own (ours carry it), completed by --config and
    flags, never silently replaced by them."""
    from mxnetseg.config import load_config, read_config_keys
    from mxnetseg.tools.checkpoint import is_mxnet_params, load_checkpoint
    mxnet = is_mxnet_params(args.checkpoint)    # the original's .params: no config inside
    ckpt = {} if mxnet else load_checkpoint(args.checkpoint)
    saved = ckpt.get("config") if isinstance(ckpt, dict) else None
    base = dict(saved or {})
    given = read_config_keys(args.config) if args.config else {}
    data = args.data
    if data is None and args.model and not (saved or {}).get("data_name"):
        from mxnetseg.models import is_zoo_name, zoo_spec   # a GluonCV zoo name knows its data
        data = zoo_spec(args.model).dataset if is_zoo_name(args.model) else None
    flags = {"model_name": args.model, "backbone": args.backbone, "dilate": args.dilate,
             "aux": args.aux, "norm_layer": args.norm_layer, "data_name": data,
             "crop_size": args.crop, "base_size": args.base, "data_root": args.data_root}
    flags = {k: v for k, v in flags.items() if v is not None}
    if saved:
        for key in MODEL_KEYS:
            for source, value in ((f"{args.config} sets {key}", given.get(key, None)),
                                  (f"{FLAGS.get(key)}", flags.get(key))):
                if value is not None and key in saved and not _same(key, value, saved[key]):
                    fail(f"{source} = {value!r}, but checkpoint {args.checkpoint} was trained "
                         f"with {key} = {saved[key]!r}; its config decides the model and its "
                         f"geometry: drop the disagreeing value (or use the right checkpoint)")
        for key in DATA_KEYS:
            if key in given and base.get(key) in (None, {}, ""):
                base[key] = given[key]
    else:
        base.update({k: v for k, v in given.items() if k in MODEL_KEYS + DATA_KEYS})
    base.update({k: given[k] for k in EVAL_KEYS if k in given})
    base.update(flags)
    if args.dilate is not None and not saved:
        base["output_stride"] = None
    if not saved and not (base.get("model_name") and base.get("data_name")):
        kind = " is an MXNet .params file and" if mxnet else ""
        fail(f"{args.checkpoint}{kind} carries no config: pass --model, --backbone, --data "
             f"(and --dilate/--aux as it was trained) or --config")
    base.setdefault("backbone", "resnet50")
    base["backbone_init"] = {"manner": None}
    return load_config(None, base), ckpt.get("nclass") if isinstance(ckpt, dict) else None


def _free_target(path: Path, force: bool, what: str) -> None:
    """Refuse to overwrite what a previous invocation wrote, unless --force."""
    if force or not path.exists():
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    fail(f"{path} already holds {what} from an earlier run; pass --force to overwrite it, or "
         f"choose another {'--save-dir' if path.is_dir() else '--json file'}")


def _check_plots(folder: Path, mode: str, samples: int, force: bool) -> None:
    """Before a long evaluation: plots only score mode val, need matplotlib, and never
    overwrite an earlier run's pictures without --force."""
    from mxnetseg.tools.plots import MissingPackageError, require_matplotlib
    if mode != "val":
        fail(f"--plots draws scores, which only --mode val computes (got --mode {mode})")
    if samples < 0:
        fail(f"--samples must be >= 0, got {samples}")
    try:
        require_matplotlib()
    except MissingPackageError as err:
        fail(str(err))
    if not force and any((folder / n).exists()
                         for n in ("class_iou.png", "confusion.png", "samples.png")):
        fail(f"{folder} already holds plots from an earlier run; pass --force to overwrite "
             f"them, or choose another --plots folder")


def _output_dir(cfg, mode, ms, save_dir) -> Path:
    # single- and multi-scale predictions never share a folder
    return Path(save_dir or Path("color_results") / cfg.data_name.lower()
                / (mode + ("_ms" if ms else "")))


def _check_targets(cfg, mode, ms, save_dir, json_path, force, plots, samples):
    """Before any work: never overwrite an earlier run's metrics, plots or predictions."""
    if json_path:
        _free_target(Path(json_path), force, "metrics")
    if plots:
        _check_plots(Path(plots), mode, samples, force)
    if mode != "val":
        _free_target(_output_dir(cfg, mode, ms, save_dir), force, "predictions")


def _dataset(cfg, mode):
    from mxnetseg.data import get_dataset
    split = {"val": cfg.val_split, "testval": cfg.val_split, "test": "test"}[mode]
    data_mode = "testval" if mode == "val" else "test"
    return split, get_dataset(cfg.data_name, split=split, mode=data_mode,
                              crop_size=cfg.crop_size, base_size=cfg.base_size,
                              data_root=cfg.data_root, **cfg.data_kwargs)


def evaluate_checkpoint(checkpoint, cfg, ctx=None, mode="val", ms=False, fusion="exp",
                        save_dir=None, amp=None, json_path=None, force=False, plots=None,
                        samples=4, scales=None, window_batch=None, optimize=True):
    """Evaluate ``checkpoint`` with the model/data keys of ``cfg`` in this process (the first
    GPU of ``ctx``, or the CPU); prints and returns metrics (mode val) or the written
    prediction files (testval/test). ``scales`` (else ``cfg.eval_scales``) replaces the
    dataset's --ms scales; ``window_batch``: windows per forward; ``optimize``: through
    :func:`~mxnetseg.tools.inference.optimize_for_inference` (same scores in fp32)."""
    _check_targets(cfg, mode, ms, save_dir, json_path, force, plots, samples)
    import torch
    device = torch.device("cuda", ctx[0]) if ctx else torch.device("cpu")
    return _evaluate(checkpoint, cfg, device, mode, ms, fusion, save_dir, amp, json_path,
                     plots, samples, scales, window_batch, optimize)


def _evaluate(checkpoint, cfg, device, mode, ms, fusion, save_dir, amp, json_path, plots,
              samples, scales, window_batch, optimize=True, rank=0, world=1):
    """The evaluation itself; with ``world`` > 1 this process takes its share of the images
    and only rank 0 prints and writes the metrics (every process gets them)."""
    from mxnetseg.models.build import build_model
    from mxnetseg.tools.checkpoint import load_model_weights
    from mxnetseg.tools.evaluator import Evaluator, eval_scales

    split, dataset = _dataset(cfg, mode)
    model = build_model(cfg, dataset.num_class)
    load_model_weights(model, checkpoint)
    model.to(device).eval()
    if optimize:
        from mxnetseg.tools.inference import optimize_for_inference
        model = optimize_for_inference(model, (1, 3, cfg.crop_size, cfg.crop_size),
                                       device=device, amp=amp)
    scales, flip = eval_scales(cfg.data_name, ms, cfg.eval_scales if scales is None else scales)
    evaluator = Evaluator(model, dataset, nclass=dataset.num_class, crop_size=cfg.crop_size,
                          base_size=cfg.base_size, scales=scales, flip=flip, device=device,
                          amp=amp, fusion=fusion, window_batch=window_batch, rank=rank,
                          world=world)
    is_main = rank == 0
    if mode == "val":
        metrics = evaluator.run_val(keep=samples if plots and is_main else 0)
        metrics["classes"] = list(dataset.classes)
        if not is_main:
            return metrics
        print(evaluator.metric.table(dataset.classes))
        if plots:
            from mxnetseg.tools.plots import denormalize, plot_eval
            triples = [(denormalize(i), lab.numpy(), p.numpy()) for i, lab, p in evaluator.samples]
            for path in plot_eval(plots, evaluator.metric.confusion, metrics["IoU"],
                                  dataset.classes, triples, dataset.palette,
                                  title=f"{cfg.model_name} {cfg.data_name} {split}"):
                print(f"wrote {path}")
        print(f"{cfg.data_name} {split}: pixAcc {metrics['pixAcc']:.4f}  "
              f"mIoU {metrics['mIoU']:.4f}  (scales {list(scales)}, flip {flip}"
              + (f", {world} processes)" if world > 1 else ")"))
        if json_path:
            from mxnetseg.tools.logging import json_safe
            tmp = Path(json_path).with_name(Path(json_path).name + ".tmp")
            tmp.write_text(json.dumps(json_safe(metrics), indent=2, allow_nan=False))
            tmp.replace(json_path)
        return metrics
    out = _output_dir(cfg, mode, ms, save_dir)
    also = []
    if mode == "test" and cfg.data_name.lower() == "cityscapes":
        # labelIds for the test server, from the same inference as the colour images
        from mxnetseg.data.cityscapes import train_id_to_label_id
        also.append((out / "submission", train_id_to_label_id))
    files = evaluator.run_predict(out, dataset.palette, also=also)
    if is_main:
        print(f"wrote {len(files)} prediction PNGs under {out}")
    return files


def _eval_worker(checkpoint, cfg, options, ctx=None, local_index=0):
    """One process of a multi-GPU (``--ctx 0 1 ...``), torchrun or ``--procs N`` evaluation."""
    import torch
    from mxnetseg.tools.distributed import cleanup, init_distributed
    info = init_distributed(ctx, local_index)
    if info.device.type == "cpu" and info.world > 1:   # CPU processes share the cores
        torch.set_num_threads(max(1, torch.get_num_threads() // info.world))
    try:
        rc = run_cli(lambda: _evaluate(checkpoint, cfg, info.device, **options,
                                       rank=info.rank, world=info.world))
    finally:
        cleanup()
    if rc:
        raise SystemExit(rc)


def speed(args):
    """The original's ``--purpose speed``: warm-up, then timed forward passes of a random input."""
    from mxnetseg.bench import check_speed_args, speed_options
    from mxnetseg.tools.benchmark import benchmark, summary_line
    from mxnetseg.tools.model_source import resolve_model
    check_speed_args(args)
    if args.json:
        _free_target(Path(args.json), args.force, "speed results")
    if not (args.checkpoint or args.model):
        fail("--purpose speed needs --model (and --backbone) or --checkpoint")
    nclass = None
    if args.data and not args.checkpoint:
        from mxnetseg.data import get_dataset_class
        nclass = get_dataset_class(args.data).NUM_CLASS
    model, label = resolve_model(checkpoint=args.checkpoint, model=args.model,
                                 backbone=args.backbone, nclass=nclass, aux=args.aux,
                                 dilate=args.dilate, size=args.size, weights=False)
    device = f"cuda:{args.ctx[0]}" if args.ctx else "cpu"
    result = {"model": label, **benchmark(model, **speed_options(args, device))}
    print(summary_line(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


def main(argv=None):
    args = parse_args(argv)

    def go():
        args.ctx, extra = split_ctx(args.ctx)
        if extra:
            fail(f"eval takes no key=value overrides (got {' '.join(extra)}); use flags or --config")
        check_gpus(args.ctx)
        if args.purpose == "speed":
            return speed(args)
        if not args.checkpoint:
            fail("--checkpoint is required to score (--purpose speed times a model without one)")
        cfg, _ = _config_for(args)
        if args.scales and not args.ms:
            fail("--scales sets the scales of multi-scale evaluation: add --ms (flip included)")
        if args.window_batch is not None and args.window_batch < 1:
            fail(f"--window-batch must be >= 1, got {args.window_batch}")
        if args.procs < 1 or (args.procs > 1 and args.ctx):
            fail(f"--procs {args.procs}: CPU processes (>= 1) are for runs without --ctx; "
                 f"with GPUs, --ctx 0 1 ... starts one process per GPU")
        _check_targets(cfg, args.mode, args.ms, args.save_dir, args.json, args.force,
                       args.plots, args.samples)
        options = dict(mode=args.mode, ms=args.ms, fusion=args.fusion, save_dir=args.save_dir,
                       amp=args.amp, json_path=args.json, plots=args.plots,
                       samples=args.samples, scales=args.scales, window_batch=args.window_batch,
                       optimize=args.optimize)
        from mxnetseg.tools.distributed import launch, under_torchrun
        if len(args.ctx or []) > 1 or args.procs > 1 or under_torchrun():
            _dataset(cfg, args.mode)   # a data error shows once, before processes start
            return launch(_eval_worker, args.ctx, args.checkpoint, cfg, options,
                          cpu_procs=args.procs)
        import torch
        device = torch.device("cuda", args.ctx[0]) if args.ctx else torch.device("cpu")
        _evaluate(args.checkpoint, cfg, device, **options)
    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
