"""Every registered model: exactly the original's parameter counts (meta device, cheap), and a
training step at odd sizes giving the original's outputs at the input size plus an eval-mode
forward that is deterministic (no dropout). The training step of the models that cost ~1 s or
more on 2 cores (ResNet-50/101 at output stride 8 and the like) is marked slow: their heads
still run on every ``pytest`` in test_parity.py (small trunks, eval)."""
import inspect
import json
from pathlib import Path

import pytest
import torch

from mxnetseg.models import count_parameters, create_model, get_model_builder, list_models
from mxnetseg.models.layers import ChannelAttention, SelfAttentionModule
from parity import model_from_spec

NCLASS = 5
RUN_SIZES = ((69, 93), (49, 37))   # odd, not multiples of any stride; batch 2 (BN on 1x1 maps)

# name -> (number of outputs with aux=True, output stride the model forces (None = honours
# dilate)[, backbone to run the train/eval part with when the default is too big for CI]).
# Output order (the original's forward; SEED-MAP §4.1): main first, then the original's aux
# order. The number of outputs is also measured by original.py counts (rows with aux on).
EXPECTED = {
    "FCNResNet": (2, None),          # main, aux(c3)
    "PSPNet": (2, 8),                # main, aux(c3)
    "DeepLabv3": (2, None),          # main, aux(c3)
    "DeepLabv3PlusR": (1, None),     # aux forced off
    "DenseASPP": (2, 8),             # main, aux(c3)
    "DANet": (3, 8),                 # main, pam, cam
    "AttentionToScale": (3, 8),      # main, aux(c4 1.0x), aux(c4 0.5x)
    "BiSeNetR": (3, 32),             # main, aux(c4), aux(c3)
    "DeepLabv3PlusX": (1, 8),        # aux forced off; Xception65 forced to OS8
    "DeepLabv3PlusW": (1, 8),        # GluonCV's v3b+ on Wider ResNet-38: no aux, OS8
    "BiSeNetX": (3, 32),             # main, aux(layer3), aux(layer2)
    "FCNMobileNet": (2, 32),         # main, aux(c3)
    "SemanticFPN": (1, 32, "resnet18"),   # aux forced off
    "LadderDenseNet": (2, 32),       # main, aux(compressed c4)
    "GFFNet": (2, 8, "resnet18"),    # main, aux(c3)
    "SeENet": (2, 8),                # main, aux(c3); needs c1 = 256, c3 = 1024
    "ACFNet": (3, 8, "resnet18"),    # main, coarse, aux(c3)
    "AttaNet": (2, 32),              # main, aux(c3)
    "AlignSeg": (2, 32, "resnet18"),  # main, aux(c4)
    "FaPN": (2, 32, "resnet18"),     # main, aux(c3)
    "SETR": (5, 16, "vit_mini_16"),  # PUP: main, aux(blocks 24, 20, 15, 10); ViT stride 16
    "CANetv1": (2, 8),               # main, aux(c3); c4 = 2048 hard-coded
    "CANetv2": (2, 8, "resnet18"),   # main, aux(c3); OS8 whatever dilate
    "EPRNet": (1, 8),                # aux forced off; own EPRNet-Cls trunk
    "SwiftResNet": (2, 32),          # main, aux(c3)
    "SwiftResNetPr": (2, 32),        # main, aux(c3 of the 1.0x image)
    # GluonCV's architectures the original lacks
    "ICNet": (4, 8),                 # main, 1/4 (= main resized), 1/8 CFF, 1/16 CFF
    "FastSCNN": (2, 32),             # main, aux(1/8 features); own trunk
}

# The original's parameter counts, measured by running the original code under MXNet 1.9.1
# (scripts/parity/original.py counts): every model at nclass 19 with aux off and on, 21 and
# 150 on its default backbone, 19 on the benchmark backbones. "trainable" = grad_req != null;
# "all" = + BN running mean/var (MXNet counts them as parameters).
ORIGINAL_COUNTS = json.loads(
    (Path(__file__).parent / "fixtures" / "original_counts.json").read_text())
# Head-only trainable parameters (everything outside ``backbone``), nclass 19, no aux, R101
# unless noted, in millions: SEED-MAP §4.1, the survey's split of the original's parameters
# into base network and head (original.py counts measures whole models only; the totals above
# are exact, so this checks where our backbone ends).
HEAD_ONLY_M = {
    ("FCNResNet", "resnet101"): 4.724, ("PSPNet", "resnet101"): 13.641,
    ("DeepLabv3", "resnet101"): 16.130, ("DeepLabv3PlusR", "resnet101"): 16.942,
    ("DeepLabv3PlusX", "xception65"): 16.887, ("DenseASPP", "resnet101"): 26.624,
    ("DANet", "resnet101"): 23.935, ("ACFNet", "resnet101"): 34.490,
    ("AttentionToScale", "resnet101"): 23.600, ("AlignSeg", "resnet101"): 10.575,
    ("FaPN", "resnet101"): 9.880, ("GFFNet", "resnet101"): 23.153, ("SeENet", "resnet101"): 5.583,
    ("SemanticFPN", "resnet101"): 4.382, ("CANetv1", "resnet101"): 10.071,
    ("CANetv2", "resnet101"): 15.150, ("BiSeNetR", "resnet18"): 2.017,
    ("SwiftResNet", "resnet18"): 3.008, ("SwiftResNetPr", "resnet18"): 0.988,
    ("AttaNet", "resnet18"): 1.315, ("LadderDenseNet", "densenet121"): 0.955,
    ("EPRNet", None): 0.150,
}
# The original README's "#Params" column (its Cityscapes table; "all" convention, no aux).
README_PARAMS = {("FCNResNet", "resnet101"): 47.5, ("PSPNet", "resnet101"): 56.4,
                 ("DeepLabv3", "resnet101"): 58.9, ("DenseASPP", "resnet101"): 69.4,
                 ("DANet", "resnet101"): 66.7, ("BiSeNetR", "resnet18"): 13.2}


def _build_meta(row):
    with torch.device("meta"):   # counting needs no memory or time
        return model_from_spec(row)


# GluonCV-only architectures: counted against GluonCV in test_gluoncv_zoo.py
GLUONCV_ONLY = {"DeepLabv3PlusW", "ICNet", "FastSCNN"}


def _check_counts(name):
    if name in GLUONCV_ONLY:
        return
    rows = [r for r in ORIGINAL_COUNTS if r["model"] == name]
    assert rows, f"measure {name}'s original parameter counts into original_counts.json"
    assert {(r["nclass"], r["aux"]) for r in rows} >= {(19, False), (19, True), (21, False),
                                                       (150, False)}
    for row in rows:
        model = _build_meta(row)
        key = (row["backbone"], row["nclass"], row["aux"], row["kwargs"])
        got = (count_parameters(model, "trainable"), count_parameters(model, "all"))
        assert got == (row["trainable"], row["all"]), key
        if row["aux"] and "outputs" in row and row["backbone"] == rows[0]["backbone"] \
                and row["kwargs"] == rows[0]["kwargs"]:   # e.g. SETR's decoders differ
            assert row["outputs"] == EXPECTED[name][0], key
        if row["aux"] or row["nclass"] != 19 or row["kwargs"].get("light"):
            continue
        if (name, row["backbone"]) in README_PARAMS:
            assert round(got[1] / 1e6, 1) == README_PARAMS[name, row["backbone"]]
        if (name, row["backbone"]) in HEAD_ONLY_M:
            head = sum(p.numel() for n, p in model.named_parameters()
                       if not n.startswith("backbone."))
            assert round(head / 1e6, 3) == HEAD_ONLY_M[name, row["backbone"]], key


# the training step of these costs ~1-2.5 s each on a quiet 2-core machine: slow
HEAVY = {"DANet", "AttentionToScale", "DeepLabv3PlusX", "LadderDenseNet", "DeepLabv3PlusR",
         "DenseASPP", "FaPN", "GFFNet", "DeepLabv3", "PSPNet", "CANetv1", "CANetv2", "SeENet",
         # GluonCV-only: Wider ResNet-38 (137M parameters, a full-resolution first stage), ICNet
         "DeepLabv3PlusW", "ICNet"}


@pytest.mark.parametrize("name", list_models())
def test_counts_equal_original(name):
    assert name in EXPECTED, f"add {name} to EXPECTED (outputs with aux, forced output stride)"
    _check_counts(name)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in list_models()])
def test_train_step_and_eval(name):
    assert name in EXPECTED, f"add {name} to EXPECTED (outputs with aux, forced output stride)"
    n_aux_out, forced_os, *run_backbone = EXPECTED[name]
    default_backbone = inspect.signature(get_model_builder(name)).parameters["backbone"].default
    backbone = run_backbone[0] if run_backbone else default_backbone
    torch.manual_seed(0)

    # training: aux on, forward + backward at two odd sizes, logits at the input size
    model = create_model(name, NCLASS, backbone=backbone, aux=True)
    assert model.backbone.output_stride == (forced_os or 32)   # dilate=False by default
    for h, w in RUN_SIZES:
        out = model(torch.randn(2, 3, h, w))
        assert isinstance(out, tuple) and len(out) == n_aux_out
        assert all(o.shape == (2, NCLASS, h, w) for o in out)
        sum(o.mean() for o in out).backward()
        unused = [n for n, p in model.named_parameters() if p.grad is None]
        assert not unused, f"parameters outside the graph: {unused[:5]}"
        model.zero_grad(set_to_none=True)

    # inference: aux off gives only the main output; eval mode is deterministic (dropout off)
    model = create_model(name, NCLASS, backbone=backbone).eval()
    x = torch.randn(1, 3, *RUN_SIZES[1])
    with torch.no_grad():
        first, again = model(x), model(x)
    assert len(first) == 1 and first[0].shape == (1, NCLASS, *RUN_SIZES[1])
    assert torch.equal(first[0], again[0])


@pytest.mark.parametrize("alias,name", [
    ("psp", "PSPNet"), ("pspnet", "PSPNet"), ("deeplabv3", "DeepLabv3"), ("deeplab", "DeepLabv3"),
    ("deeplabv3plus", "DeepLabv3PlusR"), ("deeplabv3+", "DeepLabv3PlusR"),
    ("DeepLabv3PlusR", "DeepLabv3PlusR"), ("danet", "DANet"), ("denseaspp", "DenseASPP"),
    ("att2scale", "AttentionToScale"), ("attention2scale", "AttentionToScale"),
    ("bisenet", "BiSeNetR"), ("bisenetr", "BiSeNetR"), ("deeplabv3plusx", "DeepLabv3PlusX"),
    ("bisenetx", "BiSeNetX"), ("fcn_mobilenet", "FCNMobileNet"), ("fcnmobilenet", "FCNMobileNet")])
def test_aliases(alias, name):
    assert get_model_builder(alias) is get_model_builder(name)


@pytest.mark.parametrize("name", ["PSPNet", "DenseASPP", "DeepLabv3PlusR"])
def test_hard_coded_channels_reject_resnet18_clearly(name):
    with torch.device("meta"), pytest.raises(ValueError, match=rf"{name} hard-codes.*'resnet18'"):
        create_model(name, 19, backbone="resnet18")


def test_forced_output_stride():
    with torch.device("meta"):
        assert create_model("danet", 19, output_stride=8).backbone.output_stride == 8
        assert create_model("bisenet", 19, dilate=True).backbone.output_stride == 32
        assert create_model("deeplab", 19, dilate=True).backbone.output_stride == 8
        assert create_model("deeplabv3+", 19, output_stride=16).backbone.output_stride == 16
        with pytest.raises(ValueError, match="PSPNet always runs at output stride 8"):
            create_model("psp", 19, output_stride=16)
        assert create_model("deeplabv3plusx", 19, dilate=False).backbone.output_stride == 8
        assert create_model("bisenetx", 19, dilate=True).backbone.output_stride == 32
        assert create_model("fcn_mobilenet", 19, dilate=True).backbone.output_stride == 32
        with pytest.raises(ValueError, match="DeepLabv3PlusX always runs at output stride 8"):
            create_model("deeplabv3plusx", 19, output_stride=16)


@pytest.mark.parametrize("name,backbone", [("bisenetx", "xception39"),
                                           ("fcn_mobilenet", "mobilenet_v2_0_25")])
def test_hand_written_backbone_weights(name, backbone, tmp_path):
    # True: no download exists, the error says how to pass a file
    with pytest.raises(ValueError, match=rf"no downloadable.*{backbone}.*pretrained_path"):
        create_model(name, 19, backbone=backbone, pretrained_base=True)
    # a path: a state dict of the backbone loads strictly
    src = create_model(name, 19, backbone=backbone).backbone
    torch.save(src.state_dict(), tmp_path / "w.pth")
    dst = create_model(name, 19, backbone=backbone, pretrained_base=str(tmp_path / "w.pth"))
    assert src.state_dict().keys() == dst.backbone.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(),
                                                 dst.backbone.state_dict().values(), strict=True))
    with pytest.raises(FileNotFoundError, match="do not exist"):
        create_model(name, 19, backbone=backbone, pretrained_base=str(tmp_path / "nope.pth"))


def test_single_backbone_models_reject_others():
    with torch.device("meta"):
        with pytest.raises(ValueError, match="only backbone 'xception65'"):
            create_model("deeplabv3plusx", 19, backbone="resnet101")
        with pytest.raises(ValueError, match="only backbone 'xception39'"):
            create_model("bisenetx", 19, backbone="resnet18")
        with pytest.raises(ValueError, match="unknown MobileNetV2 backbone"):
            create_model("fcn_mobilenet", 19, backbone="resnet18")


def test_danet_attention_blocks_follow_their_formulas():
    """PAM and CAM against their attention formulas, computed with the blocks' own convs."""
    torch.manual_seed(0)
    x = torch.randn(2, 16, 5, 7)
    pam, cam = SelfAttentionModule(16), ChannelAttention()
    assert torch.equal(pam(x), x) and torch.equal(cam(x), x)   # gamma starts at 0
    with torch.no_grad():
        pam.gamma.fill_(0.7)
        cam.gamma.fill_(-0.3)
    q, k, v = (c(x).flatten(2) for c in (pam.query_conv, pam.key_conv, pam.value_conv))
    attn = torch.softmax(torch.einsum("ncq,nck->nqk", q, k), dim=-1)   # rows: query pixels
    ref = 0.7 * torch.einsum("nck,nqk->ncq", v, attn).view_as(x) + x
    torch.testing.assert_close(pam(x), ref)
    f = x.flatten(2)
    energy = torch.einsum("nip,njp->nij", f, f)
    attn = torch.softmax(energy.max(-1, keepdim=True).values - energy, dim=-1)
    torch.testing.assert_close(cam(x), -0.3 * torch.einsum("nij,njp->nip", attn, f).view_as(x) + x)
