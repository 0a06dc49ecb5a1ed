"""TensorBoard logging (issue 12 item 6): the same scalars as wandb plus val predictions, and
training that carries on when the tensorboard package is missing."""
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from conftest import need_module, toy_subset
from mxnetseg import train as train_cli
from mxnetseg.config import load_config
from mxnetseg.tools.logging import RunLogger, read_run_log


@pytest.fixture(autouse=True)
def _tensorboard_installed():
    need_module("tensorboard")   # a test extra: a failure on CI, a skip elsewhere


def _events(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def _logger(tmp_path, **keys):
    cfg = load_config(None, {"wandb_mode": "disabled", "tensorboard": True, **keys})
    return RunLogger(cfg, SimpleNamespace(main=True), "run0", tmp_path)


def test_scalars_and_predictions_reach_tensorboard(tmp_path):
    logger = _logger(tmp_path)
    logger.log({"train_loss_batch, interval=5": 1.25, "lr": 0.01}, step=5)
    logger.log({"val_mIoU": 0.5, "val_loss": float("nan"), "custom_step": 1}, step=10)
    palette = [(0, 0, 0), (255, 0, 0), (0, 255, 0)]
    sample = (torch.zeros(3, 4, 6), torch.tensor([[0, 1, 2, -1, 1, 1]] * 4),
              torch.ones(4, 6, dtype=torch.long))
    logger.predictions([sample, sample], palette, step=10)
    logger.finish()
    acc = _events(tmp_path / "tb" / "run0")
    tags = acc.Tags()
    assert set(tags["scalars"]) == {"train_loss_batch, interval=5", "lr", "val_mIoU"}
    assert [(e.step, e.value) for e in acc.Scalars("val_mIoU")] == [(10, 0.5)]
    assert acc.Scalars("lr")[0].value == pytest.approx(0.01)
    assert sorted(tags["images"]) == ["val_predictions/0", "val_predictions/1"]
    shot = acc.Images("val_predictions/0")[0]
    assert (shot.step, shot.width, shot.height) == (10, 18, 4)   # image | label | prediction


def test_missing_tensorboard_is_one_message_and_logging_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # import fails
    logger = _logger(tmp_path)
    logger.log({"lr": 0.01}, step=1)
    logger.predictions([(torch.zeros(3, 2, 2), torch.zeros(2, 2), torch.zeros(2, 2))],
                       [(0, 0, 0)], step=1)
    logger.finish()
    err = capsys.readouterr().err
    assert "tensorboard package is not installed" in err and "training continues" in err
    records = read_run_log(tmp_path / "run0.log")
    assert any("mxnetseg[tensorboard]" in r.get("msg", "") for r in records)
    assert {"step": 1, "lr": 0.01}.items() <= records[-1].items()
    assert not (tmp_path / "tb").exists()


def test_tensorboard_flag_and_key():
    assert load_config(None, {}).tensorboard is False
    cfg = train_cli.build_config(train_cli.parse_args(["--tensorboard", "epochs=1"]))
    assert cfg.tensorboard is True and cfg.epochs == 1


@pytest.mark.slow
@pytest.mark.parametrize("installed", [True, False])
def test_training_logs_each_epoch(installed, toy_root, tmp_path, monkeypatch):
    from mxnetseg.tools.trainer import TB_SAMPLES, train
    if not installed:
        monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    root, _ = toy_subset(toy_root, tmp_path / "data", train=4, val=6)
    cfg = load_config(None, {
        "model_name": "fcn", "backbone": "resnet18", "data_name": "toy", "crop_size": 64,
        "base_size": 96, "epochs": 2, "bs_train": 4, "bs_val": 3, "norm_layer": "BN",
        "backbone_init": {"manner": None}, "workers": 0, "log_interval": 1, "preflight": False,
        "data_root": str(root), "ckpt_dir": str(tmp_path / "w"), "wandb_mode": "disabled",
        "tensorboard": True})
    result = train(cfg)
    folder = Path(result["log"]).parent
    records = read_run_log(result["log"])
    assert sum("val_mIoU" in r for r in records) == 2   # the run itself is unchanged
    if not installed:
        assert not (folder / "tb").exists()
        return
    acc = _events(next((folder / "tb").iterdir()))
    assert [e.step for e in acc.Scalars("val_mIoU")] == [1, 2]
    assert {"lr", "train_loss_epoch", "val_PA", "val_loss"} <= set(acc.Tags()["scalars"])
    # TB_SAMPLES predictions per epoch, taken over val batches of 3
    assert len(acc.Tags()["images"]) == TB_SAMPLES
    assert [i.step for i in acc.Images("val_predictions/3")] == [1, 2]
