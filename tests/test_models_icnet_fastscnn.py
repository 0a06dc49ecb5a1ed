"""ICNet and Fast-SCNN, the two GluonCV architectures the original lacks, beyond what
test_gluoncv_zoo checks for every zoo name (GluonCV's count, parity with GluonCV): counts with
and without aux, ICNet's outputs as GluonCV's loss reads them, aux weights into a model without
aux, and clear errors for options these models cannot take."""
import json
from pathlib import Path

import pytest
import torch

from mxnetseg.models import count_parameters, create_model
from mxnetseg.tools.checkpoint import CheckpointError, load_model_weights
from parity import seeded_gluoncv_file

FIX = Path(__file__).parent / "fixtures"
# GluonCV's counts (scripts/parity/gluoncv.py counts; test_gluoncv_zoo checks every zoo name).
# GluonCV's ICNet ignores ``aux`` (always its four outputs and the CFF classifiers that make
# them); fastscnn_citys is built with aux. Both zoo names build our models with aux.
ROWS = {r["name"]: r for r in json.loads((FIX / "gluoncv_counts.json").read_text())["counts"]}
# FastSCNN(19, aux=False) under GluonCV (get_model("fastscnn_citys", aux=False, ...), same
# convention): its aux head is 38,227 trainable parameters
FASTSCNN_NO_AUX = (1_138_051, 1_161_731)
# Our ICNet without aux lacks the two CFF classifiers (128 -> 19, no bias)
ICNET_CFF_CLS = 2 * 128 * 19


def _counts(model):
    return count_parameters(model, "trainable"), count_parameters(model, "all")


def test_counts_with_and_without_aux():
    with torch.device("meta"):
        icnet = [create_model("icnet", 19, aux=aux) for aux in (False, True)]
        fast = [create_model("fastscnn", 19, aux=aux) for aux in (False, True)]
    row = ROWS["icnet_resnet50_citys"]
    trainable, total = row["trainable"], row["all"]
    assert _counts(icnet[1]) == (trainable, total)
    assert _counts(icnet[0]) == (trainable - ICNET_CFF_CLS, total - ICNET_CFF_CLS)
    assert _counts(fast[1]) == (ROWS["fastscnn_citys"]["trainable"], ROWS["fastscnn_citys"]["all"])
    assert _counts(fast[0]) == FASTSCNN_NO_AUX


def test_icnet_outputs_follow_gluoncv_loss():
    model = create_model("icnet", 3, aux=True).eval()
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        out = model(x)
    assert [o.shape for o in out] == [(1, 3, 40, 56)] * 4
    # GluonCV's 1/4 output resized to the input is the main output itself (ICNetLoss weights
    # 0.4, 0.4, 1.0 apply to outputs 1, 2, 3)
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0], out[2])
    plain = create_model("icnet", 3).eval()          # without aux: the main output alone
    skipped = plain.load_state_dict(model.state_dict(), strict=False)
    assert not skipped.missing_keys and sorted(skipped.unexpected_keys) == [
        "head.cff_12.conv_low_cls.weight", "head.cff_24.conv_low_cls.weight"]
    with torch.no_grad():
        (main,) = plain(x)
    assert torch.equal(main, out[0])


def test_wrong_architecture_file_is_one_error(tmp_path):
    _, path = seeded_gluoncv_file("gcv_fastscnn", tmp_path)
    with pytest.raises(CheckpointError, match=r"(?s)no counterpart.*missing in file"):
        load_model_weights(create_model("icnet", 19), path)
    # Fast-SCNN's aux weights into a model without aux: named, nothing loaded
    model = create_model("fastscnn", 19)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"no counterpart \(7\): auxlayer"):
        load_model_weights(model, path)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    _, path = seeded_gluoncv_file("gcv_icnet", tmp_path)
    with pytest.raises(CheckpointError, match=r"no counterpart \(2\): head\.cff_12\.conv_low_cls"):
        load_model_weights(create_model("icnet", 19), path)


def test_bad_options_are_clear():
    with torch.device("meta"):
        with pytest.raises(ValueError, match=r"ICNet hard-codes.*'resnet18'"):
            create_model("icnet", 19, backbone="resnet18")
        with pytest.raises(ValueError, match="ICNet always runs at output stride 8"):
            create_model("icnet", 19, output_stride=32)
        with pytest.raises(ValueError, match="only backbone None or 'fastscnn'"):
            create_model("fastscnn", 19, backbone="resnet50")
        with pytest.raises(ValueError, match="no ImageNet weights"):
            create_model("fastscnn", 19, pretrained_base=True)
