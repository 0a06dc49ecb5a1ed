"""The original's EPRNet-Cls ImageNet ``.params`` as EPRNet's backbone init (issue 13, 7).

tests/fixtures/mxnet/eprnetcls[_light]_tiny.params were written by the original's own
``EPRNetCls.save_parameters`` under MXNet (scripts/parity/original.py cls): seeded weights,
tiny widths, the full-size net's names, plus its logits for a fixed input."""
from pathlib import Path

import numpy as np
import pytest
import torch

from mxnetseg.config import Config
from mxnetseg.models import create_model
from mxnetseg.models.build import build_model
from mxnetseg.models.eprnet import EPRNetCls
from mxnetseg.tools.mxnet_maps import BACKBONE_NAME_MAPS
from mxnetseg.tools.mxnet_params import CheckpointError, read_params, write_params

FIXTURES = Path(__file__).parent / "fixtures" / "mxnet"
TINY = (2, 4, 8, 16)   # CLS_WIDTHS in scripts/parity/original.py


@pytest.mark.parametrize("tag,light", [("eprnetcls_tiny", False),
                                       ("eprnetcls_light_tiny", True)])
def test_original_classifier_params_set_every_trunk_weight(tag, light):
    path = FIXTURES / f"{tag}.params"
    arrays = read_params(path)
    trunk = EPRNetCls(light, stage_channels=TINY, pretrained=str(path)).eval()
    ours = trunk.state_dict()
    name_map = BACKBONE_NAME_MAPS[trunk.name][0]
    used = set()
    for name, array in arrays.items():
        if name.startswith("linear."):
            continue
        key = name_map(name, trunk)
        assert torch.equal(ours[key], torch.from_numpy(array)), name
        used.add(key)
    assert used == {k for k in ours if not k.endswith("num_batches_tracked")}
    # the original's logits: our trunk -> global average pool -> the file's classifier
    x = torch.from_numpy(np.load(FIXTURES / f"{tag}_input.npy"))
    with torch.no_grad():
        pooled = trunk(x).mean(dim=(2, 3))
    logits = pooled @ torch.from_numpy(arrays["linear.weight"]).T + torch.from_numpy(
        arrays["linear.bias"])
    want = torch.from_numpy(np.load(FIXTURES / f"{tag}_out.npy"))
    torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-5)


def full_size_classifier(path, light=False, seed=0):
    """A full-width EPRNet-Cls ``.params`` with the original's names (those of the tiny
    fixture) and seeded values, written with our MXNet writer."""
    names = list(read_params(FIXTURES / ("eprnetcls_light_tiny.params" if light
                                         else "eprnetcls_tiny.params")))
    trunk = EPRNetCls(light)
    shapes = trunk.state_dict()
    name_map = BACKBONE_NAME_MAPS[trunk.name][0]
    rs = np.random.RandomState(seed)
    arrays = {}
    for name in names:
        shape = ((1000, 128) if name == "linear.weight" else (1000,) if name == "linear.bias"
                 else tuple(shapes[name_map(name, trunk)].shape))
        arrays[name] = rs.uniform(0.5, 1.5, shape).astype(np.float32)
    write_params(path, arrays)
    return arrays


def test_pretrained_base_and_config_path_and_the_originals_place(tmp_path, monkeypatch):
    arrays = full_size_classifier(tmp_path / "eprnetcls_imagenet.params")
    want = torch.from_numpy(arrays["layer3.1.compact.conv.weight"])
    model = create_model("eprnet", 19, pretrained_base=str(tmp_path / "eprnetcls_imagenet.params"))
    assert torch.equal(model.backbone.layer3[1].compact[0].weight, want)

    cfg = Config(model_name="EPRNet", backbone="eprnet_cls", norm_layer="BN", aux=False)
    cfg.backbone_init.pretrained_path = str(tmp_path / "eprnetcls_imagenet.params")
    assert torch.equal(build_model(cfg, 11).backbone.layer3[1].compact[0].weight, want)

    # backbone_init: {manner: cls} with no path reads the original's weights/eprnetcls/ file
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MXNETSEG_PRETRAINED_DIR", raising=False)
    (tmp_path / "weights" / "eprnetcls").mkdir(parents=True)
    (tmp_path / "eprnetcls_imagenet.params").rename(
        tmp_path / "weights" / "eprnetcls" / "eprnetcls_imagenet.params")
    cfg.backbone_init.pretrained_path = None
    assert torch.equal(build_model(cfg, 11).backbone.layer3[1].compact[0].weight, want)
    with pytest.raises(ValueError, match=r"eprnet_cls_light.*Looked for.*eprnetcls_light_imagenet"):
        create_model("eprnet", 19, light=True, pretrained_base=True)


def test_wrong_classifier_file_is_named(tmp_path):
    full_size_classifier(tmp_path / "light.params", light=True)
    with pytest.raises(RuntimeError, match=r"light\.params.*'eprnet_cls'.*missing in file \(96\): "
                                           r"layer1\.0\.pyramid\.concurrent\.3\.0\.weight"):
        create_model("eprnet", 19, pretrained_base=str(tmp_path / "light.params"))
    write_params(tmp_path / "other.params", {"features.0.weight": np.zeros((2, 3), np.float32)})
    with pytest.raises(CheckpointError, match=r"features\.0\.weight"):
        create_model("eprnet", 19, light=True, pretrained_base=str(tmp_path / "other.params"))
