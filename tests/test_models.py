"""Model registry and FCNResNet: builds, odd sizes, aux outputs, original parameter counts."""
import json
from pathlib import Path

import pytest
import torch

from mxnetseg.models import (UnknownModelError, count_parameters, create_model, list_models)

# The original's counts, measured by running the original MXNetSeg under MXNet 1.9.1 with
# scripts/parity/original.py counts (rows of tests/fixtures/original_counts.json, whose
# MANIFEST.json records the run): (model, backbone, dilate, aux, nclass) -> (trainable, all
# incl. BN running mean/var). The README's "#Params" column is the "all" convention without
# aux: FCN R18 12.4M, R101 47.5M.
ORIGINAL_COUNTS = {
    ("FCNResNet", "resnet18", True, False, 19): (12_361_555, 12_371_667),
    ("FCNResNet", "resnet50", True, False, 19): (28_355_795, 28_409_811),
    ("FCNResNet", "resnet101", True, False, 19): (47_347_923, 47_454_163),
}
# +aux head on c3 for R101 (same file: the aux=True row minus the aux=False row, trainable)
AUX_R101_TRAINABLE = 2_364_691
COUNTS_FILE = Path(__file__).parent / "fixtures" / "original_counts.json"


def test_counts_here_are_the_measured_ones():
    rows = {(r["model"], r["backbone"], r["dilate"], r["aux"], r["nclass"]): (r["trainable"], r["all"])
            for r in json.loads(COUNTS_FILE.read_text()) if not r["kwargs"]}
    for key, counts in ORIGINAL_COUNTS.items():
        assert rows[key] == counts, key
    aux = rows["FCNResNet", "resnet101", True, True, 19][0]
    assert aux - rows["FCNResNet", "resnet101", True, False, 19][0] == AUX_R101_TRAINABLE


def test_registry_names_and_aliases():
    assert "FCNResNet" in list_models()
    for name in ("FCNResNet", "fcnresnet", "FCN", "fcn"):
        assert type(create_model(name, 3, backbone="resnet18")).__name__ == "FCNResNet"


def test_unknown_model_suggests():
    with pytest.raises(UnknownModelError, match=r"Did you mean 'FCNResNet'"):
        create_model("FCNResNt", 3)
    with pytest.raises(TypeError, match=r"no option 'dropp'.*Did you mean 'drop'"):
        create_model("fcn", 3, backbone="resnet18", dropp=0.1)
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet19'.*resnet18"):
        create_model("fcn", 3, backbone="resnet19")


@pytest.mark.parametrize("key", sorted(ORIGINAL_COUNTS))
def test_parameter_counts_equal_original(key):
    name, backbone, dilate, aux, nclass = key
    with torch.device("meta"):   # counting needs no memory or time
        model = create_model(name, nclass, backbone=backbone, dilate=dilate, aux=aux)
    assert (count_parameters(model, "trainable"), count_parameters(model, "all")) == \
        ORIGINAL_COUNTS[key]


def test_aux_head_count_and_dilation_does_not_change_count():
    with torch.device("meta"):
        base = create_model("fcn", 19, backbone="resnet101", dilate=True)
        aux = create_model("fcn", 19, backbone="resnet101", dilate=True, aux=True)
        os32 = create_model("fcn", 19, backbone="resnet101", dilate=False)
    assert count_parameters(aux, "trainable") - count_parameters(base, "trainable") == \
        AUX_R101_TRAINABLE
    assert count_parameters(os32) == count_parameters(base)


@pytest.mark.parametrize("dilate", [True, False])
def test_fcn_forward_backward_odd_sizes(dilate):
    torch.manual_seed(0)
    model = create_model("fcn", 5, backbone="resnet18", dilate=dilate, aux=True)
    for h, w in ((97, 131), (65, 49)):
        x = torch.randn(2, 3, h, w)
        out = model(x)
        assert isinstance(out, tuple) and len(out) == 2
        assert all(o.shape == (2, 5, h, w) for o in out)
        sum(o.mean() for o in out).backward()
        assert model.backbone.body.conv1.weight.grad is not None
        model.zero_grad()
    model.aux_head = None
    assert len(model(torch.randn(1, 3, 33, 35))) == 1


def test_output_stride_and_gluon_dilation_pattern():
    m8 = create_model("fcn", 2, backbone="resnet50", dilate=True).backbone
    feats = m8(torch.randn(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == [16, 8, 8, 8]
    assert m8.channels == (256, 512, 1024, 2048)
    layer3, layer4 = m8.body.layer3, m8.body.layer4
    # GluonCV dilated Bottleneck: layer3 first block d=1 then d=2; layer4 first d=2 then d=4
    assert layer3[0].conv2.dilation == (1, 1) and layer3[1].conv2.dilation == (2, 2)
    assert layer4[0].conv2.dilation == (2, 2) and layer4[2].conv2.dilation == (4, 4)
    m16 = create_model("fcn", 2, backbone="resnet18", output_stride=16).backbone
    assert [f.shape[-1] for f in m16(torch.randn(1, 3, 64, 64))] == [16, 8, 4, 4]


def test_v1s_deep_stem_and_v1b_stem():
    deep = create_model("fcn", 2, backbone="resnet50").backbone.body.conv1
    assert [c.out_channels for c in deep if isinstance(c, torch.nn.Conv2d)] == [64, 64, 128]
    plain = create_model("fcn", 2, backbone="resnet18").backbone.body.conv1
    assert plain.kernel_size == (7, 7)


def test_group_norm_option():
    model = create_model("fcn", 3, backbone="resnet18", norm_layer="GN")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model(torch.randn(1, 3, 40, 40))[0].shape == (1, 3, 40, 40)


def test_eval_mode_turns_dropout_off():
    """FCN's head has dropout: two training-mode calls differ, two eval-mode calls are equal."""
    torch.manual_seed(0)
    model = create_model("fcn", 4, backbone="resnet18", drop=0.5)
    x = torch.randn(2, 3, 45, 51)
    with torch.no_grad():
        assert not torch.equal(model(x)[0], model(x)[0])
        model.eval()
        assert torch.equal(model(x)[0], model(x)[0])


def test_pretrained_offline_error_is_clear(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf   # read at import: patch the constant, not the env
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"MXNETSEG_PRETRAINED_DIR"):
        create_model("fcn", 3, backbone="resnet18", pretrained_base=True)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        create_model("fcn", 3, backbone="resnet18", pretrained_base=str(tmp_path / "nope.pth"))


def test_pretrained_from_local_file(tmp_path):
    import timm
    src = timm.create_model("resnet18", pretrained=False)
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    model = create_model("fcn", 3, backbone="resnet18", pretrained_base=str(tmp_path / "r18.pth"))
    assert torch.equal(model.backbone.body.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
