"""The training loop: one flat function you can read top to bottom.

Data order and augmentation depend only on (seed, epoch, sample index), never on worker or
process count, so a run resumed mid-epoch, or split over N processes with the same global
batch, sees exactly the same samples as an uninterrupted single-process run.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import Config, ConfigError
from ..data import IGNORE_INDEX, DataError, get_dataset
from ..data.base import single_thread_opencv_for_workers
from ..data.preflight import preflight
from ..data.transforms import normalize_batch
from ..models import canonical_name, count_parameters
from ..models.batchnorm import convert_sync_batchnorm
from ..models.build import build_model
from .checkpoint import (load_model_weights, non_finite_tensors, rng_state, save_checkpoint,
                         set_rng_state)
from .distributed import DistInfo, cleanup, init_distributed
from .logging import RunLogger, claim_run_name
from .losses import build_criterion
from .metrics import SegmentationMetric
from .runguard import (StopSignals, TrainingDiverged, TrainingInterrupted, TrainingStopped,
                       own_message)
from .samplers import TrainBatchSampler, shard_indices
from .schedulers import build_scheduler

__all__ = ["train", "build_model", "run_name"]

TB_SAMPLES = 4   # val predictions shown in TensorBoard each epoch (tensorboard: true)


def run_name(cfg: Config, stamp: str) -> str:
    """The original's checkpoint stem: model_backbone_data_YYYYmmdd_HHMMSS (lower case)."""
    return f"{canonical_name(cfg.model_name)}_{cfg.backbone}_{cfg.data_name}_{stamp}".lower()


def _param_groups(model, cfg):
    """Backbone at lr; everything else (heads) at lr * lr_mult. Weight decay on every parameter,
    BN and biases included, as the original."""
    backbone = {id(p) for p in model.backbone.parameters()} if hasattr(model, "backbone") else set()
    base = [p for p in model.parameters() if id(p) in backbone and p.requires_grad]
    head = [p for p in model.parameters() if id(p) not in backbone and p.requires_grad]
    groups = [{"params": base, "lr": cfg.lr}, {"params": head, "lr": cfg.lr * cfg.lr_mult}]
    return [g for g in groups if g["params"]]


def _optimizer(params, cfg):
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.wd,
                                betas=(cfg.adam.adam_beta1, cfg.adam.adam_beta2))
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.wd,
                           nesterov=cfg.optimizer == "nag")


def _autocast(cfg, device):
    if cfg.amp is None:
        return contextlib.nullcontext()
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ConfigError("amp: fp16 needs a GPU; use amp: bf16 on the CPU")
    dtype = torch.float16 if cfg.amp == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def _resolve_resume(cfg) -> Path:
    path = Path(cfg.resume)
    if not path.is_file():   # the original looks in weights/<model>/
        alt = Path(cfg.ckpt_dir) / canonical_name(cfg.model_name).lower() / cfg.resume
        if alt.is_file():
            return alt
        raise FileNotFoundError(f"resume: checkpoint {cfg.resume!r} not found (also looked "
                                f"for {str(alt)!r})")
    return path


def _worker_init(_):
    # Ctrl-C reaches the whole process group: the main process handles it (it saves a
    # checkpoint, then shuts the workers down). SIGTERM keeps its default: it is how the
    # workers are stopped at exit.
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # one torch thread per worker (OpenCV's one comes from the main process, see _loader)
    torch.set_num_threads(1)


def _loader(dataset, batch_sampler, cfg, seed):
    if cfg.workers:
        single_thread_opencv_for_workers()
    gen = torch.Generator()
    gen.manual_seed(seed)   # own generator: loader start-up never draws from the global RNG
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=cfg.workers,
                      pin_memory=torch.cuda.is_available(), generator=gen,
                      worker_init_fn=_worker_init if cfg.workers else None)


@torch.inference_mode()
def validate(model, loader, criterion, nclass, dinfo, cfg, show=True, samples=None, keep=0):
    """Val metrics; the first ``keep`` (image, label, prediction) triples of this rank go on
    the ``samples`` list (CPU tensors), for pictures."""
    model.eval()
    metric = SegmentationMetric(nclass, IGNORE_INDEX, device=dinfo.device)
    # the original's val_loss is GluonCV's value (per-image mean over all pixels) under any
    # loss_norm; this twin computes it per process batch, with no groups and no collectives
    reported = criterion.local_twin()
    loss_sum = torch.zeros((), device=dinfo.device)
    batches = torch.zeros((), device=dinfo.device)
    for image, label in tqdm(loader, desc="val", leave=False, disable=not show):
        image, label = image.to(dinfo.device), label.to(dinfo.device)
        if cfg.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        with _autocast(cfg, dinfo.device):
            outputs = model(image)
        loss_sum += reported.both(outputs, label)[1]
        batches += 1
        metric.update(label, outputs[0].float())
        if samples is not None and len(samples) < keep:
            preds = outputs[0].argmax(dim=1)
            for i in range(min(keep - len(samples), len(image))):
                samples.append((image[i].float().cpu(), label[i].cpu(), preds[i].cpu()))
    metric.all_reduce()
    if dinfo.world > 1:
        stats = torch.stack([loss_sum, batches])
        dist.all_reduce(stats)
        loss_sum, batches = stats[0], stats[1]
    pa, miou = metric.get()
    return {"val_PA": float(pa), "val_mIoU": float(miou),
            "val_loss": float(loss_sum / batches.clamp_min(1))}


def train(cfg: Config, ctx=None, local_index: int = 0, log_interval=None) -> dict:
    """Train (and validate each epoch) as ``cfg`` says. Returns a summary dict on rank 0."""
    dinfo: DistInfo = init_distributed(ctx, local_index)
    try:
        return _train(cfg, dinfo, log_interval or cfg.log_interval)
    finally:
        cleanup()


def _train(cfg: Config, dinfo: DistInfo, log_interval: int) -> dict:
    device, world = dinfo.device, dinfo.world
    torch.manual_seed(cfg.seed + dinfo.rank)   # dropout differs per rank; params are broadcast
    if cfg.bs_train % world or cfg.bs_val % world:
        raise ConfigError(f"bs_train ({cfg.bs_train}) and bs_val ({cfg.bs_val}) are global batch "
                         f"sizes and must divide evenly over {world} processes")

    # ---- data
    kw = dict(crop_size=cfg.crop_size, base_size=cfg.base_size, seed=cfg.seed,
              data_root=cfg.data_root, **cfg.data_kwargs)
    train_set = get_dataset(cfg.data_name, split=cfg.train_split, mode="train", **kw)
    train_set.set_output("uint8")   # normalised on the device: a quarter of the bytes moved
    val_set = get_dataset(cfg.data_name, split=cfg.val_split, mode="val", **kw) if cfg.val else None
    nclass = train_set.num_class
    checked = []
    if cfg.preflight and dinfo.main:   # most bad data fails here, in seconds, not hours in
        for ds in (train_set, val_set):
            if ds is not None:
                n, seconds = preflight(ds)
                checked.append(f"{ds.split}: {n} pairs in {seconds:.1f} s")
    sampler = TrainBatchSampler(len(train_set), cfg.bs_train, world, dinfo.rank, cfg.seed)
    iters_per_epoch = len(sampler)
    if iters_per_epoch == 0:
        raise ConfigError(f"the {cfg.train_split!r} split has {len(train_set)} samples, fewer "
                         f"than one batch (bs_train={cfg.bs_train}); lower bs_train")

    # ---- model, optimiser, schedule
    model = build_model(cfg, nclass)
    if cfg.norm_layer.lower() == "syncbn" and world > 1:
        model = convert_sync_batchnorm(model)   # keeps bn_momentum_rule and timm's BN-act
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(_param_groups(model, cfg), cfg)
    scheduler = build_scheduler(optimizer, cfg, iters_per_epoch)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    criterion = build_criterion(cfg.criterion, cfg.aux_weight, IGNORE_INDEX, cfg.loss_norm, nclass,
                                cfg.original_gpus)

    start_epoch, step, best = 0, 0, -1.0
    stamp = time.strftime("%Y%m%d_%H%M%S")
    name = None
    ckpt_dir = Path(cfg.ckpt_dir) / canonical_name(cfg.model_name).lower()
    if cfg.resume:
        # one error listing every mismatch when the file is another model's
        ckpt = load_model_weights(model, _resolve_resume(cfg))
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        step, best = ckpt["step"], ckpt["best"]
        start_epoch = step // iters_per_epoch
        stamp = ckpt.get("stamp", stamp)
        name = ckpt.get("run_name")   # a resumed run keeps its files
        set_rng_state(ckpt["rng"][dinfo.rank] if dinfo.rank < len(ckpt["rng"]) else ckpt["rng"][0])
    if name is None:
        # create-exclusive: runs started in the same second get _1, _2, ... suffixes
        names = [claim_run_name(ckpt_dir, run_name(cfg, stamp)) if dinfo.main else None]
        if world > 1:
            dist.broadcast_object_list(names, src=0)
        name = names[0]
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    last_path, best_path = ckpt_dir / f"{name}.pth", ckpt_dir / f"{name}_best.pth"
    logger = RunLogger(cfg, dinfo, name, ckpt_dir, extra={
        "ctx": str(device), "world_size": world, "num_train": len(train_set),
        "num_valid": len(val_set) if val_set else 0, "criterion": criterion.describe(),
        "start_time": stamp, "params_all": count_parameters(model, "all")})
    saved = {"last": str(last_path) if cfg.resume and last_path.is_file() else None}
    if checked:
        logger.info("pre-flight: file headers fine (" + "; ".join(checked) + ")")
    for ds in (train_set, val_set):   # what a split's name does not say (CamVid's val = test)
        for note in getattr(ds, "notes", ()) if ds is not None else ():
            logger.info(note)

    def checkpoint(path, collective=True):
        """Save the run's state; ``collective=False`` from a rank that failed alone (the
        weights are equal on every rank; its own RNG state stands in for all)."""
        bad = non_finite_tensors(model.state_dict())
        if bad:   # finite losses can still blow up weights or BN statistics
            raise _diverged(cfg, step, 0, None, saved["last"], bad)
        states = [None] * world
        if world > 1 and collective:
            dist.all_gather_object(states, rng_state())
        else:
            states = [rng_state()] * world
        if dinfo.main or not collective:
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                             "epoch": step // iters_per_epoch, "step": step, "best": best,
                             "rng": states, "stamp": stamp, "run_name": name,
                             "config": cfg.to_dict(), "nclass": nclass}, path)
            if path == last_path:
                saved["last"] = str(path)

    def global_mean(values) -> list:
        """The processes' mean of each on-device sum (one all-reduce): every process holds an
        equal share of the global batch, so this is the global batch's value."""
        if world > 1:
            values = values.clone()
            dist.all_reduce(values)
            values /= world
        return values.tolist()

    def agreed(value: int) -> int:
        """``value`` maxed over all processes (one small all-reduce); as is on one process."""
        if world == 1:
            return value
        t = torch.tensor([value], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    val_loader = None
    if val_set is not None:
        val_idx = shard_indices(len(val_set), world, dinfo.rank)
        batches = [val_idx[i:i + cfg.bs_val // world]
                   for i in range(0, len(val_idx), cfg.bs_val // world)]
        val_loader = _loader(val_set, batches, cfg, cfg.seed)

    total = cfg.epochs * iters_per_epoch
    result = {"best_mIoU": best, "checkpoint": str(last_path), "best_checkpoint": None,
              "log": str(logger.path) if dinfo.main else None}
    stop = False
    bad_steps = 0   # non-finite steps in a row (skipped batches, or fp16 steps the scaler dropped)
    signals = StopSignals()
    try:
        with signals:
            for epoch in range(start_epoch, cfg.epochs):
                net.train()
                train_set.set_epoch(epoch)
                sampler.set_epoch(epoch, start=step - epoch * iters_per_epoch)
                loader = _loader(train_set, sampler, cfg, cfg.seed + epoch)
                # on-device sums [loss since last log, loss this epoch, GluonCV's value this
                # epoch]; all-reduced only when logged, so the log shows the global batch's
                sums = torch.zeros(3, device=device)
                n_run = n_epoch = 0
                bar = tqdm(loader, total=len(sampler), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                           disable=not dinfo.main, leave=False)
                for image, label in bar:
                    image = normalize_batch(image.to(device, non_blocking=True), train_set.MEAN,
                                            train_set.STD, cfg.channels_last)
                    label = label.to(device, non_blocking=True)
                    if cfg.channels_last:
                        image = image.contiguous(memory_format=torch.channels_last)
                    counts = criterion.global_counts(label, world, dinfo.rank)
                    with _autocast(cfg, device):
                        outputs = net(image)
                    loss, shown = criterion.both(outputs, label, counts, world, dinfo.rank)
                    # fp16: the scaler drops non-finite steps itself; else decide here, before
                    # any update, so non-finite values never reach the weights
                    finite = cfg.amp == "fp16" or not agreed(int(not torch.isfinite(loss)))
                    if finite:
                        optimizer.zero_grad(set_to_none=True)
                        scale = scaler.get_scale() if scaler.is_enabled() else None
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                        finite = scale is None or scaler.get_scale() >= scale
                    bad_steps = 0 if finite else bad_steps + 1
                    if not finite:
                        limit = max(cfg.nan_skip_limit, 16) if cfg.amp == "fp16" else (
                            cfg.nan_skip_limit if cfg.nan_policy == "skip" else 1)
                        if bad_steps >= limit:
                            raise _diverged(cfg, step + 1, bad_steps, float(loss.detach()), saved["last"])
                    scheduler.step()
                    step += 1
                    if finite:
                        sums += torch.stack([loss.detach(), loss.detach(), shown.detach()])
                        n_run += 1
                        n_epoch += 1
                    if (step % log_interval == 0 or step == total) and n_run:
                        value, _, gluon = global_mean(sums)   # a host sync every log_interval
                        bar.set_postfix(loss=f"{value / n_run:.4f}",
                                        lr=f"{scheduler.get_last_lr()[0]:.2e}")
                        # GluonCV's value as the original logged it: mean since the epoch began
                        logger.log({f"train_loss_batch, interval={log_interval}": value / n_run,
                                    "train_loss_gluoncv": gluon / n_epoch,
                                    "lr": scheduler.get_last_lr()[0]}, step=step)
                        sums[0] = 0
                        n_run = 0
                    if cfg.ckpt_interval and step % cfg.ckpt_interval == 0:
                        checkpoint(last_path)
                    signum = agreed(signals.signum)
                    if signum:
                        checkpoint(last_path)
                        logger.info(f"interrupted at iteration {step}; saved {last_path}")
                        raise TrainingInterrupted(signum, last_path, step)
                    if cfg.stop_at is not None and step >= cfg.stop_at:
                        stop = True
                        break
                bar.close()
                if stop and step % iters_per_epoch:
                    checkpoint(last_path)
                    logger.info(f"stopped at iteration {step} (stop_at); resume with resume: {last_path}")
                    break
                _, epoch_sum, gluon = global_mean(sums)
                logger.log({"train_loss_epoch": epoch_sum / max(n_epoch, 1),
                            "train_loss_gluoncv_epoch": gluon / max(n_epoch, 1),
                            "custom_step": epoch + 1}, step=step)
                if val_loader is not None:
                    shown = []   # a few val predictions for TensorBoard
                    metrics = validate(net, val_loader, criterion, nclass, dinfo, cfg, dinfo.main,
                                       shown, TB_SAMPLES if cfg.tensorboard else 0)
                    logger.log({**metrics, "custom_step": epoch + 1}, step=step)
                    logger.predictions(shown, val_set.palette, step)
                    logger.info(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
                    if metrics["val_mIoU"] > best:   # strictly better, as the original
                        best = metrics["val_mIoU"]
                        checkpoint(best_path)
                        result["best_checkpoint"] = str(best_path)
                        logger.summary(best_epoch=epoch + 1, best_mIoU=best)
                    result.update(metrics)
                checkpoint(last_path)
                if stop:
                    logger.info(f"stopped at iteration {step} (stop_at); resume with resume: {last_path}")
                    break
    except RuntimeError as err:
        # a SIGTERM sent to the whole process group also ends the loader's workers: while a
        # stop was asked for, that is the interruption, not a failure
        if not signals.signum:
            raise
        checkpoint(last_path)
        logger.info(f"interrupted at iteration {step}; saved {last_path}")
        raise TrainingInterrupted(signals.signum, last_path, step) from None
    except DataError as err:
        # a bad file found mid-run: keep the work done so far, then report the file
        checkpoint(last_path, collective=False)
        err = own_message(err)
        logger.info(f"data error at iteration {step}: {err}; saved {last_path}")
        raise DataError(f"{err}\n(saved a resumable checkpoint at iteration {step}: {last_path}; "
                        f"fix or remove the file, then resume with resume={last_path})") from None
    except TrainingStopped as err:
        logger.info(str(err))
        raise
    finally:
        logger.finish()
    result.update(best_mIoU=best if best >= 0 else None, step=step,
                  best_checkpoint=str(best_path) if best_path.is_file() else None)
    return result if dinfo.main else {}


def _diverged(cfg, step, bad_steps, loss, last, bad_tensors=()) -> TrainingDiverged:
    if bad_tensors:
        what = (f"{len(bad_tensors)} weight/statistics tensors hold NaN/inf at iteration {step} "
                f"(e.g. {', '.join(bad_tensors[:2])})")
    elif cfg.amp == "fp16":
        what = f"{bad_steps} fp16 steps in a row had non-finite gradients (the loss scaler gave up)"
    else:
        what = f"the loss is {loss} at iteration {step}" + (
            f" ({bad_steps} non-finite batches in a row skipped)" if bad_steps > 1 else "")
    keep = (f"the last good checkpoint is {last}" if last else
            "no checkpoint was saved before it (none is written with non-finite weights)")
    tips = [f"a lower lr (now {cfg.lr:g})"]
    if cfg.amp == "fp16":
        tips.append("amp: bf16 or amp: null")
    elif cfg.amp is None:
        tips.append("amp: bf16 on a GPU")
    if cfg.nan_policy == "stop":
        tips.append("nan_policy: skip to skip such batches")
    return TrainingDiverged(f"training diverged: {what}; stopped at iteration {step}; {keep}. "
                            f"Try {', '.join(tips)}.", last, step)
