"""Evaluation shared over processes (``--procs N`` drives the ``--ctx 0 1 ...`` code path with
gloo on the CPU), ``--scales`` / ``eval_scales``, and Cityscapes test mode writing colour and
labelId PNGs from one inference."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import SHARED, need_shared, toy_subset
from mxnetseg import create_model
from mxnetseg import eval as eval_cli
from mxnetseg.data.cityscapes import TRAIN_ID_TO_LABEL_ID
from mxnetseg.tools.checkpoint import save_checkpoint

CONFIG = {"model_name": "FCNResNet", "backbone": "resnet18", "aux": False, "dilate": False,
          "norm_layer": "BN", "data_name": "toy", "crop_size": 64, "base_size": 128}


def _checkpoint(path, nclass, **config):
    """A small FCN with random weights and BatchNorm statistics of random images: its masks
    vary with the image (with default statistics a random FCN predicts one class)."""
    torch.manual_seed(0)
    net = create_model("fcn", nclass, backbone="resnet18", pretrained_base=False)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None               # a plain average over the calibration batch
        net.train()(torch.randn(8, 3, 96, 128))
    return save_checkpoint({"model": net.state_dict(), "config": {**CONFIG, **config},
                            "nclass": nclass}, path)


@pytest.fixture(scope="module")
def toy5(toy_root, tmp_path_factory):
    """5 val images (an odd count: the two processes get 3 and 2) and 3 test images."""
    root, _ = toy_subset(toy_root, tmp_path_factory.mktemp("toy5"), val=5, test=3)
    ckpt = _checkpoint(tmp_path_factory.mktemp("ckpt") / "fcn.pth", 5)
    return root, ckpt


@pytest.fixture(scope="module")
def toy1(toy5, tmp_path_factory):
    """One val image, same checkpoint: for checks of what runs, not of what it scores."""
    root, _ = toy_subset(toy5[0], tmp_path_factory.mktemp("toy1"), val=1)
    return root, toy5[1]


def _eval(capfd, ckpt, root, *flags):
    """``eval`` in this process; ``--procs 2`` spawns two CPU processes in a gloo group."""
    rc = eval_cli.main(["--checkpoint", str(ckpt), "--data-root", str(root), *flags])
    out = capfd.readouterr()
    assert rc == 0, out.err[-3000:]
    return out.out


@pytest.mark.slow
def test_two_processes_give_the_metrics_of_one(toy5, tmp_path, capfd):
    root, ckpt = toy5
    for ms in ([], ["--ms", "--scales", "0.75", "1.0", "1.5", "--window-batch", "3"]):
        results = {}
        for procs in (1, 2):
            path = tmp_path / f"{procs}{'ms' if ms else ''}.json"
            out = _eval(capfd, ckpt, root, "--json", str(path), "--procs", str(procs), *ms)
            results[procs] = json.loads(path.read_text())
            line = [x for x in out.splitlines() if "pixAcc" in x][-1]
            with capfd.disabled():
                print(f"\n{procs} process(es){' --ms' if ms else ''}: {line}")
            assert ("2 processes" in line) == (procs == 2)
            if ms:
                assert "scales [0.75, 1.0, 1.5], flip True" in line
        # not a degenerate model: it hits at least two classes somewhere
        assert 0 < results[1]["mIoU"] < 1 and sum(iou > 0 for iou in results[1]["IoU"]) >= 2
        assert results[2] == results[1]


@pytest.mark.slow
def test_two_processes_write_each_prediction_once(toy5, tmp_path, capfd):
    root, ckpt = toy5
    written = {}
    for procs in (1, 2):
        pred = tmp_path / f"p{procs}"
        out = _eval(capfd, ckpt, root, "--mode", "testval", "--save-dir", str(pred),
                    "--procs", str(procs))
        assert "wrote 5 prediction PNGs" in out
        files = sorted(p.relative_to(pred) for p in pred.rglob("*.png"))
        written[procs] = {f: np.array(Image.open(pred / f)) for f in files}
    assert len(written[1]) == 5 and list(written[2]) == list(written[1])
    for name, mask in written[1].items():
        np.testing.assert_array_equal(written[2][name], mask)


def _fake_cityscapes(root):
    """A Cityscapes test split of two cities, made from the real sample image (shrunk)."""
    sample = need_shared(SHARED / "realdata" / "mmsegmentation_tests" / "tests" / "data" /
                         "pseudo_cityscapes_dataset" / "leftImg8bit" / "val" / "frankfurt" /
                         "frankfurt_000000_000294_leftImg8bit.png")
    image = Image.open(sample).convert("RGB").resize((128, 64), Image.BILINEAR)
    names = []
    for city, flip in (("berlin", False), ("bonn", True)):
        folder = root / "Cityscapes" / "leftImg8bit" / "test" / city
        folder.mkdir(parents=True)
        name = f"{city}_000000_000019_leftImg8bit.png"
        (image.transpose(Image.FLIP_LEFT_RIGHT) if flip else image).save(folder / name)
        names.append(f"leftImg8bit/test/{city}/{name}")   # relative to the data folder
    return names


def test_cityscapes_test_mode_one_inference_two_outputs(tmp_path, monkeypatch, capfd):
    names = _fake_cityscapes(tmp_path / "data")
    ckpt = _checkpoint(tmp_path / "city.pth", 19, data_name="Cityscapes")
    import mxnetseg.models.build as build
    real_build, calls = build.build_model, []

    def counted(*args, **kwargs):
        model = real_build(*args, **kwargs)
        model.register_forward_pre_hook(lambda _m, inputs: calls.append(inputs[0].shape[0]))
        return model

    monkeypatch.setattr(build, "build_model", counted)
    rc = eval_cli.main(["--checkpoint", str(ckpt), "--data-root", str(tmp_path / "data"),
                        "--mode", "test", "--save-dir", str(tmp_path / "out"),
                        "--no-optimize"])    # the optimiser's trace would count as a call
    assert rc == 0, capfd.readouterr().err
    # 64x128 at crop 64: 3 windows, batched into one forward per image, for both outputs
    assert calls == [3, 3]
    assert "wrote 4 prediction PNGs" in capfd.readouterr().out
    for name in names:
        rel = Path(name).with_suffix(".png")
        colour = Image.open(tmp_path / "out" / rel)
        label_ids = Image.open(tmp_path / "out" / "submission" / rel)
        assert colour.mode == "P" and label_ids.mode == "L"
        train_ids = np.array(colour)
        assert train_ids.shape == (64, 128) and len(np.unique(train_ids)) > 1
        np.testing.assert_array_equal(np.array(label_ids), TRAIN_ID_TO_LABEL_ID[train_ids])


def test_scales_flag_and_config_key(toy1, tmp_path, capfd):
    root, ckpt = toy1

    def line(*argv):
        rc = eval_cli.main(["--checkpoint", str(ckpt), "--data-root", str(root), *argv])
        out = capfd.readouterr()
        assert rc == 0, out.err
        return [x for x in out.out.splitlines() if "pixAcc" in x][-1]

    assert "(scales [0.5, 1.0, 1.75], flip True)" in line("--ms", "--scales", "0.5", "1", "1.75")
    cfg = tmp_path / "scales.yaml"
    cfg.write_text(yaml.safe_dump({"eval_scales": [0.8, 1.2]}))
    assert "(scales [0.8, 1.2], flip True)" in line("--ms", "--config", str(cfg))
    assert "(scales [1.0], flip False)" in line("--config", str(cfg))    # no --ms: one scale
    assert "(scales [0.6], flip True)" in line("--ms", "--config", str(cfg), "--scales", "0.6")
    default = "(scales [0.5, 0.75, 1.0, 1.25, 1.5, 1.75], flip True)"
    assert default in line("--ms")


@pytest.mark.parametrize("argv, message", [
    (["--scales", "0.5", "1.0"], "add --ms"),
    (["--ms", "--scales", "0.5", "-1"], "'-1' is not a positive number"),
    (["--ms", "--scales", "x"], "'x' is not a positive number"),
    (["--window-batch", "0"], "--window-batch must be >= 1"),
    (["--procs", "0"], "--procs 0"),
])
def test_bad_evaluation_flags(toy5, capfd, argv, message):
    root, ckpt = toy5
    try:
        rc = eval_cli.main(["--checkpoint", str(ckpt), "--data-root", str(root), *argv])
    except SystemExit as err:       # argparse's own errors
        rc = err.code
    assert rc == 2 and message in capfd.readouterr().err


@pytest.mark.parametrize("value", [[], [0.5, 0], [-1.0], "abc"])
def test_bad_eval_scales_config(value):
    from mxnetseg.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="eval_scales"):
        load_config(None, {"eval_scales": value})
