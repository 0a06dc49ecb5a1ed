"""Loss, LR schedules, samplers and checkpoints: the pieces the trainer is made of."""
import math

import pytest
import torch
import torch.nn.functional as F

from mxnetseg.config import load_config
from mxnetseg.tools.checkpoint import (CheckpointError, load_checkpoint, load_model_weights,
                                       save_checkpoint)
from mxnetseg.tools.losses import MixSoftmaxCrossEntropy
from mxnetseg.tools.samplers import TrainBatchSampler, shard_indices
from mxnetseg.tools.schedulers import build_scheduler, lr_factor


def test_loss_ignores_and_averages_over_valid_pixels():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])        # N=1, K=2, H=1, W=2
    target = torch.tensor([[[0, -1]]])
    loss = MixSoftmaxCrossEntropy()(logits, target)
    assert loss.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 1)))


def test_aux_weight_reaches_the_gradient():
    torch.manual_seed(0)
    main = torch.randn(2, 3, 4, 4, requires_grad=True)
    aux = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.randint(-1, 3, (2, 4, 4))
    loss = MixSoftmaxCrossEntropy(aux_weight=0.4)((main, aux), target)
    loss.backward()
    ref_main = F.cross_entropy(main, target, ignore_index=-1)
    ref_aux = F.cross_entropy(aux, target, ignore_index=-1)
    assert loss.item() == pytest.approx((ref_main + 0.4 * ref_aux).item(), rel=1e-6)
    g = torch.autograd.grad(ref_aux, aux)[0]
    assert torch.allclose(aux.grad, 0.4 * g, atol=1e-7)


def test_split_batch_over_ranks_equals_whole_batch():
    """Per-rank loss with the global valid count x world size, averaged over ranks (what DDP
    does to gradients), equals the single-process loss of the whole batch."""
    torch.manual_seed(1)
    logits = torch.randn(4, 3, 5, 5)
    target = torch.randint(0, 3, (4, 5, 5))
    target[0, :3] = -1                     # uneven valid counts per rank
    crit = MixSoftmaxCrossEntropy()
    whole = crit(logits, target)
    n_valid = (target != -1).sum()
    halves = [crit(logits[i::2], target[i::2], n_valid, world_size=2) for i in range(2)]
    assert (sum(halves) / 2).item() == pytest.approx(whole.item(), rel=1e-6)


def test_original_loss_norm_divides_by_device_batch():
    logits, target = torch.randn(4, 3, 2, 2), torch.randint(0, 3, (4, 2, 2))
    orig = MixSoftmaxCrossEntropy(norm="original")(logits, target)
    assert orig.item() == pytest.approx(F.cross_entropy(logits, target).item() / 4, rel=1e-6)


def test_lr_formulas_match_the_original():
    total, n = 11, 10                      # N = total - 1; update i uses T = min(i + 1, N)
    assert lr_factor("poly", 0, total, 0.01, 0, power=0.9) == pytest.approx((1 - 1 / n) ** 0.9)
    assert lr_factor("poly", 10, total, 0.01, 0) == 0.0
    assert lr_factor("linear", 4, total, 0.01, 0.001) * 0.01 == pytest.approx(
        0.001 + 0.009 * (1 - 5 / n))
    assert lr_factor("cosine", 4, total, 1.0) == pytest.approx((1 + math.cos(math.pi * 5 / n)) / 2)
    assert lr_factor("constant", 7, total, 0.01) == 1.0
    assert lr_factor("step", 3, total, 0.01, step_factor=0.5, milestones=[4, 8]) == 0.5
    assert lr_factor("step", 2, total, 0.01, step_factor=0.5, milestones=[4, 8]) == 1.0


def test_scheduler_keeps_lr_mult():
    cfg = load_config(None, {"lr": 0.1, "epochs": 2, "lr_scheduler": "poly"}, check_names=False)
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = build_scheduler(opt, cfg, iters_per_epoch=5)
    lrs = []
    for _ in range(10):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert lrs[0][0] == pytest.approx(0.1 * (1 - 1 / 9) ** 0.9)
    assert all(h == pytest.approx(10 * lo) for lo, h in lrs)
    assert lrs[-1][0] == pytest.approx(0.0)


def test_batch_sampler_independent_of_world_size_and_resumable():
    one = list(TrainBatchSampler(10, 4, world=1, rank=0, seed=3))
    r0 = list(TrainBatchSampler(10, 4, world=2, rank=0, seed=3))
    r1 = list(TrainBatchSampler(10, 4, world=2, rank=1, seed=3))
    assert len(one) == 2                     # incomplete last batch dropped
    for whole, a, b in zip(one, r0, r1, strict=True):
        assert sorted(a + b) == sorted(whole) and len(a) == len(b) == 2
    s = TrainBatchSampler(10, 4, seed=3)
    s.set_epoch(0, start=1)
    assert list(s) == one[1:]
    s.set_epoch(1)
    assert list(s) != one
    assert sorted(shard_indices(7, 2, 0) + shard_indices(7, 2, 1)) == list(range(7))


def test_checkpoint_atomic_and_safe(tmp_path):
    model = torch.nn.Conv2d(3, 2, 1)
    path = save_checkpoint({"model": model.state_dict(), "step": 3}, tmp_path / "a" / "m.pth")
    assert load_checkpoint(path)["step"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["m.pth"]     # no temp file left
    other = torch.nn.Conv2d(3, 2, 1)
    load_model_weights(other, path)
    assert torch.equal(other.weight, model.weight)


def test_checkpoint_errors(tmp_path):
    wrong = torch.nn.Conv2d(3, 4, 1)
    path = save_checkpoint({"model": torch.nn.Conv2d(3, 2, 1).state_dict()}, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=r"shape mismatch.*weight"):
        load_model_weights(wrong, path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "cut.pth").write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="could not read"):
        load_checkpoint(tmp_path / "cut.pth")
