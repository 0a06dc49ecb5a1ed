"""MXNet name maps of PSPNet, DeepLabv3, DeepLabv3PlusR, DenseASPP, DANet and AttentionToScale
on the ResNet-101 trunk (the original's listed configurations).

``<tag>_r101_names.json`` lists [name, shape] of every parameter of the ORIGINAL model (MXNet
1.9.1, resnet101, nclass 19, aux on, ``_collect_params_with_prefix`` names). Every name must map
to one of our keys with the same shape, and every key of ours must be hit once; our models are
built on the ``meta`` device (no memory, no time). Output parity on the small trunks is in
test_parity.py (fixtures pspnet_r50, deeplabv3_r18, deeplabv3plusr_r50, denseaspp_r50,
danet_r18, att2scale_r18).
"""
import json
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from mxnetseg.models import create_model
from mxnetseg.tools.mxnet_maps import map_names

FIX = Path(__file__).parent / "fixtures" / "mxnet"
MODELS = {"PSPNet": "pspnet", "DeepLabv3": "deeplabv3", "DeepLabv3PlusR": "deeplabv3plusr",
          "DenseASPP": "denseaspp", "DANet": "danet", "AttentionToScale": "att2scale"}


def _rows(model):
    return json.loads((FIX / f"{MODELS[model]}_r101_names.json").read_text())


@lru_cache(maxsize=None)
def _build(model, aux=True):
    with torch.device("meta"):
        return create_model(model, 19, backbone="resnet101", aux=aux, dilate=True)


def _own(net):
    return {k: tuple(v.shape) for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_r101_map_is_a_shape_exact_bijection(model):
    rows = _rows(model)
    assert any(name.startswith("layer3.22.") for name, _ in rows)   # really the 101-layer trunk
    net = _build(model)
    mapped, unmapped = map_names(net, [name for name, _ in rows])
    assert unmapped == []
    own = _own(net)
    assert sorted(mapped.values()) == sorted(own)          # every key of ours hit exactly once
    for name, shape in rows:
        assert own[mapped[name]] == tuple(shape), name


@pytest.mark.parametrize("model", sorted(set(MODELS) - {"DeepLabv3PlusR"}))
def test_aux_weights_do_not_fit_a_model_without_aux(model):
    """The aux heads' names find no key of an aux-free model (the strict loader then refuses
    the file instead of silently dropping them)."""
    names = [name for name, _ in _rows(model) if name.startswith("aux_head.")]
    assert names
    net = _build(model, aux=False)
    mapped, unmapped = map_names(net, names)
    own = _own(net)
    assert all(mapped[n] not in own for n in mapped)
    assert len(mapped) + len(unmapped) == len(names)


@pytest.mark.parametrize("model, name", [
    ("PSPNet", "head.pool.conv0.conv.weight"),             # bins are numbered from 1
    ("PSPNet", "head.pool.conv1.relu.weight"),
    ("DenseASPP", "head.dense_aspp.dilate1.conv.extra.weight"),
    ("DenseASPP", "head.dense_aspp.other1.conv.weight"),
    ("DeepLabv3", "head.aspp.branches.4.gap.weight"),
    ("DANet", "head.cam.beta"),
    ("AttentionToScale", "aux_head.0.conv3.weight"),
])
def test_unknown_names_are_not_mapped(model, name):
    assert map_names(_build(model), [name])[1] == [name]
