"""SwiftResNet / SwiftResNetPr specifics: names, forced output stride, the half-scale input of
the pyramid variant, its fusion stage against the formula, and the MXNet name map."""
import json
from pathlib import Path

import pytest
import torch

from mxnetseg.models import create_model, get_model_builder
from mxnetseg.models.layers import resize
from mxnetseg.models.swiftnet import PyramidFusion, SwiftResNet, SwiftResNetPr
from mxnetseg.tools.mxnet_maps import map_names

FIX = Path(__file__).parent / "fixtures" / "mxnet"


@pytest.mark.parametrize("alias,cls", [("swiftnet", SwiftResNet), ("swift", SwiftResNet),
                                       ("SwiftResNet", SwiftResNet),
                                       ("swiftnetpr", SwiftResNetPr), ("swift_pr", SwiftResNetPr),
                                       ("SWIFTRESNETPR", SwiftResNetPr)])
def test_aliases(alias, cls):
    assert get_model_builder(alias) is cls


@pytest.mark.parametrize("name", ["SwiftResNet", "SwiftResNetPr"])
def test_output_stride_forced_to_32(name):
    with torch.device("meta"):
        assert create_model(name, 19, dilate=True).backbone.output_stride == 32
        assert create_model(name, 19, output_stride=32).backbone.output_stride == 32
        with pytest.raises(ValueError, match=f"{name} always runs at output stride 32"):
            create_model(name, 19, output_stride=8)


@pytest.mark.parametrize("size,half", [((64, 96), (32, 48)), ((69, 93), (34, 46))])
def test_pyramid_runs_the_backbone_on_the_half_size_input(size, half):
    model = create_model("SwiftResNetPr", 3).eval()
    seen = []
    model.backbone.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        out, = model(x)
    assert [tuple(t.shape[-2:]) for t in seen] == [size, half]
    assert torch.allclose(seen[1], resize(x, half))          # bilinear, align_corners=True
    assert out.shape == (1, 3, *size)


def test_pyramid_fusion_is_the_formula():
    torch.manual_seed(0)
    fusion = PyramidFusion(6 + 4, 8).eval()
    high, full, half = torch.randn(1, 8, 2, 3), torch.randn(1, 4, 5, 6), torch.randn(1, 6, 5, 6)
    low = fusion.conv1x1(torch.cat([half, full], dim=1))     # half-scale feature first
    want = fusion.conv3x3(resize(high, (5, 6)) + low)
    with torch.no_grad():
        assert torch.allclose(fusion(high, full, half), want, atol=1e-6)
        # a half-scale feature one pixel off (odd input sizes) is aligned to its partner
        odd = torch.randn(1, 6, 4, 5)
        aligned = fusion(high, full, resize(odd, (5, 6)))
        assert torch.allclose(fusion(high, full, odd), aligned, atol=1e-6)
    final = PyramidFusion(4, 8).eval()
    with torch.no_grad():
        assert torch.allclose(final(high, full),
                              final.conv3x3(resize(high, (5, 6)) + final.conv1x1(full)))


def test_pyramid_head_widths_follow_the_backbone():
    # the original builds its convs with deferred input channels: any ResNet fits
    with torch.device("meta"):
        head = create_model("SwiftResNetPr", 19, backbone="resnet50").head
    assert head.conv1x1[0].in_channels == 2048
    assert [head.fusion_32x.conv1x1[0].in_channels, head.fusion_16x.conv1x1[0].in_channels,
            head.fusion_8x.conv1x1[0].in_channels, head.final.conv1x1[0].in_channels] == \
        [1024 + 2048, 512 + 1024, 256 + 512, 256]
    assert head.seg_head[0][0].out_channels == 128


@pytest.mark.parametrize("tag,name", [("swiftnet_resnet18_aux", "SwiftResNet"),
                                      ("swiftnetpr_resnet18_aux", "SwiftResNetPr")])
def test_mxnet_map_covers_the_state_dict(tag, name):
    names = [row[0] for row in json.loads((FIX / f"{tag}.json").read_text())["params"]]
    with torch.device("meta"):
        model = create_model(name, 5, aux=True)
        plain = create_model(name, 5)
    mapped, unmapped = map_names(model, names)
    assert not unmapped
    ours = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert sorted(mapped.values()) == sorted(ours)          # one to one, nothing left out
    # the aux head's weights have no home in a model built without aux
    _, unmapped = map_names(plain, names)
    assert unmapped and all(n.startswith("aux_head.") for n in unmapped)
