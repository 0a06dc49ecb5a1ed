"""CANetv1, CANetv2 and EPRNet specifics: aliases, forced strides and backbones, run-time sizes
of CANetv1's context flows, CANetv2's gate, EPRNet's PReLU layout and light trunk."""
import pytest
import torch
import torch.nn as nn

from mxnetseg.models import count_parameters, create_model, get_model_builder
from mxnetseg.models.canet import ContextFlow, DepthwiseSeparableConv
from mxnetseg.models.eprnet import MPUnit
from mxnetseg.models.layers import resize


@pytest.mark.parametrize("alias,name", [("canetv1", "CANetv1"), ("canetv2", "CANetv2"),
                                        ("canet", "CANetv2"), ("eprnet", "EPRNet")])
def test_aliases(alias, name):
    assert get_model_builder(alias) is get_model_builder(name)


def _context_pool_sizes(model, size):
    """Spatial sizes entering each context flow's first conv (= the pooled sizes)."""
    sizes = []
    hooks = [getattr(model.head, f"cp{i}").conv1.register_forward_hook(
        lambda m, inp, out: sizes.append(tuple(inp[0].shape[-2:]))) for i in range(1, 5)]
    with torch.no_grad():
        out = model(torch.empty(1, 3, *size, device="meta"))
    for h in hooks:
        h.remove()
    return sizes, out


def test_canetv1_sizes_follow_the_input():
    with torch.device("meta"):
        model = create_model("canetv1", 19, aux=True).eval()
    # at a crop of 128 the original pooled c4 (16 x 16) to (128 // 8) // s for s = 2, 4, 8, 16
    sizes, out = _context_pool_sizes(model, (128, 128))
    assert sizes == [(8, 8), (4, 4), (2, 2), (1, 1)]
    assert [o.shape for o in out] == [(1, 19, 128, 128)] * 2
    # another size: from c4's own size (here 24 x 10), never below 1 (the original failed)
    sizes, out = _context_pool_sizes(model, (192, 80))
    assert sizes == [(12, 5), (6, 2), (3, 1), (1, 1)]
    assert out[0].shape == (1, 19, 192, 80)


def test_context_flow_is_pool_convs_resize():
    """Pool the concatenation, the module's own two convs, resize back."""
    torch.manual_seed(0)
    flow = ContextFlow(16, 8, stride=4, norm_layer=nn.BatchNorm2d).eval()
    x, upper = torch.randn(2, 16, 9, 13), torch.randn(2, 8, 9, 13)
    pooled = nn.functional.adaptive_avg_pool2d(torch.cat([x, upper], 1), (2, 3))
    ref = resize(flow.conv2(flow.conv1(pooled)), (9, 13))
    torch.testing.assert_close(flow(x, upper), ref)


def test_depthwise_separable_conv_is_mobilenet_pattern():
    conv = DepthwiseSeparableConv(32, 16)
    assert conv.depthwise[0].groups == 32 and conv.depthwise[0].kernel_size == (3, 3)
    assert isinstance(conv.depthwise[2], nn.ReLU) and isinstance(conv.pointwise[2], nn.ReLU)
    # 3x3 depthwise + BN, 1x1 pointwise + BN, no biases
    assert count_parameters(conv, "trainable") == 32 * 9 + 2 * 32 + 32 * 16 + 2 * 16


def test_canet_output_strides_and_backbones():
    with torch.device("meta"):
        assert create_model("canetv1", 19, dilate=False).backbone.output_stride == 8
        with pytest.raises(ValueError, match="CANetv1 always runs at output stride 8"):
            create_model("canetv1", 19, output_stride=16)
        with pytest.raises(ValueError, match=r"CANetv1 hard-codes.*'resnet18'"):
            create_model("canetv1", 19, backbone="resnet18")
        assert create_model("canetv2", 19, dilate=False).backbone.output_stride == 8
        assert create_model("canetv2", 19, dilate=True).backbone.output_stride == 8
        with pytest.raises(ValueError, match="CANetv2 needs c3 and c4 at the same resolution"):
            create_model("canetv2", 19, output_stride=32)


def test_canetv2_output_stride_16_and_gate():
    torch.manual_seed(0)
    model = create_model("canetv2", 5, backbone="resnet18", output_stride=16).eval()
    assert model.backbone.output_stride == 16
    head, x = model.head, torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        _, _, c3, c4 = model.backbone(x)
        assert c3.shape[-2:] == c4.shape[-2:] == (4, 3)
        # the formula on the head's own blocks: a softmax over 4 gates, then the gated sum
        # of the 4 branches
        comp = head.comp_c4(c4)
        branches = [head.ed1(comp), head.ed2(comp), head.ed3(comp), head.comp_c3(c3)]
        gates = torch.softmax(head.conv2(head.conv1(torch.cat(branches, 1))), dim=1)
        fused = sum(gates[:, k:k + 1] * b for k, b in enumerate(branches))
        ref = resize(head.seg(torch.cat([fused, head.gap(c4)], 1)), (64, 48))
        torch.testing.assert_close(model(x)[0], ref)


def test_eprnet_backbone_aux_and_stride():
    with torch.device("meta"):
        model = create_model("eprnet", 19, backbone="eprnet_cls", aux=True, dilate=True)
        assert model.backbone.output_stride == 8 and model.backbone.channels[3] == 128
        with pytest.raises(ValueError, match=r"EPRNet has its own trunk.*'resnet50'"):
            create_model("eprnet", 19, backbone="resnet50")
        with pytest.raises(ValueError, match="EPRNet always runs at output stride 8"):
            create_model("eprnet", 19, output_stride=16)
    with torch.no_grad():
        out = create_model("eprnet", 3, aux=True).eval()(torch.randn(1, 3, 33, 41))
    assert len(out) == 1 and out[0].shape == (1, 3, 33, 41)


@pytest.mark.parametrize("light,n_act", [(False, 1 + 8 * 6 + 1), (True, 1 + 8 * 4 + 1)])
def test_eprnet_prelu_layout(light, n_act):
    """One PReLU with a single alpha (init 0.25) per activation: stem, per EPR module (3 or 4
    branches, the fusion conv unless light, the output), head."""
    with torch.device("meta"):
        model = create_model("eprnet", 19, light=light)
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == n_act and all(m.weight.shape == (1,) for m in prelus)
    assert all(m.init == 0.25 for m in prelus)
    assert all((m.conv1x1 is None) == light for m in model.modules() if isinstance(m, MPUnit))


def test_eprnet_light_pyramid_sums_its_branches():
    torch.manual_seed(0)
    unit = MPUnit(8, 16, (1, 2, 4), light=True).eval()
    x = torch.randn(1, 8, 11, 7)
    assert len(unit.concurrent) == 3
    torch.testing.assert_close(unit(x), sum(branch(x) for branch in unit.concurrent))
    assert unit.concurrent[2][0].dilation == (4, 4) and unit.concurrent[2][0].groups == 8


def test_eprnet_trunk_weights(tmp_path):
    with pytest.raises(ValueError, match=r"no downloadable.*eprnet_cls_light"):
        create_model("eprnet", 19, light=True, pretrained_base=True)
    src = create_model("eprnet", 19).backbone
    torch.save(src.state_dict(), tmp_path / "w.pth")
    dst = create_model("eprnet", 19, pretrained_base=str(tmp_path / "w.pth")).backbone
    assert src.state_dict().keys() == dst.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(),
                                                 dst.state_dict().values(), strict=True))


def test_eprnet_rejects_another_backbone_with_the_config_fix():
    with torch.device("meta"), pytest.raises(ValueError, match="backbone: eprnet_cls"):
        create_model("eprnet", 19, backbone="resnet101")   # the config's default backbone
