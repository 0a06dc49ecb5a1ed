"""Config schema: an original config.yml loads unchanged; overrides; every error path."""
import textwrap

import pytest

from mxnetseg.config import Config, ConfigError, load_config, parse_overrides

# The original MXNetSeg HEAD config.yml, key for key and value for value (CRLF line ends and
# YAML-1.1 number spellings like ``1.e-2`` included, as in the original file).
ORIGINAL = textwrap.dedent("""\
    model_name: FCNResNet
    backbone: resnet101
    aux: False
    aux_weight: ~
    lr_mult: 1
    dilate: False
    norm_layer: SyncBN
    backbone_init:
      manner: cls
      backbone_ckpt: ~
      prior_classes: ~
    resume: ~
    data_name: Cityscapes
    crop_size: 768
    base_size: 2048
    lr: 1.e-2
    target_lr: 0
    wd: 1.e-4
    momentum: 0.9
    optimizer: sgd
    lr_scheduler: poly
    poly:
      power: 0.9
    step:
      step_factor: 0.5
      step_epoch:
        - 5
        - 10
    adam:
      adam_beta1: 0.9
      adam_beta2: 0.999
    epochs: 240
    bs_train: 8
    bs_val: 16""").replace("\n", "\r\n")


def write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_original_config_loads_unchanged(tmp_path):
    cfg = load_config(write(tmp_path, ORIGINAL))
    assert cfg.model_name == "FCNResNet" and cfg.backbone == "resnet101"
    assert cfg.lr == pytest.approx(0.01) and isinstance(cfg.lr, float)
    assert cfg.wd == pytest.approx(1e-4) and cfg.target_lr == 0.0
    assert cfg.aux is False and cfg.aux_weight is None and cfg.resume is None
    assert cfg.backbone_init.manner == "cls" and cfg.backbone_init.prior_classes is None
    assert cfg.step.step_epoch == [5, 10] and cfg.poly.power == 0.9
    assert cfg.adam.adam_beta2 == 0.999 and (cfg.epochs, cfg.bs_train, cfg.bs_val) == (240, 8, 16)


def test_round_trip(tmp_path):
    cfg = load_config(write(tmp_path, ORIGINAL), ["model_kwargs={drop: 0.0}", "amp=bf16"])
    out = tmp_path / "dump.yaml"
    cfg.dump(out)
    assert load_config(out) == cfg


def test_overrides_and_type_conversion(tmp_path):
    cfg = load_config(write(tmp_path, ORIGINAL),
                      ["lr=1e-3", "poly.power=1", "aux=true", "step.step_epoch=[2,4]",
                       "backbone_init.manner=null", "crop_size=512"])
    assert cfg.lr == 1e-3 and cfg.poly.power == 1.0 and cfg.aux is True
    assert cfg.step.step_epoch == [2, 4] and cfg.backbone_init.manner is None
    assert cfg.crop_size == 512
    assert parse_overrides(["a.b=3", "c=x"]) == {"a": {"b": 3}, "c": "x"}


def test_base_inheritance(tmp_path):
    write(tmp_path, ORIGINAL, "base.yaml")
    child = write(tmp_path, "_base_: base.yaml\nlr: 0.5\npoly:\n  power: 2\n", "child.yaml")
    cfg = load_config(child)
    assert cfg.lr == 0.5 and cfg.poly.power == 2 and cfg.backbone == "resnet101"
    write(tmp_path, "_base_: base.yaml\n", "mid.yaml")
    deep = write(tmp_path, "_base_: mid.yaml\n", "deep.yaml")
    with pytest.raises(ConfigError, match="one level"):
        load_config(deep)


@pytest.mark.parametrize("override, pattern", [
    (["lrr=0.1"], r"unknown config key 'lrr'.*Did you mean 'lr'"),
    (["poly.pwer=1"], r"unknown config key 'poly.pwer'.*Did you mean 'poly.power'"),
    (["epochs=ten"], r"epochs: 'ten' is not a valid int"),
    (["aux=maybe"], r"aux: 'maybe' is not a valid bool"),
    (["lr=fast"], r"lr: 'fast' is not a valid float"),
    (["optimizer=rmsprop"], r"optimizer: 'rmsprop' is not one of sgd, nag, adam"),
    (["model_name=FCNResnt"], r"unknown model 'FCNResnt'.*Did you mean 'FCNResNet'"),
    (["data_name=cityscape"], r"(?i)unknown dataset .cityscape.*did you mean"),
    (["bs_train=0"], r"bs_train must be > 0"),
    (["norm_layer=LN"], r"norm_layer: 'LN' is not one of"),
    (["lr"], r"must look like key=value"),
])
def test_errors_name_key_and_value(tmp_path, override, pattern):
    path = write(tmp_path, ORIGINAL)
    with pytest.raises(ConfigError, match=pattern) as err:
        load_config(path, override)
    assert str(path) in str(err.value)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [1, 2\n"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_a_sweep_file_is_named_as_such(tmp_path):
    with pytest.raises(ConfigError, match="is a wandb sweep file.*wandb sweep"):
        load_config(write(tmp_path, "program: train.py\nmethod: bayes\nparameters: {}\n"))


def test_shipped_configs_load():
    from pathlib import Path
    configs = sorted(p for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")
                     if p.stem != "sweep")      # a wandb sweep file, tests/test_sweep.py
    assert configs, "configs/ is empty"
    for path in configs:
        assert isinstance(load_config(path), Config)
