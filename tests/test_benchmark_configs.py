"""The benchmark configs (one per row of the original README's tables) and docs/model_zoo.md."""
import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from mxnetseg.config import load_config
from mxnetseg.data.base import get_dataset_class
from mxnetseg.models import canonical_name, count_parameters, create_model, list_models

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if p.stem not in ("demo", "sweep"))
DOC = (REPO / "docs" / "model_zoo.md").read_text()
# the original's published run configs (initial commit, SEED-MAP §10): run -> hyper-parameters
RUNS = {
    "silver-brook-24": ("BiSeNetR", "resnet18", "Cityscapes", 2048, 1024, 240, 0.01, 1, False),
    "effortless-dust-25": ("BiSeNetR", "resnet18", "Cityscapes", 2048, 1024, 240, 0.01, 1, False),
    "pretty-surf-1": ("FCNResNet", "resnet18", "Cityscapes", 2048, 768, 200, 0.001, 10, True),
    "neapolitan-pastry-1": ("DenseASPP", "resnet101", "Cityscapes", 2048, 768, 240, 0.01, 1,
                            True),
    "glad-voice-1": ("FCNResNet", "resnet101", "PascalVOCAug", 520, 512, 80, 0.001, 10, True),
    "peachy-snow-4": ("AttentionToScale", "resnet101", "PascalVOCAug", 520, 480, 80, 0.001, 10,
                      True),
    "smart-valley-12": ("PSPNet", "resnet101", "PascalVOCAug", 520, 480, 80, 0.001, 10, True),
    "fearless-firefly-5": ("DeepLabv3", "resnet101", "PascalVOCAug", 520, 512, 80, 0.001, 10,
                           True),
    "robust-pine-18": ("DeepLabv3PlusR", "resnet101", "PascalVOCAug", 520, 480, 80, 0.001, 10,
                       True),
    "hopeful-snowflake-1": ("FCNResNet", "resnet101", "NYUv2", 640, 480, 120, 0.01, 1, True),
    "grateful-vortex-8": ("PSPNet", "resnet101", "NYUv2", 640, 480, 180, 0.01, 1, True),
    "comfy-dew-31": ("DeepLabv3PlusR", "resnet101", "NYUv2", 640, 480, 240, 0.001, 10, True),
}


def test_every_published_run_has_its_config():
    assert set(RUNS) <= {p.stem for p in CONFIGS}
    assert len(CONFIGS) >= 19        # 19 README rows (Cityscapes 10, ADE20K 1, VOC 5, NYUv2 3)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_benchmark_config(path):
    cfg = load_config(path)
    assert cfg.aux is False and cfg.norm_layer == "SyncBN" and cfg.loss_norm == "original"
    assert (cfg.optimizer, cfg.lr_scheduler, cfg.momentum, cfg.wd) == ("sgd", "poly", 0.9, 1e-4)
    if path.stem in RUNS:
        model, backbone, data, base, crop, epochs, lr, lr_mult, dilate = RUNS[path.stem]
        assert (canonical_name(cfg.model_name), cfg.backbone, cfg.data_name, cfg.base_size,
                cfg.crop_size, cfg.epochs, cfg.lr, cfg.lr_mult, cfg.dilate) == \
            (model, backbone, data, base, crop, epochs, lr, lr_mult, dilate)
    # the model builds for the dataset's classes (on meta: no memory, no time)
    nclass = get_dataset_class(cfg.data_name).NUM_CLASS
    with torch.device("meta"):
        model = create_model(cfg.model_name, nclass, backbone=cfg.backbone, aux=cfg.aux,
                             dilate=cfg.dilate)
    assert count_parameters(model) > 1e6
    # the model-zoo page links it, and the run command in its header names it
    assert f"(../configs/{path.name})" in DOC
    assert f"--config configs/{path.name}" in path.read_text()
    assert yaml.safe_load(path.read_text())["model_name"] in list_models()


def test_model_zoo_page_lists_every_model_with_the_original_count():
    counts = json.loads((REPO / "tests" / "fixtures" / "original_counts.json").read_text())
    rows = [line for line in DOC.splitlines() if line.startswith("| ")]
    original_models = {r["model"] for r in counts}    # not the GluonCV-only ones
    assert len(original_models) == 25 and original_models <= set(list_models())
    for name in sorted(original_models):
        mine = [r for r in rows if r.startswith(f"| {name} |")]
        assert mine, f"{name} missing from docs/model_zoo.md"
        originals = {f"{r['trainable']:,} / {r['all']:,}" for r in counts
                     if r["model"] == name and r["nclass"] == 19 and not r["aux"]}
        for row in mine:
            ours, orig = re.findall(r"\| ([\d,]+ / [\d,]+) ", row)[:2]
            assert ours == orig and orig in originals, row


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_configs_name_the_scale_set_their_published_row_used(path):
    """Every table of the original's README is in its initial commit: non-Cityscapes rows were
    scored at its 7 scales 0.5 ... 2.0 (HEAD cut them to 6); Cityscapes rows at 0.75 ... 2.25,
    which is our default there."""
    cfg = load_config(path)
    if cfg.data_name == "Cityscapes":
        assert cfg.eval_scales is None
    else:
        assert cfg.eval_scales == [0.5 + 0.25 * i for i in range(7)]
