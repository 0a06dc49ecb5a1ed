"""A training run never lies and never loses work (issue: hardening): divergence stops the run,
run names never collide, Ctrl-C / SIGTERM save a resumable checkpoint, a bad sample mid-run
saves one before the error, stale temp files go, the run log is strict JSON lines."""
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from mxnetseg import train as train_cli
from mxnetseg.config import load_config
from mxnetseg.tools.checkpoint import CheckpointError, non_finite_tensors, save_checkpoint
from mxnetseg.tools.logging import claim_run_name, read_run_log
from mxnetseg.tools.runguard import TrainingDiverged, TrainingInterrupted
from mxnetseg.tools.trainer import train

TINY = {"model_name": "fcn", "backbone": "resnet18", "data_name": "toy", "crop_size": 32,
        "base_size": 48, "epochs": 1, "bs_train": 8, "bs_val": 8,
        "backbone_init": {"manner": None}, "norm_layer": "BN", "workers": 0,
        "lr": 0.01, "val": False, "log_interval": 1, "preflight": False}


def _cfg(toy_root, ckpt_dir, **over):
    return load_config(None, {**TINY, "data_root": str(toy_root), "ckpt_dir": str(ckpt_dir),
                              **over})


def _strict_json_lines(path):
    def no_nan(token):
        raise AssertionError(f"{path}: non-JSON constant {token}")
    return [json.loads(line, parse_constant=no_nan)
            for line in Path(path).read_text().splitlines()]


# ---------------------------------------------------------------- divergence
def test_huge_lr_stops_the_run_and_saves_no_nan_weights(toy_root, tmp_path):
    with pytest.raises(TrainingDiverged) as err:
        train(_cfg(toy_root, tmp_path, lr=1e6, stop_at=12, ckpt_interval=1))
    msg = str(err.value)
    assert "diverged" in msg and f"iteration {err.value.step}" in msg and "lower lr" in msg
    assert err.value.exit_code == 3
    for path in tmp_path.rglob("*.pth"):   # whatever was saved before holds finite weights
        assert not non_finite_tensors(torch.load(path, weights_only=True)["model"]), path
    assert not list(tmp_path.rglob("*_best.pth"))
    if err.value.checkpoint:   # the message names the last good checkpoint
        assert err.value.checkpoint in msg and Path(err.value.checkpoint).is_file()


def test_nan_policy_skip_skips_then_stops_after_the_limit(toy_root, tmp_path, monkeypatch):
    from mxnetseg.tools import losses
    calls = {"n": 0}
    real = losses.MixSoftmaxCrossEntropy.both   # the trainer's call: (loss, GluonCV's value)

    def flaky(self, *a, **k):   # iterations 2 and 3 non-finite, then from 6 on for good
        calls["n"] += 1
        loss, shown = real(self, *a, **k)
        bad = calls["n"] in (2, 3) or calls["n"] >= 6
        return (loss * float("nan"), shown) if bad else (loss, shown)
    monkeypatch.setattr(losses.MixSoftmaxCrossEntropy, "both", flaky)
    with pytest.raises(TrainingDiverged) as err:
        train(_cfg(toy_root, tmp_path, nan_policy="skip", nan_skip_limit=3, stop_at=20))
    # skipped 2 and 3 (2 in a row < 3), stopped at the third of 6, 7, 8
    assert err.value.step == 8 and "3 non-finite batches in a row" in str(err.value)


def test_save_checkpoint_refuses_non_finite_weights(tmp_path):
    target = tmp_path / "run.pth"
    target.write_bytes(b"earlier good checkpoint")
    with pytest.raises(CheckpointError, match="NaN"):
        save_checkpoint({"model": {"w": torch.tensor([1.0, float("nan")])}}, target)
    assert target.read_bytes() == b"earlier good checkpoint"


def test_stale_temp_files_are_removed_on_the_next_save(tmp_path):
    stale = tmp_path / ".run.pth.k9x2.tmp"   # what kill -9 during a save leaves
    stale.write_bytes(b"")
    other = tmp_path / ".other.pth.abcd.tmp"   # another run's: not ours to remove
    other.write_bytes(b"")
    save_checkpoint({"model": {"w": torch.ones(2)}}, tmp_path / "run.pth")
    assert not stale.exists() and other.exists() and (tmp_path / "run.pth").is_file()


# ---------------------------------------------------------------- unique run names
def test_claim_run_name_is_exclusive(tmp_path):
    names = [claim_run_name(tmp_path, "fcnresnet_resnet18_toy_20260101_000000") for _ in range(3)]
    assert names == ["fcnresnet_resnet18_toy_20260101_000000",
                     "fcnresnet_resnet18_toy_20260101_000000_1",
                     "fcnresnet_resnet18_toy_20260101_000000_2"]


def test_runs_started_in_the_same_second_get_their_own_files(toy_root, tmp_path, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20260101_000000"
                        if fmt == "%Y%m%d_%H%M%S" else "00:00:00")
    a = train(_cfg(toy_root, tmp_path, stop_at=1))
    first = Path(a["checkpoint"]).read_bytes()
    b = train(_cfg(toy_root, tmp_path, stop_at=2))
    assert a["checkpoint"] != b["checkpoint"] and a["log"] != b["log"]
    assert Path(a["checkpoint"]).read_bytes() == first   # untouched by the second run
    assert torch.load(b["checkpoint"], weights_only=True)["step"] == 2


# ---------------------------------------------------------------- signals
def _signal_when_logged(log_dir, signum, min_step=1):
    """Send ``signum`` to this process once a run log shows iteration ``min_step``."""
    def watch():
        for _ in range(2000):
            for log in Path(log_dir).rglob("*.log"):
                if any(r.get("step", 0) >= min_step for r in read_run_log(log)):
                    os.kill(os.getpid(), signum)
                    return
            time.sleep(0.01)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_resumable_checkpoint(toy_root, tmp_path, signum, code, capsys):
    cfg_path = tmp_path / "cfg.yaml"
    import yaml
    cfg_path.write_text(yaml.safe_dump({**TINY, "data_root": str(toy_root),
                                        "ckpt_dir": str(tmp_path / "w"), "epochs": 50}))
    _signal_when_logged(tmp_path / "w", signum)
    rc = train_cli.main(["--config", str(cfg_path), "log_interval=1"])
    err = capsys.readouterr().err
    assert rc == code, err
    ckpt, = (tmp_path / "w").rglob("*.pth")
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] >= 1
    assert f"resume with: python -m mxnetseg train --config {cfg_path} log_interval=1 " \
           f"resume={ckpt}" in err
    # the printed command continues the same run: same files, from the saved step
    resumed = train(_cfg(toy_root, tmp_path / "w", resume=str(ckpt),
                         stop_at=state["step"] + 1, epochs=50))
    assert resumed["checkpoint"] == str(ckpt) and resumed["step"] == state["step"] + 1


# ---------------------------------------------------------------- bad data mid-run
@pytest.fixture
def toy_with_bad_image(toy_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(toy_root / "toy", root / "toy")
    images = sorted((root / "toy").rglob("*.jpg")) or sorted((root / "toy").rglob("*.png"))
    train_images = [p for p in images if "train" in str(p) and "label" not in str(p).lower()]
    for p in train_images:   # every train image truncated: the first batch hits one
        p.write_bytes(p.read_bytes()[:200])
    return root


def test_bad_sample_mid_run_saves_a_checkpoint_first(toy_root, toy_with_bad_image, tmp_path):
    from mxnetseg.data import DataError
    # one good iteration from the intact copy, then resume over the broken tree
    first = train(_cfg(toy_root, tmp_path / "w", stop_at=1))
    with pytest.raises(DataError) as err:
        train(_cfg(toy_with_bad_image, tmp_path / "w", resume=first["checkpoint"], stop_at=5))
    msg = str(err.value)
    assert "saved a resumable checkpoint at iteration 1" in msg and "resume=" in msg
    assert torch.load(first["checkpoint"], weights_only=True)["step"] == 1


def test_resume_from_another_models_checkpoint_is_one_clear_error(toy_root, tmp_path):
    other = train(_cfg(toy_root, tmp_path / "a", stop_at=1))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        train(_cfg(toy_root, tmp_path / "b", model_name="pspnet", backbone="resnet50",
                   dilate=True, resume=other["checkpoint"], stop_at=2))


# ---------------------------------------------------------------- logs are data
def test_run_log_is_strict_json_lines_with_messages_and_final_eval(toy_root, tmp_path, capsys):
    import yaml
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump({**TINY, "data_root": str(toy_root), "stop_at": 1,
                                        "ckpt_dir": str(tmp_path / "w")}))
    assert train_cli.main(["--config", str(cfg_path), "--eval"]) == 0
    out = capsys.readouterr().out
    assert "best val mIoU (center crops) n/a" in out   # no validation ran: nothing measured
    log, = (tmp_path / "w").rglob("*.log")
    records = _strict_json_lines(log)
    assert all(isinstance(r, dict) for r in records)
    assert any("msg" in r for r in records) and any("step" in r for r in records)
    final = [r for r in records if "eval" in r]
    assert final and 0.0 <= final[-1]["eval"]["mIoU"] <= 1.0


def test_preflight_fails_before_training_and_writes_nothing(toy_with_bad_image, tmp_path):
    from mxnetseg.data import DataError
    with pytest.raises(DataError, match="pre-flight"):
        train(_cfg(toy_with_bad_image, tmp_path / "w", preflight=True, stop_at=2))
    assert not list((tmp_path / "w").rglob("*.pth"))


@pytest.mark.slow
def test_sigterm_to_the_process_group_with_loader_workers(toy_root, tmp_path):
    """A cluster's SIGTERM reaches every process of the job: the workers die with it, the main
    process still saves a resumable checkpoint, exits 143, and leaves no process behind."""
    import subprocess
    import sys
    import yaml
    from conftest import REPO
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump({**TINY, "data_root": str(toy_root), "workers": 2,
                                        "ckpt_dir": str(tmp_path / "w"), "epochs": 50}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    proc = subprocess.Popen([sys.executable, "-m", "mxnetseg", "train", "--config",
                             str(cfg_path)], cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(3000):
        logs = list((tmp_path / "w").rglob("*.log"))
        if logs and any(r.get("step", 0) >= 1 for r in read_run_log(logs[0])):
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "resume with: python -m mxnetseg train" in err
    ckpt, = (tmp_path / "w").rglob("*.pth")
    assert torch.load(ckpt, weights_only=True)["step"] >= 1
