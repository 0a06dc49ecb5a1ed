"""ICNet and Fast-SCNN, the two GluonCV architectures the original lacks: GluonCV's exact
parameter counts, and parity with GluonCV itself (fixtures of scripts/parity/gluoncv.py: its
seeded weights as a ``save_parameters`` file through our name map, same input, eval mode)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mxnetseg.models import count_parameters, create_model
from mxnetseg.tools.checkpoint import CheckpointError, load_model_weights
from mxnetseg.tools.mxnet_params import write_params
from parity import seeded_array

FIX = Path(__file__).parent / "fixtures" / "gluoncv"

# Measured under MXNet 1.9.1 + GluonCV by
#   scripts/parity/gluoncv.py counts OUT.json icnet_resnet50_citys icnet_resnet50_mhpv1 \
#       fastscnn_citys
# (get_model(name, pretrained=False, pretrained_base=False)): (trainable, all incl. BN stats).
# GluonCV's ICNet ignores ``aux`` (always its four outputs and the CFF classifiers that make
# them); fastscnn_citys is built with aux. Both zoo names build our models with aux.
GLUONCV_COUNTS = {
    "icnet_resnet50_citys": (47_489_184, 47_550_112),
    "icnet_resnet50_mhpv1": (47_489_184, 47_550_112),      # MHP v1: 19 classes as Cityscapes
    "fastscnn_citys": (1_176_278, 1_200_086),
}
# FastSCNN(19, aux=False) under GluonCV (same script's build, aux=False): the aux head is
# 38,227 trainable parameters
FASTSCNN_NO_AUX = (1_138_051, 1_161_731)
# Our ICNet without aux lacks the two CFF classifiers (128 -> 19, no bias)
ICNET_CFF_CLS = 2 * 128 * 19


@pytest.mark.parametrize("zoo_name", sorted(GLUONCV_COUNTS))
def test_zoo_name_counts_equal_gluoncv(zoo_name):
    with torch.device("meta"):
        model = create_model(zoo_name)
    assert (count_parameters(model, "trainable"), count_parameters(model, "all")) == \
        GLUONCV_COUNTS[zoo_name]


def test_counts_with_and_without_aux():
    with torch.device("meta"):
        icnet = [create_model("icnet", 19, aux=aux) for aux in (False, True)]
        fast = [create_model("fastscnn", 19, aux=aux) for aux in (False, True)]
    trainable, total = GLUONCV_COUNTS["icnet_resnet50_citys"]
    assert (count_parameters(icnet[1], "trainable"), count_parameters(icnet[1])) == \
        (trainable, total)
    assert (count_parameters(icnet[0], "trainable"), count_parameters(icnet[0])) == \
        (trainable - ICNET_CFF_CLS, total - ICNET_CFF_CLS)
    assert (count_parameters(fast[0], "trainable"), count_parameters(fast[0])) == FASTSCNN_NO_AUX
    assert count_parameters(fast[1]) == GLUONCV_COUNTS["fastscnn_citys"][1]


def _fixture(tag, tmp_path):
    """(spec, .params path of GluonCV's seeded weights, input, GluonCV's sampled outputs)."""
    data = json.loads((FIX / f"{tag}.json").read_text())
    arrays = {}
    for name, shape, total in data["params"]:
        arrays[name] = seeded_array(name, tuple(shape))
        assert abs(arrays[name].astype(np.float64).sum() - total) <= 1e-6 * max(1, abs(total))
    path = write_params(tmp_path / f"{tag}.params", arrays)
    x = torch.from_numpy(np.load(FIX / f"{tag}_input.npy"))
    return data["spec"], path, x, np.load(FIX / f"{tag}_out.npy")


def _run(model, path, x, step):
    load_model_weights(model.eval(), path)
    with torch.no_grad():
        return [o.numpy()[:, :, ::step, ::step] for o in model(x)]


@pytest.mark.parametrize("tag,model", [("icnet_resnet50_citys", "ICNet"),
                                       ("fastscnn_citys", "FastSCNN")])
def test_parity_with_gluoncv(tag, model, tmp_path):
    spec, path, x, theirs = _fixture(tag, tmp_path)
    # every output (ICNet's cascade outputs resized to the input, as GluonCV's loss does)
    ours = _run(create_model(model, 19, aux=True), path, x, spec["step"])
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape, f"output {i}"
        assert np.abs(b).max() > 1e-2 and b.std() > 1e-3, "degenerate fixture output"
        diff = float(np.abs(a - b).max())
        assert diff <= 1e-4 * float(np.abs(b).max()), f"output {i}: max abs diff {diff:.3g}"
    # the zoo name alone builds a model that takes GluonCV's file and gives its main output
    main = _run(create_model(spec["name"]), path, x, spec["step"])[0]
    np.testing.assert_allclose(main, theirs[0], rtol=0, atol=1e-4 * float(np.abs(theirs[0]).max()))


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
    _, path, _, _ = _fixture("fastscnn_citys", tmp_path)
    with pytest.raises(CheckpointError, match=r"(?s)no counterpart.*missing in file"):
        load_model_weights(create_model("icnet", 19), path)
    # Fast-SCNN's aux weights into a model without aux: named, nothing loaded
    model = create_model("fastscnn", 19)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"no counterpart \(7\): auxlayer"):
        load_model_weights(model, path)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    _, path, _, _ = _fixture("icnet_resnet50_citys", tmp_path)
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
