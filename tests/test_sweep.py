"""configs/sweep.yaml: the original's sweep (bayes over lr and wd, minimise val_loss), and the
command a ``wandb agent`` builds from it reaches the config. Offline: the agent's own helpers
expand the command; nothing talks to wandb's servers."""
import pytest
import yaml

from conftest import REPO, run_cli

SWEEP = REPO / "configs" / "sweep.yaml"


def _sweep():
    return yaml.safe_load(SWEEP.read_text())


def _agent_command(sweep, values, with_wandb=False):
    """The argv ``wandb agent`` runs for one suggested point (wandb_agent.Agent._command_run):
    its macros expanded by wandb's own helpers (``with_wandb``; importing them takes seconds),
    or by the same rule written out (``--key=value`` / ``key=value``)."""
    command = {"program": sweep["program"], "args": {k: {"value": v} for k, v in values.items()}}
    if with_wandb:
        utils = pytest.importorskip("wandb.sdk.launch.sweeps.utils")
        macros = utils.create_sweep_command_args(command)
        chunks = utils.create_sweep_command(sweep.get("command"))
    else:
        macros = {"args": [f"--{k}={v}" for k, v in values.items()],
                  "args_no_hyphens": [f"{k}={v}" for k, v in values.items()]}
        chunks = sweep.get("command") or ["${env}", "${interpreter}", "${program}", "${args}"]
    macros.update(interpreter=["python"], program=[command["program"]], env=[])
    out = []
    for chunk in map(str, chunks):
        out += macros[chunk[2:-1]] if chunk.startswith("${") else [chunk]
    return out


def test_sweep_is_the_originals_search():
    sweep = _sweep()
    assert sweep["method"] == "bayes"
    assert sweep["metric"] == {"name": "val_loss", "goal": "minimize"}
    assert set(sweep["parameters"]) == {"lr", "wd"}
    for bounds in sweep["parameters"].values():
        # floats on both ends: wandb reads int bounds as an integer search
        assert isinstance(bounds["min"], float) and isinstance(bounds["max"], float)
        assert 0 < bounds["min"] < bounds["max"] and bounds["distribution"] == "uniform"
    assert (REPO / sweep["program"]).is_file()


@pytest.mark.parametrize("form", ["args", "args_no_hyphens"])
def test_agent_argv_reaches_the_config(form, monkeypatch):
    from mxnetseg.train import build_config, parse_args
    sweep = _sweep()
    if form != "args":   # the other macro wandb offers: lr=0.0031 (a plain override)
        sweep["command"] = [f"${{{form}}}" if c == "${args}" else c for c in sweep["command"]]
    extra = {} if form == "args" else {"poly.power": 0.8}   # a key without a flag
    argv = _agent_command(sweep, {"lr": 0.0031, "wd": 2.5e-05, **extra})
    assert argv[:2] == ["python", "mxnetseg/train.py"]
    assert ("--lr=0.0031" if form == "args" else "lr=0.0031") in argv
    monkeypatch.chdir(REPO)              # the agent runs from the repository root
    cfg = build_config(parse_args(argv[2:]))
    assert (cfg.lr, cfg.wd) == (0.0031, 2.5e-05)
    assert cfg.poly.power == (0.9 if form == "args" else 0.8)
    assert cfg.model_name == yaml.safe_load((REPO / "configs/demo.yaml").read_text())[
        "model_name"]


def test_agent_argv_with_a_bad_value_is_refused():
    from mxnetseg.train import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--config", "configs/demo.yaml", "--lr=fast"])


@pytest.mark.slow
def test_agent_command_trains(toy_root, tmp_path):
    """The argv wandb's agent helpers build (plus small-run overrides) trains one epoch as a
    plain script and logs val_loss, the sweep's metric."""
    argv = _agent_command(_sweep(), {"lr": 0.005, "wd": 3e-05}, with_wandb=True)
    assert argv[:2] == ["python", "mxnetseg/train.py"] and "--lr=0.005" in argv
    small = [f"data_root={toy_root}", f"ckpt_dir={tmp_path}", "epochs=1", "crop_size=32",
             "base_size=48", "bs_train=64", "bs_val=40", "workers=0", "preflight=false"]
    proc = run_cli(*argv[1:], *small, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from mxnetseg.tools.logging import read_run_log
    log, = tmp_path.rglob("*.log")
    records = read_run_log(log)
    assert (records[0]["config"]["lr"], records[0]["config"]["wd"]) == (0.005, 3e-05)
    assert any("val_loss" in r for r in records)
