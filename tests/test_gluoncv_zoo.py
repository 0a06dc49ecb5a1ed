"""GluonCV's segmentation model zoo by its names: every name builds with GluonCV's parameter
count (measured under MXNet by scripts/parity/gluoncv.py), and one checkpoint per architecture
family, written as GluonCV's ``save_parameters`` file, gives GluonCV's outputs."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mxnetseg.models import (UnknownModelError, count_parameters, create_model,
                             get_model_builder, is_zoo_name, list_models, zoo_spec)
from mxnetseg.models.gluoncv_zoo import ZOO, ZooSpec
from mxnetseg.tools.checkpoint import CheckpointError
from mxnetseg.tools.mxnet_params import write_params
from parity import seeded_array

FIX = Path(__file__).parent / "fixtures"
COUNTS = json.loads((FIX / "gluoncv_counts.json").read_text())
ROWS = {r["name"]: r for r in COUNTS["counts"]}
GCV = FIX / "gluoncv"
TAGS = sorted(f.stem for f in GCV.glob("*.json"))
# ~40M+ parameters each (Wider ResNet-38: 137M, a 550 MB .params file): DANet runs by default
FAST = {"gcv_danet"}
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


def _seeded_file(tag, tmp_dir):
    data = json.loads((GCV / f"{tag}.json").read_text())
    arrays = {}
    for name, shape, total in data["params"]:
        arrays[name] = seeded_array(name, tuple(shape))
        assert abs(arrays[name].astype(np.float64).sum() - total) <= 1e-6 * max(1, abs(total))
    return data["spec"], write_params(Path(tmp_dir) / f"{tag}.params", arrays)


@pytest.mark.parametrize("tag", [t if t in FAST else pytest.param(t, marks=pytest.mark.slow)
                                 for t in TAGS])
def test_parity_with_gluoncv(tag, tmp_path):
    spec, path = _seeded_file(tag, tmp_path)
    model = create_model(spec["name"], checkpoint=path).eval()
    x = torch.from_numpy(np.load(GCV / f"{tag}_input.npy"))
    with torch.no_grad():
        ours = [o.numpy() for o in model(x)]
    theirs = np.load(GCV / f"{tag}_out.npy")
    assert len(ours) == len(theirs), "number of outputs (main + aux) differs"
    step = spec["step"]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape[-2:] == x.shape[-2:], "output not at the input's size"
        a = a[:, :, ::step, ::step]
        assert a.shape == b.shape, f"output {i}"
        assert np.abs(b).max() > 1e-2 and b.std() > 1e-3, "degenerate fixture output"
        rel = float(np.abs(a - b).max() / np.abs(b).max())
        assert rel <= REL_TOL, f"{spec['name']} output {i}: max diff {rel:.3g} of max |output|"


def test_other_architectures_file_is_refused_with_the_list(tmp_path):
    from mxnetseg.tools.checkpoint import load_model_weights
    _, path = _seeded_file("gcv_danet", tmp_path)         # danet_resnet50_citys weights
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
