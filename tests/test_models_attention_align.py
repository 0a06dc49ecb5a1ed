"""ACFNet, AttaNet, AlignSeg, FaPN: names, forced strides and their special bricks: flow warping
and the modulated deformable conv against independent written-out references, ACF and strip
attention against their formulas computed with the modules' own convs.
Output parity with the original is in test_parity.py (fixtures *_resnet18_aux)."""
import pytest
import torch
import torch.nn.functional as F

from mxnetseg.models import create_model, get_model_builder
from mxnetseg.models.acfnet import ACFModule
from mxnetseg.models.alignseg import flow_warp
from mxnetseg.models.attanet import StripAttentionModule
from mxnetseg.models.fapn import ModulatedDeformConv


@pytest.mark.parametrize("alias,name", [("acfnet", "ACFNet"), ("acf", "ACFNet"),
                                        ("attanet", "AttaNet"), ("alignseg", "AlignSeg"),
                                        ("fapn", "FaPN")])
def test_aliases(alias, name):
    assert get_model_builder(alias) is get_model_builder(name)


def test_forced_output_strides():
    with torch.device("meta"):
        assert create_model("acf", 19, backbone="resnet18").backbone.output_stride == 8
        for name in ("attanet", "alignseg", "fapn"):
            assert create_model(name, 19, backbone="resnet18",
                                dilate=True).backbone.output_stride == 32
        with pytest.raises(ValueError, match="ACFNet always runs at output stride 8"):
            create_model("acfnet", 19, backbone="resnet18", output_stride=16)
        with pytest.raises(ValueError, match="FaPN always runs at output stride 32"):
            create_model("fapn", 19, backbone="resnet18", output_stride=8)


def test_flow_warp_matches_mxnet_warp_formula():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7)
    assert torch.allclose(flow_warp(x, torch.zeros(2, 2, 5, 7)), x, atol=1e-6)
    # an integer shift moves pixels and fills zeros (MXNet BilinearSampler pads with zeros)
    flow = torch.zeros(2, 2, 5, 7)
    flow[:, 0] = 2.0                                   # channel 0 = along the width
    shifted = flow_warp(x, flow)
    torch.testing.assert_close(shifted[..., :-2], x[..., 2:])
    assert torch.equal(shifted[..., -2:], torch.zeros_like(shifted[..., -2:]))
    # random sub-pixel flows: GridGenerator(warp) normalisation 2(x + dx)/(W - 1) - 1 with
    # align_corners=True sampling
    flow = torch.randn(2, 2, 5, 7) * 2
    rows, cols = torch.meshgrid(torch.arange(5.0), torch.arange(7.0), indexing="ij")
    grid = torch.stack([2 * (cols + flow[:, 0]) / 6 - 1, 2 * (rows + flow[:, 1]) / 4 - 1], -1)
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    torch.testing.assert_close(flow_warp(x, flow), ref)
    # a one-pixel-wide map (where the original divides by zero) stays finite
    assert torch.isfinite(flow_warp(x[..., :1], flow[..., :1])).all()


def _reference_mdcn(x, offset, mask, weight, bias, groups):
    """Modulated deformable 3x3 conv (pad 1) written out: tap k = (i, j) of group g samples
    channels of g at (row + i - 1 + offset[2(gK+k)], col + j - 1 + offset[2(gK+k)+1]),
    bilinear with zeros outside, times mask[gK+k]."""
    n, c, h, w = x.shape
    rows, cols = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype),
                                indexing="ij")
    cg = c // groups
    out = bias.view(1, -1, 1, 1).expand(n, -1, h, w).clone()
    for g in range(groups):
        for k in range(9):
            i, j = divmod(k, 3)
            t = g * 9 + k
            y = rows + i - 1 + offset[:, 2 * t]
            xx = cols + j - 1 + offset[:, 2 * t + 1]
            grid = torch.stack([2 * xx / (w - 1) - 1, 2 * y / (h - 1) - 1], -1)
            sampled = F.grid_sample(x[:, g * cg:(g + 1) * cg], grid, padding_mode="zeros",
                                    align_corners=True) * mask[:, t:t + 1]
            out = out + torch.einsum("oc,nchw->nohw", weight[:, g * cg:(g + 1) * cg, i, j],
                                     sampled)
    return out


def test_modulated_deform_conv_matches_reference():
    torch.manual_seed(0)
    conv = ModulatedDeformConv(8, 4, 3, 1, deformable_groups=2).double()
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    # zero-initialised offset conv (as MXNet's): offsets 0 and masks 2 * sigmoid(0) = 1
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1))
    with torch.no_grad():
        conv.conv_offset.weight.normal_(0, 0.3)
        conv.conv_offset.bias.normal_(0, 0.5)
        raw = conv.conv_offset(x)                      # 36 offsets (dy, dx per tap), 18 masks
        ref = _reference_mdcn(x, raw[:, :36], 2 * torch.sigmoid(raw[:, 36:]), conv.weight,
                              conv.bias, groups=2)
        torch.testing.assert_close(conv(x), ref)


def test_acf_module_follows_the_acf_formula():
    """The class-attention arithmetic, computed with the module's own convs."""
    torch.manual_seed(0)
    acf = ACFModule(6, 6, torch.nn.BatchNorm2d).eval()
    x, coarse = torch.randn(2, 6, 3, 4), torch.randn(2, 5, 3, 4)
    f = acf.conv_1(x).flatten(2)                                            # N C HW
    p = coarse.flatten(2)                                                   # N K HW (raw logits)
    energy = torch.einsum("nkp,ncp->nkc", p, f)
    attn = torch.softmax(energy.max(-1, keepdim=True).values - energy, dim=-1)   # over C
    ref = acf.conv_2(torch.einsum("nkc,nkp->ncp", attn, p).view(2, 6, 3, 4))
    torch.testing.assert_close(acf(x, coarse), ref)


def test_strip_attention_follows_the_strip_formula():
    """Strip pooling and attention, computed with the module's own convs."""
    torch.manual_seed(0)
    sam = StripAttentionModule(8, torch.nn.BatchNorm2d).eval()
    x = torch.randn(2, 8, 3, 5)
    q = sam.query_conv(x)                                                   # N C' H W
    k = sam.key_conv(x).mean(2)                                             # N C' W (H pooled)
    v = sam.value_conv(x).mean(2)                                           # N C W
    attn = torch.softmax(torch.einsum("nchw,ncv->nhwv", q, k), dim=-1)      # over the strips
    torch.testing.assert_close(sam(x), torch.einsum("ncv,nhwv->nchw", v, attn) + x)
