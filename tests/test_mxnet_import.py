"""MXNet .params import: the numpy reader, the FCNResNet name map, strict loading, the convert
and eval commands on an original file (output parity of every model: test_parity.py).

Fixtures (tests/fixtures/mxnet) come from scripts/parity/original.py run on the original code
under MXNet 1.9.1: ``fcn_r18`` (FCNResNet-R18, aux, OS8, nclass 5, crop 64), ``fcn_r50_names``
and the reader's ``small.params``. Weights are not stored: both sides draw each parameter from a
generator seeded by crc32 of its MXNet name (``seeded_array``).
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mxnetseg.models import create_model
from mxnetseg.tools.checkpoint import CheckpointError, load_checkpoint, load_model_weights
from mxnetseg.tools.mxnet_maps import MXNET_NAME_MAPS, map_names
from mxnetseg.tools.mxnet_params import read_params, write_params
from parity import seeded_array

FIX = Path(__file__).parent / "fixtures" / "mxnet"
DTYPES = ("float32", "float64", "float16", "uint8", "int32", "int8", "int64")


def r18_rows():
    return json.loads((FIX / "fcn_r18.json").read_text())["params"]


def r18_model(aux=True):
    return create_model("fcn", 5, backbone="resnet18", aux=aux, dilate=True).eval()


@pytest.fixture(scope="module")
def r18_params(tmp_path_factory):
    """The seeded FCNResNet-R18 weights as an MXNet .params file (the original's names/order)."""
    arrays = {name: seeded_array(name, tuple(shape)) for name, shape, _ in r18_rows()}
    return write_params(tmp_path_factory.mktemp("mx") / "fcn_r18.params", arrays)


# --- reader ---------------------------------------------------------------------------------

def test_reader_on_a_real_mxnet_file():
    d = read_params(FIX / "small.params")
    heads = [n for n in d if n.startswith("head.")]
    assert heads and set(heads) <= {"head.conv1.bn.gamma", "head.conv1.bn.beta",
                                    "head.conv1.bn.running_mean", "head.conv1.bn.running_var",
                                    "head.conv2.weight", "head.conv2.bias"}
    for n in heads:
        np.testing.assert_array_equal(d[n], seeded_array(n, d[n].shape))
        assert d[n].dtype == np.float32
    rs = np.random.RandomState(1)
    for dt in DTYPES:                                 # "arg:" prefix stripped
        want = rs.uniform(0, 100, (2, 3)).astype(dt)
        assert d[f"dtype_{dt}"].dtype == np.dtype(dt)
        np.testing.assert_array_equal(d[f"dtype_{dt}"], want)
    np.testing.assert_array_equal(d["vector"], np.arange(7, dtype=np.float32))  # "aux:" stripped
    assert "arg:dtype_int8" in read_params(FIX / "small.params", strip_prefix=False)


def test_writer_round_trip(tmp_path):
    src = read_params(FIX / "small.params")
    back = read_params(write_params(tmp_path / "x.params", src))
    assert list(back) == list(src)
    for k in src:
        assert back[k].dtype == src[k].dtype
        np.testing.assert_array_equal(back[k], src[k])


def test_reader_errors_name_the_file(tmp_path):
    raw = (FIX / "small.params").read_bytes()
    cut = tmp_path / "cut.params"
    cut.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CheckpointError, match="cut.params.*truncated"):
        read_params(cut)
    bad = tmp_path / "bad.params"
    bad.write_bytes(raw[:24] + b"\x00\x00\x00\x00" + raw[28:])      # first array's magic
    with pytest.raises(CheckpointError, match="bad.params.*array #0"):
        read_params(bad)
    other = tmp_path / "other.params"
    other.write_bytes(b"not an mxnet file at all")
    with pytest.raises(CheckpointError, match="other.params.*not an MXNet"):
        read_params(other)


# --- name map -------------------------------------------------------------------------------

def _check_map_complete(model, rows):
    names = [r[0] for r in rows]
    mapped, unmapped = map_names(model, names)
    assert unmapped == []
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert sorted(mapped.values()) == sorted(own)            # a bijection onto our parameters
    for (name, shape, *_) in rows:
        assert tuple(own[mapped[name]].shape) == tuple(shape), name


def test_fcn_resnet18_map_is_complete():
    assert "FCNResNet" in MXNET_NAME_MAPS
    _check_map_complete(r18_model(), r18_rows())


def test_fcn_resnet50_v1s_map_is_complete():
    rows = json.loads((FIX / "fcn_r50_names.json").read_text())
    assert any(r[0] == "conv1.6.weight" for r in rows)      # the v1s deep stem
    model = create_model("fcn", 5, backbone="resnet50", aux=True, dilate=True)
    _check_map_complete(model, rows)


# --- loading by content ------------------------------------------------------------------------

def test_create_model_detects_mxnet_by_content_not_extension(r18_params, tmp_path):
    odd = tmp_path / "weights.pth"                      # an MXNet file with a PyTorch name
    odd.write_bytes(r18_params.read_bytes())
    model = create_model("fcn", 5, backbone="resnet18", aux=True, dilate=True,
                         checkpoint=odd).eval()
    with torch.no_grad():
        out = model(torch.from_numpy(np.load(FIX / "fcn_r18_input.npy")))[0].numpy()
    assert np.abs(out - np.load(FIX / "fcn_r18_out.npy")[0]).max() <= 1e-4


# --- strict loading -----------------------------------------------------------------------------

def _rewrite(src, dst, edit):
    arrays = read_params(src)
    edit(arrays)
    return write_params(dst, arrays)


def test_unknown_name_fails_and_loads_nothing(r18_params, tmp_path):
    path = _rewrite(r18_params, tmp_path / "extra.params",
                    lambda a: a.__setitem__("head.mystery.weight", np.zeros(3, np.float32)))
    model = r18_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"no counterpart \(1\): head\.mystery\.weight"):
        load_model_weights(model, path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_missing_and_shape_mismatch_are_listed(r18_params, tmp_path):
    def edit(a):
        del a["bn1.gamma"]
        a["head.conv2.bias"] = np.zeros(7, np.float32)
    path = _rewrite(r18_params, tmp_path / "bad.params", edit)
    with pytest.raises(CheckpointError) as err:
        load_model_weights(r18_model(), path)
    msg = str(err.value)
    assert "missing in file (1): backbone.body.bn1.weight" in msg
    assert "head.2.bias: file (7,) vs model (5,)" in msg


def test_aux_file_into_model_without_aux_fails(r18_params):
    with pytest.raises(CheckpointError, match=r"no counterpart \(7\): aux_head\."):
        load_model_weights(r18_model(aux=False), r18_params)


def test_model_without_a_map_is_a_clear_error(r18_params):
    class Unmapped(torch.nn.Module):
        pass
    with pytest.raises(CheckpointError, match="no MXNet name map for model 'Unmapped'"):
        load_model_weights(Unmapped(), r18_params)


def test_load_checkpoint_points_to_the_converter(r18_params):
    with pytest.raises(CheckpointError, match="mxnetseg convert"):
        load_checkpoint(r18_params)


# --- convert command ----------------------------------------------------------------------------

def test_convert_command_writes_an_evaluable_checkpoint(r18_params, tmp_path):
    from mxnetseg.__main__ import main
    from mxnetseg.config import load_config
    from mxnetseg.models.build import build_model
    out = tmp_path / "fcn.pth"
    assert main(["convert", str(r18_params), str(out), "--model", "fcn", "--backbone",
                 "resnet18", "--nclass", "5", "--aux", "--dilate"]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt["nclass"] == 5
    assert ckpt["config"]["model_name"] == "FCNResNet" and ckpt["config"]["aux"] is True
    cfg = load_config(None, {**ckpt["config"], "backbone_init": {"manner": None}})
    model = build_model(cfg, ckpt["nclass"]).eval()
    load_model_weights(model, out)
    want = np.load(FIX / "fcn_r18_out.npy")
    with torch.no_grad():
        got = model(torch.from_numpy(np.load(FIX / "fcn_r18_input.npy")))[0].numpy()
    assert np.abs(got - want[0]).max() <= 1e-4


def test_convert_command_refuses_a_misfit(r18_params, tmp_path, capsys):
    from mxnetseg.__main__ import main
    out = tmp_path / "fcn.pth"
    assert main(["convert", str(r18_params), str(out), "--model", "fcn", "--backbone",
                 "resnet34", "--nclass", "5", "--aux", "--dilate"]) == 1
    assert not out.exists()
    assert "missing in file" in capsys.readouterr().err


def test_eval_takes_the_mxnet_file_directly(r18_params, toy_root, tmp_path):
    """``eval --checkpoint X.params`` scores exactly like the converted .pth."""
    from mxnetseg.__main__ import main
    assert main(["convert", str(r18_params), str(tmp_path / "fcn.pth"), "--model", "fcn",
                 "--backbone", "resnet18", "--nclass", "5", "--aux", "--dilate"]) == 0
    common = ["--model", "fcn", "--backbone", "resnet18", "--aux", "--dilate", "--data", "toy",
              "--data-root", str(toy_root), "--crop", "96", "--base", "128"]
    for name in ("fcn_r18.params", "fcn.pth"):
        src = r18_params if name.endswith(".params") else tmp_path / name
        assert main(["eval", "--checkpoint", str(src), *common,
                     "--json", str(tmp_path / f"{name}.json")]) == 0
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("fcn_r18.params", "fcn.pth"))
    assert a["pixAcc"] > 0 and a == b


def test_eval_of_an_mxnet_file_needs_the_model_flags(r18_params, toy_root, capsys):
    from mxnetseg.__main__ import main
    assert main(["eval", "--checkpoint", str(r18_params), "--data", "toy"]) == 2
    assert "is an MXNet .params file and carries no config" in capsys.readouterr().err
