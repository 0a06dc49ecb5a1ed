"""Trainer: exact mid-epoch resume, and 2-process DDP (gloo, CPU) == 1 process."""
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


def test_resume_mid_epoch_equals_uninterrupted(toy_root, tmp_path):
    """N iterations, stop, resume to 2N == an uninterrupted 2N run: weights, optimizer
    momentum, LR and step all equal (dropout on, so RNG state must come back too)."""
    full = train(_cfg(toy_root, tmp_path / "full", stop_at=4))
    assert full["step"] == 4
    train(_cfg(toy_root, tmp_path / "split", stop_at=2))
    first = _weights(tmp_path / "split")
    assert first["step"] == 2
    ckpt, = (tmp_path / "split").rglob("*.pth")
    resumed = train(_cfg(toy_root, tmp_path / "split", stop_at=4, resume=str(ckpt)))
    assert resumed["step"] == 4
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    assert a["step"] == b["step"] == 4 and a["epoch"] == b["epoch"] == 1  # crossed an epoch
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 4


def test_ddp_two_cpu_processes_match_one(toy_root, tmp_path, cli):
    """torchrun, 2 gloo processes x 8 samples == 1 process x 16 (same global batch). GN has no
    batch statistics and dropout is off, so the two runs compute the same function."""
    over = {**TINY, "data_root": str(toy_root), "norm_layer": "GN", "bs_train": 16,
            "model_kwargs": {"drop": 0.0}, "stop_at": 3, "epochs": 1}
    results = {}
    for procs in (1, 2):
        cfg_path = tmp_path / f"c{procs}.yaml"
        cfg_path.write_text(yaml.safe_dump({**over, "ckpt_dir": str(tmp_path / f"w{procs}")}))
        proc = cli("-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}",
                       "-m", "mxnetseg", "train", "--config", str(cfg_path), cwd=tmp_path,
                       env={"OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[procs] = _weights(tmp_path / f"w{procs}")
    one, two = results[1]["model"], results[2]["model"]
    assert results[1]["step"] == results[2]["step"] == 3
    worst = max((one[k].float() - two[k].float()).abs().max().item() for k in one)
    assert worst < 1e-4, f"max weight difference {worst}"
    moved = max((one[k].float() - _init_weights()[k].float()).abs().max().item()
                for k in ("head.0.0.weight",))
    assert moved > 1e-4      # the runs really trained


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
