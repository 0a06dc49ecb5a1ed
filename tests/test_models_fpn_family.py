"""SemanticFPN, LadderDenseNet (DenseNet backbone), GFFNet and SeENet: aliases, forced options,
hard-coded channels, and each brick against a direct reference of the original's formula."""
import pytest
import torch
import torch.nn.functional as F

from mxnetseg.models import create_model, get_model_builder
from mxnetseg.models.densenet import DENSENET_CHANNELS, DenseNetBackbone
from mxnetseg.models.gffnet import GFFHead
from mxnetseg.models.layers import GCN
from mxnetseg.models.seenet import BoundaryAttention, SeEModule
from mxnetseg.models.semanticfpn import SemanticBranch


@pytest.mark.parametrize("alias,name", [
    ("semanticfpn", "SemanticFPN"), ("fpn", "SemanticFPN"), ("ladderdensenet", "LadderDenseNet"),
    ("ladder", "LadderDenseNet"), ("gffnet", "GFFNet"), ("gff", "GFFNet"), ("seenet", "SeENet"),
    ("see", "SeENet")])
def test_aliases(alias, name):
    assert get_model_builder(alias) is get_model_builder(name)


def test_forced_options():
    with torch.device("meta"):
        fpn = create_model("fpn", 19, backbone="resnet18", aux=True, dilate=True)
        assert fpn.backbone.output_stride == 32 and getattr(fpn, "aux_head", None) is None
        assert create_model("gff", 19, backbone="resnet18").backbone.output_stride == 8
        assert create_model("see", 19, dilate=False).backbone.output_stride == 8
        assert create_model("ladder", 19, dilate=True).backbone.output_stride == 32
        for name in ("fpn", "gff", "see", "ladder"):
            with pytest.raises(ValueError, match="always runs at output stride"):
                create_model(name, 19, output_stride=16)


def test_seenet_hard_codes_c1_and_c3():
    with torch.device("meta"):
        for aux in (False, True):   # boundary attention needs c1 = 256 even without aux
            with pytest.raises(ValueError, match=r"SeENet hard-codes.*c1=256.*'resnet18'"):
                create_model("see", 19, backbone="resnet18", aux=aux)
        assert create_model("see", 19, backbone="resnet101", aux=True).aux_head is not None


def test_semantic_branch_equals_fixed_x2_steps_at_multiples_of_32():
    torch.manual_seed(0)
    branch = SemanticBranch(in_ch=6, capacity=4).eval()
    p5, p4, p3, p2 = (torch.randn(2, 6, 2 * s, 3 * s) for s in (1, 2, 4, 8))

    def up2(x):  # the original's HybridSequentialUpscale step
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)

    def climb(x, convs):
        for conv in convs:
            x = up2(conv(x))
        return x
    with torch.no_grad():
        ref = (climb(p5, branch.scale_p5) + climb(p4, branch.scale_p4)
               + climb(p3, branch.scale_p3) + branch.scale_p2(p2))
        assert torch.allclose(branch(p5, p4, p3, p2), ref, atol=1e-6)
        # any other size: each step lands on the next level's size
        odd = [torch.randn(1, 6, h, w) for h, w in ((2, 3), (3, 5), (6, 9), (12, 17))]
        assert branch(*odd).shape == (1, 4, 12, 17)


def test_densenet_stages():
    with torch.device("meta"):   # shapes only, every variant
        for name, channels in DENSENET_CHANNELS.items():
            feats = DenseNetBackbone(name)(torch.empty(1, 3, 64, 96))
            assert tuple(f.shape[1] for f in feats) == channels
            assert [tuple(f.shape[-2:]) for f in feats] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    torch.manual_seed(0)
    net = DenseNetBackbone("densenet121").eval()
    with torch.no_grad():
        c1, c2, c3, c4 = net(torch.randn(1, 3, 64, 64))
    # c1..c3 are raw concatenations (the new features are conv outputs, signed);
    # c4 went through the final BN-ReLU
    assert all((c < 0).any() for c in (c1, c2, c3)) and (c4 >= 0).all()
    with pytest.raises(ValueError, match="unknown DenseNet backbone"):
        DenseNetBackbone("densenet100")


def test_densenet_weights(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf
    import timm
    src = timm.create_model("densenet121", num_classes=0)
    torch.save(src.state_dict(), tmp_path / "d121.pth")
    net = DenseNetBackbone("densenet121", pretrained=str(tmp_path / "d121.pth"))
    assert torch.equal(net.layer3.denseblock3.denselayer5.conv2.weight,
                       src.features.denseblock3.denselayer5.conv2.weight)
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"densenet121\.tv_in1k.*MXNETSEG_PRETRAINED_DIR"):
        create_model("ladder", 3, pretrained_base=True)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        DenseNetBackbone("densenet121", pretrained=str(tmp_path / "nope.pth"))


def test_gff_fusion_is_sequential():
    """Each level's update uses the already-updated earlier levels (the original's order)."""
    torch.manual_seed(0)
    chans = (4, 6, 8, 8)
    head = GFFHead(3, chans, channels=8).eval()
    feats = [torch.randn(2, c, s, s) for c, s in zip(chans, (8, 4, 4, 4))]
    seen = []
    hooks = [f.register_forward_hook(lambda m, i, o: seen.append(i[0])) for f in head.fusions]
    with torch.no_grad():
        head(*feats)
        gates = [g(f) for g, f in zip(head.gates, feats)]
        r = [red(f) for red, f in zip(head.reduce, feats)]

        def up(x, like):
            return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=True)
        parallel = list(r)
        r[0] = r[0] + gates[0] * r[0] + (1 - gates[0]) * (
            up(gates[1] * r[1], r[0]) + up(gates[2] * r[2], r[0]) + up(gates[3] * r[3], r[0]))
        r[1] = r[1] + gates[1] * r[1] + (1 - gates[1]) * (
            up(gates[0] * r[0], r[1]) + gates[2] * r[2] + gates[3] * r[3])
        r[2] = r[2] + gates[2] * r[2] + (1 - gates[2]) * (
            up(gates[0] * r[0], r[2]) + gates[1] * r[1] + gates[3] * r[3])
        r[3] = r[3] + gates[3] * r[3] + (1 - gates[3]) * (
            up(gates[0] * r[0], r[3]) + gates[1] * r[1] + gates[2] * r[2])
        # the simultaneous (non-sequential) update differs from level 2 on
        p1 = parallel[1] + gates[1] * parallel[1] + (1 - gates[1]) * (
            up(gates[0] * parallel[0], parallel[1]) + gates[2] * parallel[2]
            + gates[3] * parallel[3])
    for got, ref in zip(seen, r):
        assert torch.allclose(got, ref, atol=1e-5)
    assert not torch.allclose(seen[1], p1, atol=1e-3)
    for h in hooks:
        h.remove()


def test_see_module_and_boundary_attention():
    torch.manual_seed(0)
    see = SeEModule(10, channels=4, rates=(1, 2, 3, 5), full_sample=True).eval()
    assert all(isinstance(b[1], GCN) and b[2][0].dilation == (r, r)
               for b, r in zip(see.branches, (1, 2, 3, 5)))
    x = torch.randn(2, 10, 7, 9)
    with torch.no_grad():
        ref = see.proj(torch.cat([x] + [b(x) for b in see.branches], 1))
        assert torch.allclose(see(x), ref)
    assert SeEModule(10, 4).branches[0][1][0].kernel_size == (3, 3)   # no GCN by default

    bam = BoundaryAttention(3, low_ch=6, high_ch=4).eval()
    high, low = torch.randn(2, 4, 5, 5), torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        a = torch.sigmoid(bam.conv1x1[1](bam.conv1x1[0](high)))
        lo = bam.fconv3x3(bam.fconv1x1(low * (1 - a)))
        assert torch.allclose(bam(high, low), bam.cconv1x1(bam.cconv3x3(high + lo)), atol=1e-6)
