"""Trainer: exact mid-epoch resume, and 2-process DDP (gloo, CPU) == 1 process."""
import pytest
import torch
import yaml

from mxnetseg.config import load_config
from mxnetseg.tools.trainer import train


TINY = {"model_name": "fcn", "backbone": "resnet18", "data_name": "toy", "crop_size": 48,
        "base_size": 64, "epochs": 3, "bs_train": 64, "bs_val": 8,
        "backbone_init": {"manner": None}, "norm_layer": "BN", "workers": 0,
        "lr": 0.01, "val": False, "log_interval": 1}


def _cfg(toy_root, tmp_path, **over):
    return load_config(None, {**TINY, "data_root": str(toy_root),
                              "ckpt_dir": str(tmp_path), **over})


def _weights(ckpt_dir):
    path, = [p for p in ckpt_dir.rglob("*.pth") if not p.stem.endswith("_best")]
    return torch.load(path, weights_only=True)


def _step_losses(monkeypatch):
    """{step: loss} as the trainer logs it (log_interval 1: one loss per step)."""
    from mxnetseg.tools.logging import RunLogger
    seen, log = {}, RunLogger.log

    def record(self, metrics, step):
        for key, value in metrics.items():
            if key.startswith("train_loss_batch"):
                seen[step] = value
        return log(self, metrics, step)
    monkeypatch.setattr(RunLogger, "log", record)
    return seen


def test_resume_mid_epoch_equals_uninterrupted(toy_root, tmp_path, monkeypatch):
    """2 iterations, stop, resume to 4 == an uninterrupted 4: the resumed run takes exactly
    steps 3 and 4 with the same losses, keeps the run's stamp (file name), and ends with equal
    weights, optimizer momentum, LR and step (dropout on, so RNG state must come back too)."""
    losses = _step_losses(monkeypatch)
    full = train(_cfg(toy_root, tmp_path / "full", stop_at=4))
    assert full["step"] == 4 and sorted(losses) == [1, 2, 3, 4]
    full_losses = dict(losses)
    losses.clear()
    monkeypatch.setattr("time.strftime", lambda fmt, *a: "20000101_000000")
    train(_cfg(toy_root, tmp_path / "split", stop_at=2))
    ckpt, = (tmp_path / "split").rglob("*.pth")
    assert torch.load(ckpt, weights_only=True)["step"] == 2
    assert losses == {s: full_losses[s] for s in (1, 2)}
    losses.clear()
    monkeypatch.setattr("time.strftime", lambda fmt, *a: "20991231_235959")   # a later start
    resumed = train(_cfg(toy_root, tmp_path / "split", stop_at=4, resume=str(ckpt)))
    assert resumed["step"] == 4
    assert sorted(losses) == [3, 4], "the resumed run must take exactly the remaining steps"
    assert losses == {s: full_losses[s] for s in (3, 4)}
    # the stamp of the first run names the resumed run's checkpoint: still one file
    assert [p.name for p in (tmp_path / "split").rglob("*.pth")] == [ckpt.name]
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    assert b["stamp"] == "20000101_000000"
    assert a["step"] == b["step"] == 4 and a["epoch"] == b["epoch"] == 1  # crossed an epoch
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(),
                      strict=True):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 4


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one(toy_root, tmp_path, cli):
    """torchrun, 2 gloo processes x 8 samples == 1 process x 16 (same global batch). GN has no
    batch statistics and dropout is off, so the two runs compute the same function. The logged
    losses are the global batch's: equal for 1 and 2 processes. original_gpus 4: the loss
    groups span the 2 processes' images."""
    from mxnetseg.tools.logging import read_run_log
    over = {**TINY, "data_root": str(toy_root), "norm_layer": "GN", "bs_train": 16,
            "model_kwargs": {"drop": 0.0}, "stop_at": 3, "epochs": 1, "original_gpus": 4,
            "lr": 0.04}   # x4: this scale is 4 GPUs' valid means / 16, a quarter of one mean
    results, logs = {}, {}
    for procs in (1, 2):
        cfg_path = tmp_path / f"c{procs}.yaml"
        cfg_path.write_text(yaml.safe_dump({**over, "ckpt_dir": str(tmp_path / f"w{procs}")}))
        proc = cli("-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}",
                       "-m", "mxnetseg", "train", "--config", str(cfg_path), cwd=tmp_path,
                       env={"OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[procs] = _weights(tmp_path / f"w{procs}")
        log, = (tmp_path / f"w{procs}").rglob("*.log")
        logs[procs] = [r for r in read_run_log(log) if "train_loss_gluoncv" in r]
    # log_interval 1: one record per step, each with both values
    assert [r["step"] for r in logs[1]] == [r["step"] for r in logs[2]] == [1, 2, 3]
    for r1, r2 in zip(logs[1], logs[2]):
        for key in ("train_loss_batch, interval=1", "train_loss_gluoncv"):
            assert r2[key] == pytest.approx(r1[key], rel=1e-4), (r1["step"], key)
    one, two = results[1]["model"], results[2]["model"]
    assert results[1]["step"] == results[2]["step"] == 3
    init = _init_weights()
    assert one.keys() == two.keys() == init.keys()
    # relative to each weight's norm: the runs trained from the seeded init (moved by more than
    # 1e-3 of it, and by less than 0.1: another init would be ~1.4 away), and 1 and 2 processes
    # agree to 1e-3 of the movement
    for key in ("head.0.0.weight", "head.1.weight", "backbone.body.layer4.1.conv2.weight"):
        w0, w1, w2 = init[key].double(), one[key].double(), two[key].double()
        moved = (w1 - w0).norm()
        assert 1e-3 * w0.norm() < moved < 0.1 * w0.norm(), f"{key} moved {moved / w0.norm():.3g}"
        assert (w2 - w1).norm() < 1e-3 * moved, f"{key}: 1 vs 2 processes {(w2 - w1).norm():.3g}"
    worst = max(((one[k].double() - two[k].double()).norm()
                 / one[k].double().norm().clamp_min(1e-12)).item()
                for k in one if one[k].is_floating_point())
    assert worst < 1e-4, f"largest relative weight difference {worst:.3g}"


def _init_weights():
    from mxnetseg.models import create_model
    torch.manual_seed(0)
    return create_model("fcn", 5, backbone="resnet18", norm_layer="GN", drop=0.0).state_dict()


def test_amp_channels_last_and_aux_path_runs(toy_root, tmp_path):
    """bf16 autocast + channels_last + aux head on the CPU: an epoch trains and validates."""
    cfg = _cfg(toy_root, tmp_path, amp="bf16", channels_last=True, aux=True, aux_weight=0.4,
               crop_size=32, bs_train=64, epochs=1, val=True, bs_val=40)
    result = train(cfg)
    assert result["step"] == 3 and 0.0 <= result["val_mIoU"] <= 1.0
    assert result["val_loss"] == result["val_loss"]          # not NaN


def test_param_groups_lr_mult_and_seg_init(toy_root, tmp_path):
    from mxnetseg.models import create_model
    from mxnetseg.tools.checkpoint import save_checkpoint
    from mxnetseg.models.build import build_model
    from mxnetseg.tools.trainer import _param_groups
    prior = create_model("fcn", 7, backbone="resnet18")
    save_checkpoint({"model": prior.state_dict()}, tmp_path / "prior.pth")
    cfg = _cfg(toy_root, tmp_path, lr_mult=10, backbone_init={
        "manner": "seg", "backbone_ckpt": str(tmp_path / "prior.pth"), "prior_classes": 7})
    model = build_model(cfg, nclass=5)
    assert torch.equal(model.backbone.body.layer4[1].conv2.weight,
                       prior.backbone.body.layer4[1].conv2.weight)
    assert model.head[-1].out_channels == 5
    groups = _param_groups(model, cfg)
    assert [g["lr"] for g in groups] == [0.01, 0.1]
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert sum(p.numel() for p in groups[0]["params"]) == n_backbone


def test_list_dataset_through_data_kwargs(toy_root, tmp_path):
    """Users' own data: the generic `list` dataset, configured by data_kwargs, trains."""
    cfg = _cfg(toy_root, tmp_path, data_name="list", crop_size=32, bs_train=64, epochs=1,
               data_kwargs={"root": str(toy_root / "toy"), "num_class": 5, "ignore_label": 255})
    assert train(cfg)["step"] == 3
