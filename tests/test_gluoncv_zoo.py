"""GluonCV's segmentation model zoo by its names: every name builds with GluonCV's parameter
count (measured under MXNet by scripts/parity/gluoncv.py), and one checkpoint per architecture
family, written as GluonCV's ``save_parameters`` file, gives GluonCV's outputs."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from mxnetseg.models import (UnknownModelError, count_parameters, create_model,
                             get_model_builder, is_zoo_name, list_models, zoo_spec)
from mxnetseg.models.gluoncv_zoo import ZOO, ZooSpec
from mxnetseg.tools.checkpoint import CheckpointError
from parity import (GLUONCV_FIX as GCV, gluoncv_fixture_tags, relative_diff, run_gluoncv_fixture,
                    seeded_gluoncv_file)

COUNTS = json.loads((Path(__file__).parent / "fixtures" / "gluoncv_counts.json").read_text())
ROWS = {r["name"]: r for r in COUNTS["counts"]}
TAGS = gluoncv_fixture_tags()
# ~40M+ parameters each (Wider ResNet-38: 137M, a 550 MB .params file): DANet runs by default,
# and Fast-SCNN (1.2M)
FAST = {"gcv_danet", "gcv_fastscnn"}
REL_TOL = 1e-4


def _registered(name):
    try:
        get_model_builder(zoo_spec(name).model)
        return True
    except UnknownModelError:
        return False


def test_zoo_lists_exactly_gluoncvs_names():
    assert sorted(ZOO) == sorted(ROWS), "ZOO and GluonCV's model list differ"
    assert COUNTS["provenance"]["made_by"] == "scripts/parity/gluoncv.py"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_count_equals_gluoncv(name):
    if not _registered(name):
        pytest.skip(f"{zoo_spec(name).model} is not part of this build")
    with torch.device("meta"):     # no memory for the 100M+ parameter trunks
        model = create_model(name)
    theirs = ROWS[name]
    assert (count_parameters(model, "trainable"), count_parameters(model, "all")) == \
        (theirs["trainable"], theirs["all"])


@pytest.mark.parametrize("tag", [t if t in FAST else pytest.param(t, marks=pytest.mark.slow)
                                 for t in TAGS])
def test_parity_with_gluoncv(tag, tmp_path):
    spec, ours, theirs = run_gluoncv_fixture(tag, tmp_path)
    assert len(ours) == len(theirs), "number of outputs (main + aux) differs"
    x_size = np.load(GCV / f"{tag}_input.npy").shape[-2:]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape[-2:] == x_size, "output not at the input's size"
        assert a[:, :, ::spec["step"], ::spec["step"]].shape == b.shape, f"output {i}"
        assert np.abs(b).max() > 1e-2 and b.std() > 1e-3, "degenerate fixture output"
    rel = relative_diff(ours, theirs, spec["step"])
    assert rel <= REL_TOL, f"{spec['name']}: max diff {rel:.3g} of max |output|"


def test_other_architectures_file_is_refused_with_the_list(tmp_path):
    from mxnetseg.tools.checkpoint import load_model_weights
    _, path = seeded_gluoncv_file("gcv_danet", tmp_path)         # danet_resnet50_citys weights
    model = create_model("danet_resnet50_citys", nclass=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"shape mismatch \(6\).*head\.head\.1\.weight"):
        load_model_weights(model, path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), \
        "partially loaded"
    with pytest.raises(CheckpointError, match=r"no counterpart \(\d+\): head\.conv5a"):
        create_model("fcn_resnet50_voc", checkpoint=path)


def test_zoo_names_resolve():
    spec = zoo_spec("PSP_ResNet101_Citys")
    assert isinstance(spec, ZooSpec) and is_zoo_name("psp_resnet101_citys")
    assert (spec.model, spec.backbone, spec.nclass, spec.dataset, spec.aux) == \
        ("PSPNet", "resnet101", 19, "cityscapes", True)
    assert "psp_resnet101_citys" in list_models(zoo=True)
    assert "psp_resnet101_citys" not in list_models()
    with pytest.raises(UnknownModelError, match="psp_resnet101_citys"):
        zoo_spec("psp_resnet101_city")
    with pytest.raises(UnknownModelError, match="psp_resnet101_citys"):
        create_model("psp_resnet101_city")
    with pytest.raises(TypeError, match="needs nclass"):
        create_model("PSPNet")


def test_zoo_spec_fixes_the_architecture_and_eval_config_builds_it():
    from mxnetseg.config import load_config
    from mxnetseg.tools.trainer import build_model
    # eval.py's defaults (backbone resnet50, no aux) must not override what the zoo name says
    cfg = load_config(None, {"model_name": "deeplab_resnet101_citys", "data_name": "cityscapes",
                             "backbone": "resnet50", "aux": False, "dilate": False,
                             "backbone_init": {"manner": None}})
    with torch.device("meta"):
        model = build_model(cfg, 19)
    assert model.backbone.name == "resnet101" and model.backbone.output_stride == 8
    assert model.aux_head is not None
    assert count_parameters(model) == ROWS["deeplab_resnet101_citys"]["all"]


@pytest.mark.parametrize("name", ["deeplab_resnest50_ade", pytest.param(
    "deeplab_v3b_plus_wideresnet_citys", marks=pytest.mark.slow)])
def test_any_input_size(name):
    model = create_model(name, nclass=3).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 37, 50))
    assert [tuple(o.shape) for o in out] == [(1, 3, 37, 50)] * len(out)


def test_model_zoo_page_has_every_zoo_name_with_both_counts():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "model_zoo.md").read_text()
    for name, theirs in ROWS.items():
        row = [r for r in doc.splitlines() if r.startswith(f"| {name} |")]
        assert len(row) == 1, f"{name}: regenerate docs/model_zoo.md (scripts/model_zoo_doc.py)"
        counts = re.findall(r"\| ([\d,]+ / [\d,]+) ", row[0])
        gluoncv = f"{theirs['trainable']:,} / {theirs['all']:,}"
        assert gluoncv in counts, row[0]
        if _registered(name):
            assert counts == [gluoncv, gluoncv], row[0]
        from mxnetseg.models.model_store import MODEL_SHA1
        if name in MODEL_SHA1:
            assert f"python -m mxnetseg download {name}" in row[0]
        else:   # in GluonCV's zoo, but GluonCV never published its weights
            assert "published no weights" in row[0], row[0]


def test_eval_cli_takes_a_zoo_name_and_its_dataset(tmp_path):
    from mxnetseg.eval import _config_for, parse_args
    from mxnetseg.tools.mxnet_params import write_params
    path = write_params(tmp_path / "x.params", {"conv1.0.weight": np.zeros((1, 1), np.float32)})
    cfg, _ = _config_for(parse_args(["--checkpoint", str(path), "--model", "psp_resnet101_citys",
                                     "--mode", "val", "--ms"]))
    assert (cfg.model_name, cfg.data_name) == ("psp_resnet101_citys", "cityscapes")
    cfg, _ = _config_for(parse_args(["--checkpoint", str(path), "--model",
                                     "psp_resnet101_citys", "--data", "camvid"]))
    assert cfg.data_name == "camvid"       # an explicit --data wins
