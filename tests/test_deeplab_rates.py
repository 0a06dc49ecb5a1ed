"""``model_kwargs: {atrous_rates: [...]}`` reaches every DeepLab variant's ASPP (issue 13, 2a)."""
import pytest
import torch.nn as nn

from mxnetseg.config import Config
from mxnetseg.models import ModelConfigError, count_parameters, create_model
from mxnetseg.models.build import build_model

VARIANTS = [("DeepLabv3", "resnet18", (6, 12, 18)),
            ("DeepLabv3PlusR", "resnet50", (12, 24, 36)),
            ("DeepLabv3PlusX", None, (12, 24, 36)),
            ("DeepLabv3PlusW", None, (12, 24, 36))]


def aspp_dilations(model) -> list:
    """Dilations of the ASPP's 3x3 convs, in branch order."""
    return [m.dilation[0] for m in model.head.aspp.modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]


@pytest.mark.parametrize("name,backbone,default", VARIANTS)
def test_rates_reach_the_aspp_and_keep_the_parameter_count(name, backbone, default):
    kw = {"backbone": backbone} if backbone else {}
    plain = create_model(name, 5, **kw)
    wide = create_model(name, 5, atrous_rates=[3, 7, 11], **kw)
    assert aspp_dilations(plain) == list(default)
    assert aspp_dilations(wide) == [3, 7, 11]
    assert count_parameters(wide) == count_parameters(plain)


def test_config_model_kwargs_reach_deeplabv3():
    cfg = Config(model_name="DeepLabv3", backbone="resnet18", norm_layer="BN",
                 model_kwargs={"atrous_rates": [12, 24, 36]})
    cfg.backbone_init.manner = None
    assert aspp_dilations(build_model(cfg, 4)) == [12, 24, 36]


def test_gluoncv_zoo_deeplab_uses_12_24_36():
    model = create_model("deeplab_resnet50_ade", pretrained=False)
    assert aspp_dilations(model) == [12, 24, 36]


@pytest.mark.parametrize("bad", [[12, 24], [0, 12, 18], [6, 12.5, 18], "12,24,36",
                                 [True, 2, 3], [6, 12, 18, 24]])
def test_bad_rates_name_the_key(bad):
    with pytest.raises(ModelConfigError, match=r"model_kwargs\.atrous_rates.*three positive"):
        create_model("DeepLabv3", 3, backbone="resnet18", atrous_rates=bad)
