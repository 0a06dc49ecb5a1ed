"""``loss_norm: original`` takes the original's gradient for any process count.

The original (MXNet + GluonCV) split each global batch of B images over its GPUs, normalised
the softmax CE by each GPU batch's valid pixels (``SoftmaxOutput``, normalization 'valid'),
summed the GPUs' gradients and stepped by B. For a 4-GPU run with B = 8 the gradient is
sum over the 4 GPUs of (valid-mean CE over that GPU's 2 images) / 8. Here the same first-step
gradient must come out of 1, 2 and 4 gloo processes (DDP, CPU) with ``original_gpus: 4``.
"""
import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from mxnetseg.config import ConfigError, load_config
from mxnetseg.tools.losses import (BootstrappedCELoss, DiceLoss, FocalLoss,
                                   MixSoftmaxCrossEntropy, sample_positions)
from mxnetseg.tools.samplers import TrainBatchSampler

B, GPUS, K, AUX_W, SEED = 8, 4, 3, 0.4, 3


class _Net(torch.nn.Module):
    """A tiny two-output segmenter (main, aux), float64 so the comparison is tight."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.main = torch.nn.Conv2d(6, K, 1)
        self.aux = torch.nn.Conv2d(6, K, 1)
        self.double()

    def forward(self, x):
        f = self.body(x)
        return self.main(torch.tanh(f)), self.aux(f)


def _batch():
    """8 images; image i has 4*i of its 36 pixels ignored (0 .. 28): uneven valid counts."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, 3, 6, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, K, (B, 6, 6), generator=g)
    for i in range(B):
        y[i].view(-1)[torch.randperm(36, generator=g)[:4 * i]] = -1
    return x, y


def _criteria():
    return {"ce": MixSoftmaxCrossEntropy(aux_weight=AUX_W, norm="original", original_gpus=GPUS),
            "focal": FocalLoss(aux_weight=AUX_W, norm="original", original_gpus=GPUS),
            "dice": DiceLoss(aux_weight=AUX_W, norm="original", original_gpus=GPUS)}


def _grads(world, rank):
    """This process's first-step gradients under each criterion (DDP-averaged when world > 1)."""
    x, y = _batch()
    idx, = list(TrainBatchSampler(B, B, world, rank, seed=SEED))   # the trainer's split
    x, y = x[idx], y[idx]
    net = _Net()
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    out = {}
    for name, crit in _criteria().items():
        net.zero_grad()
        counts = crit.global_counts(y, world, rank)     # the trainer's one all-reduce
        crit(model(x), y, counts, world, rank).backward()
        out[name] = [p.grad.clone() for p in net.parameters()]
    return out


def _worker(rank, world, init, path):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    try:
        grads = _grads(world, rank)
        if rank == 0:
            torch.save(grads, path)
    finally:
        dist.destroy_process_group()


def _spawned(world):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "grads.pt")
        mp.spawn(_worker, args=(world, os.path.join(tmp, "init"), path), nprocs=world)
        return torch.load(path, weights_only=True)


def _formula_grads(gpus=GPUS):
    """The original's gradient written out: CE per GPU group of B/gpus consecutive images of
    the global batch, normalised by the group's valid pixels, summed, / B (aux: weight
    ``AUX_W`` here, as our loss weights it); focal: per-image mean over all pixels, summed, / B;
    Dice: one value per image, summed, / B."""
    x, y = _batch()
    order, = list(TrainBatchSampler(B, B, 1, 0, seed=SEED))
    x, y = x[order], y[order]
    out = {}
    for name in ("ce", "focal", "dice"):
        net = _Net()
        main, aux = net(x)
        total = 0.0
        for w, logits in ((1.0, main), (AUX_W, aux)):
            if name == "ce":
                size = B // gpus
                for k in range(gpus):
                    part = slice(k * size, (k + 1) * size)
                    ce = F.cross_entropy(logits[part], y[part], ignore_index=-1, reduction="sum")
                    total = total + w * ce / (y[part] != -1).sum() / B
            elif name == "focal":
                logp = F.log_softmax(logits, 1).gather(1, y.clamp_min(0).unsqueeze(1)).squeeze(1)
                focal = -(1 - logp.exp()) ** 2 * logp * (y != -1)
                total = total + w * focal.mean((1, 2)).sum() / B
            else:
                valid = (y != -1).unsqueeze(1).double()
                p = F.softmax(logits, 1) * valid
                t = F.one_hot(y.clamp_min(0), K).permute(0, 3, 1, 2).double() * valid
                d = 1 - (2 * (p * t).sum((1, 2, 3)) + 1) / ((p ** 2 + t ** 2).sum((1, 2, 3)) + 1)
                total = total + w * d.sum() / B
        total.backward()
        out[name] = [p.grad.clone() for p in net.parameters()]
    return out


def _max_rel(got, want):
    return max(((g - w).norm() / w.norm()).item() for g, w in zip(got, want, strict=True))


def _check(world, got, want):
    diffs = {name: _max_rel(got[name], want[name]) for name in want}
    print(f"processes {world}: max rel diff vs the 4-GPU formula " +
          ", ".join(f"{n} {d:.2e}" for n, d in diffs.items()))
    # 1e-6: the loss computes in float32 (it casts the logits), the formula in float64
    assert max(diffs.values()) < 1e-6, (world, diffs)


def test_first_step_gradient_equals_the_originals_4gpu_step_on_1_process():
    want = _formula_grads()
    # the grouping matters: the same batch as 1 original GPU would give another gradient
    assert _max_rel(_formula_grads(gpus=1)["ce"], want["ce"]) > 1e-2
    _check(1, _grads(1, 0), want)


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 4])
def test_first_step_gradient_equals_the_originals_4gpu_step_on_n_processes(world):
    """gloo processes with DDP; groups of the original span processes (2) or are one (4)."""
    _check(world, _spawned(world), _formula_grads())


def test_sample_positions_follow_the_sampler():
    """The loss places rank r's images where TrainBatchSampler put them in the global batch."""
    whole, = list(TrainBatchSampler(12, 12, 1, 0, seed=5))
    for world in (2, 3, 4):
        for rank in range(world):
            local, = list(TrainBatchSampler(12, 12, world, rank, seed=5))
            assert local == [whole[p] for p in sample_positions(12 // world, world, rank)]


def test_bootstrapped_ce_is_one_value_per_original_gpu():
    """Bootstrapped CE under original: each GPU group's own top-k mean, summed, / B."""
    x, y = _batch()
    x, y = x[:, :K].float(), y
    crit = BootstrappedCELoss(min_k=10, loss_th=0.357, norm="original", original_gpus=GPUS)
    per_gpu = BootstrappedCELoss(min_k=10, loss_th=0.357)
    want = sum(per_gpu(x[2 * k:2 * k + 2], y[2 * k:2 * k + 2]) for k in range(GPUS)) / B
    assert crit(x, y).item() == pytest.approx(want.item(), rel=1e-6)
    # a whole-batch top-k would be another number
    assert per_gpu(x, y).item() * GPUS / B != pytest.approx(want.item(), rel=1e-3)


def test_config_defaults_to_original_and_checks_original_gpus():
    cfg = load_config(None, {}, check_names=False)
    assert cfg.loss_norm == "original" and cfg.original_gpus is None
    assert load_config(None, {"bs_train": 16, "original_gpus": 8},
                       check_names=False).original_gpus == 8
    with pytest.raises(ConfigError, match=r"bs_train \(8\).*original_gpus \(3\)"):
        load_config(None, {"bs_train": 8, "original_gpus": 3}, check_names=False)
    with pytest.raises(ConfigError, match="original_gpus must be a positive integer"):
        load_config(None, {"original_gpus": 0}, check_names=False)


def test_loss_names_both_values_when_the_batch_does_not_split():
    """A global batch of 6 over original_gpus 4 (e.g. the loss used outside the trainer)."""
    x, y = _batch()
    crit = MixSoftmaxCrossEntropy(norm="original", original_gpus=4)
    with pytest.raises(ConfigError, match=r"bs_train \(6\).*original_gpus \(4\)"):
        crit(x[:6].float()[:, :K], y[:6])


def test_reported_value_is_gluoncvs():
    """``both(...)[1]``: GluonCV's MixSoftmaxCrossEntropyLoss value, i.e. per image the mean
    over ALL pixels of -log p_y with ignored pixels as 0, main + aux_weight x aux, mean over
    images; the same under either loss_norm and for any original_gpus."""
    x, y = _batch()
    net = _Net()
    main, aux = (o.float() for o in net(x))

    def gluoncv(logits):
        ce = F.cross_entropy(logits, y, ignore_index=-1, reduction="none")   # 0 where ignored
        return ce.mean((1, 2))                                               # over all 36 pixels

    want = (gluoncv(main) + AUX_W * gluoncv(aux)).mean().item()
    for norm, gpus in (("valid_mean", None), ("original", 4), ("original", 1)):
        crit = MixSoftmaxCrossEntropy(aux_weight=AUX_W, norm=norm, original_gpus=gpus)
        loss, shown = crit.both((main, aux), y)
        assert shown.item() == pytest.approx(want, rel=1e-6)
        assert not shown.requires_grad and loss.requires_grad
    # it is not the objective: the valid-pixel mean is larger (ignored pixels are not zeros)
    assert MixSoftmaxCrossEntropy(aux_weight=AUX_W)((main, aux), y).item() > want * 1.2


# the GPUs (ctx) of each wandb run config in the original's initial commit (1e0a4e8)
RUN_GPUS = {"silver-brook-24": 4, "effortless-dust-25": 4, "pretty-surf-1": 4,
            "neapolitan-pastry-1": 8, "glad-voice-1": 8, "peachy-snow-4": 8, "smart-valley-12": 8,
            "fearless-firefly-5": 8, "robust-pine-18": 8, "hopeful-snowflake-1": 4,
            "grateful-vortex-8": 4, "comfy-dew-31": 8}


def test_run_configs_carry_their_gpu_count():
    from pathlib import Path
    configs = Path(__file__).resolve().parents[1] / "configs"
    for name, gpus in RUN_GPUS.items():
        cfg = load_config(configs / f"{name}.yaml", {}, check_names=False)
        assert (cfg.loss_norm, cfg.original_gpus) == ("original", gpus), name
