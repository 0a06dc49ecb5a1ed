"""The command lines keep the original's habits and never give a silently wrong number or
overwrite earlier output (issue: hardening): checkpoint config wins at evaluation, --ctx is
checked at once, `--model`, shipped config.yml, overrides after --ctx, nested overrides merge."""
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from mxnetseg import eval as eval_cli
from mxnetseg import train as train_cli
from mxnetseg.config import Config, load_config
from mxnetseg.tools.trainer import train

TINY = {"model_name": "fcn", "backbone": "resnet18", "data_name": "toy", "crop_size": 96,
        "base_size": 128, "epochs": 1, "bs_train": 8, "bs_val": 8,
        "backbone_init": {"manner": None}, "norm_layer": "BN", "workers": 0,
        "lr": 0.01, "val": False, "log_interval": 1, "preflight": False}


@pytest.fixture(scope="module")
def small_root(toy_root, tmp_path_factory):
    """The toy dataset with 4 val and 4 test images (evaluation stays quick)."""
    root = tmp_path_factory.mktemp("small")
    shutil.copytree(toy_root / "toy", root / "toy")
    for split in ("val", "test"):
        lst = root / "toy" / f"{split}.txt"
        lst.write_text("\n".join(lst.read_text().splitlines()[:4]) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(small_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("trained")
    cfg = load_config(None, {**TINY, "data_root": str(small_root), "ckpt_dir": str(work),
                             "stop_at": 3})
    return Path(train(cfg)["checkpoint"])


def _metrics(capsys, *argv):
    rc = eval_cli.main(list(argv))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    line = [x for x in captured.out.splitlines() if "mIoU" in x and "pixAcc" in x][-1]
    return line


# ---------------------------------------------------------------- eval: the checkpoint decides
def test_data_only_config_gives_identical_metrics(trained, small_root, tmp_path, capsys):
    data_only = tmp_path / "data.yaml"
    data_only.write_text(yaml.safe_dump({"data_name": "toy", "data_root": str(small_root)}))
    plain = _metrics(capsys, "--checkpoint", str(trained), "--data-root", str(small_root))
    with_cfg = _metrics(capsys, "--checkpoint", str(trained), "--config", str(data_only))
    assert plain == with_cfg


@pytest.mark.parametrize("flags, key, asked, trained_with", [
    (["--backbone", "resnet50"], "backbone", "'resnet50'", "'resnet18'"),
    (["--model", "pspnet"], "model_name", "'pspnet'", "'fcn'"),
    (["--crop", "768"], "crop_size", "768", "96"),
])
def test_flag_disagreeing_with_the_checkpoint_is_an_error(trained, small_root, capsys, flags,
                                                          key, asked, trained_with):
    rc = eval_cli.main(["--checkpoint", str(trained), "--data-root", str(small_root), *flags])
    err = capsys.readouterr().err
    assert rc == 2
    assert key in err and asked in err and trained_with in err


def test_config_disagreeing_on_geometry_is_an_error(trained, small_root, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data_name": "toy", "base_size": 2048}))
    rc = eval_cli.main(["--checkpoint", str(trained), "--config", str(cfg),
                        "--data-root", str(small_root)])
    err = capsys.readouterr().err
    assert rc == 2 and "base_size" in err and "2048" in err and "128" in err


@pytest.mark.slow
def test_ms_predictions_never_overwrite_single_scale_ones(trained, small_root, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["--checkpoint", str(trained), "--data-root", str(small_root), "--mode", "testval"]
    assert eval_cli.main(base) == 0
    single = sorted((tmp_path / "color_results" / "toy" / "testval").rglob("*.png"))
    before = {p: p.read_bytes() for p in single}
    assert eval_cli.main(base + ["--ms"]) == 0
    assert sorted((tmp_path / "color_results" / "toy" / "testval_ms").rglob("*.png"))
    assert {p: p.read_bytes() for p in single} == before
    # the same command again refuses to overwrite, --force allows it
    capsys.readouterr()
    assert eval_cli.main(base) == 2
    assert "--force" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in single} == before
    assert eval_cli.main(base + ["--force"]) == 0


def test_json_metrics_file_is_not_overwritten(trained, small_root, tmp_path, capsys):
    target = tmp_path / "m.json"
    target.write_text("{}")
    rc = eval_cli.main(["--checkpoint", str(trained), "--data-root", str(small_root),
                        "--json", str(target)])
    assert rc == 2 and target.read_text() == "{}"
    assert "--force" in capsys.readouterr().err


# ---------------------------------------------------------------- --ctx
def _no_cuda(monkeypatch, count=0):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_train_ctx_without_cuda_is_one_line_at_once(monkeypatch, capsys, tmp_path):
    _no_cuda(monkeypatch)
    rc = train_cli.main(["--config", str(tmp_path / "absent.yaml"), "--ctx", "0", "1", "2", "3"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "no CUDA GPU" in err and "leave --ctx out" in err


def test_eval_ctx_without_cuda(monkeypatch, capsys, trained):
    _no_cuda(monkeypatch)
    assert eval_cli.main(["--checkpoint", str(trained), "--ctx", "0"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_ctx_id_that_does_not_exist_names_the_gpus_there(monkeypatch, capsys, tmp_path):
    _no_cuda(monkeypatch, count=2)
    rc = train_cli.main(["--config", str(tmp_path / "absent.yaml"), "--ctx", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and "no GPU 5" in err and "GPUs 0, 1" in err


# ---------------------------------------------------------------- the original's habits
def test_overrides_after_ctx_are_overrides():
    args = train_cli.parse_args(["--ctx", "0", "epochs=1", "poly.power=1.0"])
    assert args.ctx == [0] and args.overrides == ["epochs=1", "poly.power=1.0"]
    assert train_cli.parse_args(["--ctx", "0", "1", "--wandb", "demo", "lr=0.1"]).ctx == [0, 1]


def test_model_flag_as_the_original_readme_writes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # no ./config.yml: the shipped original default config
    args = train_cli.parse_args(["--model", "fcn", "--wandb", "wandb-demo"])
    cfg = train_cli.build_config(args)
    assert cfg.model_name == "fcn" and cfg.wandb_project == "wandb-demo"
    assert cfg.backbone == "resnet101" and cfg.data_name == "Cityscapes"


def test_shipped_config_is_the_originals_default():
    shipped = yaml.safe_load(train_cli.SHIPPED_CONFIG.read_text())
    cfg = load_config(train_cli.SHIPPED_CONFIG)
    # the original's mxnetseg/config.yml (BebDong/MXNetSeg HEAD 43cdb70), key by key
    original = {"model_name": "AlignSeg", "backbone": "resnet101", "aux": False,
                "aux_weight": None, "lr_mult": 1, "dilate": False, "norm_layer": "SyncBN",
                "backbone_init": {"manner": "cls", "backbone_ckpt": None, "prior_classes": None},
                "resume": None, "data_name": "Cityscapes", "crop_size": 768, "base_size": 2048,
                "lr": 0.01, "target_lr": 0, "wd": 1e-4, "momentum": 0.9, "optimizer": "sgd",
                "lr_scheduler": "poly", "poly": {"power": 0.9},
                "step": {"step_factor": 0.5, "step_epoch": [5, 10]},
                "adam": {"adam_beta1": 0.9, "adam_beta2": 0.999},
                "epochs": 240, "bs_train": 8, "bs_val": 16}
    assert {k: shipped[k] for k in shipped} == original
    assert cfg.to_dict()["poly"] == {"power": 0.9} and cfg.lr == 0.01
    assert set(original) <= {f for f in Config.__dataclass_fields__}


def test_nested_override_merges_into_option_dicts(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data_name": "list",
                                    "data_kwargs": {"root": "/a", "num_class": 11}}))
    cfg = load_config(path, ["data_kwargs.root=/x", "poly.power=1.0"], check_names=False)
    assert cfg.data_kwargs == {"root": "/x", "num_class": 11} and cfg.poly.power == 1.0
