"""GluonCV's ImageNet DenseNet ``.params`` as our DenseNet backbone's weights (issue 13, 7).

tests/fixtures/gcv_cls/densenet121.json: the parameter names, shapes and seeded sums of
GluonCV's ``densenet121`` classifier and its logits for a seeded input, written under MXNet by
``scripts/parity/gluoncv.py classifier``. The test writes the same seeded weights as GluonCV's
``save_parameters`` file and loads it into our backbone."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mxnetseg.models import create_model
from mxnetseg.models.densenet import DenseNetBackbone
from mxnetseg.tools.mxnet_params import write_params

from parity import _seeded_arrays

FIX = Path(__file__).parent / "fixtures" / "gcv_cls"


@pytest.fixture(scope="module")
def gluoncv_file(tmp_path_factory):
    data = json.loads((FIX / "densenet121.json").read_text())
    arrays = _seeded_arrays(data["params"])
    path = write_params(tmp_path_factory.mktemp("gcv") / "densenet121-f27dbf2d.params", arrays)
    return data["spec"], arrays, path


def test_gluoncv_densenet121_params_give_gluoncvs_logits(gluoncv_file):
    spec, arrays, path = gluoncv_file
    crop = spec["crop"]
    x = np.random.RandomState(0).standard_normal((1, 3, crop, crop)).astype(np.float32)
    assert abs(x.astype(np.float64).sum() - spec["input_sum"]) < 1e-6
    trunk = DenseNetBackbone("densenet121", pretrained=str(path)).eval()
    assert torch.equal(trunk.stem.conv0.weight, torch.from_numpy(arrays["features.0.weight"]))
    assert torch.equal(trunk.layer4.norm5.running_var,
                       torch.from_numpy(arrays["features.11.running_var"]))
    with torch.no_grad():   # GluonCV: features (.. BN, ReLU) -> 7x7 average pool -> Dense
        pooled = trunk(torch.from_numpy(x))[-1].mean(dim=(2, 3))
    logits = pooled @ torch.from_numpy(arrays["output.weight"]).T + torch.from_numpy(
        arrays["output.bias"])
    want = torch.from_numpy(np.load(FIX / "densenet121_out.npy"))
    torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


def test_ladderdensenet_takes_it_as_pretrained_base(gluoncv_file):
    _, arrays, path = gluoncv_file
    model = create_model("LadderDenseNet", 11, pretrained_base=str(path))
    want = torch.from_numpy(arrays["features.10.15.1.5.weight"])   # block 4, last 3x3 conv
    assert torch.equal(model.backbone.layer4.denseblock4.denselayer16.conv2.weight, want)
    with pytest.raises(RuntimeError, match=r"densenet169.*missing in file"):
        create_model("LadderDenseNet", 11, backbone="densenet169", pretrained_base=str(path))
