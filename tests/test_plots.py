"""Pictures (issue 12 item 5): evaluation plots, run curves, the original's feature/heat-map helpers."""
import builtins
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import need_module
from mxnetseg import plot as plot_cli
from mxnetseg.tools import plots
from mxnetseg.tools.visualize import overlap_heat_map, plot_features


@pytest.fixture(autouse=True)
def _matplotlib_installed():
    need_module("matplotlib")   # a test extra: a failure on CI, a skip elsewhere


def _png(path) -> tuple[int, int]:
    img = Image.open(path)
    img.verify()
    return Image.open(path).size


def test_row_normalised_rows_sum_to_one_and_empty_rows_stay_zero():
    conf = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    norm = plots.row_normalised(conf)
    np.testing.assert_allclose(norm[0], [0.75, 0.25, 0])
    np.testing.assert_allclose(norm[1], [0, 0, 0])
    np.testing.assert_allclose(norm[2], [0.25, 0.25, 0.5])


def test_error_map_marks_exactly_the_wrong_labelled_pixels():
    image = np.full((2, 3, 3), 100, np.uint8)
    label = np.array([[0, 1, -1], [2, 2, 1]])
    pred = np.array([[0, 2, 1], [2, 0, 1]])
    out = plots.error_map(image, label, pred)
    wrong = np.array([[False, True, False], [False, True, False]])   # ignore (-1) is no error
    assert (out[wrong] == plots.ERROR_COLOR).all()
    assert (out[~wrong] == 40).all()   # the dimmed image


def test_color_mask_uses_the_palette_and_blacks_out_ignore():
    palette = [(10, 20, 30), (40, 50, 60)]
    out = plots.color_mask(np.array([[0, 1, -1]]), palette)
    assert out.tolist() == [[[10, 20, 30], [40, 50, 60], [0, 0, 0]]]


def test_plot_eval_writes_three_pngs(tmp_path):
    rng = np.random.default_rng(0)
    conf = rng.integers(0, 50, (5, 5))
    names = ["background", "a", "b", "c", "d"]
    iou = np.diag(conf) / (conf.sum(0) + conf.sum(1) - np.diag(conf))
    samples = [(rng.integers(0, 255, (16, 20, 3), dtype=np.uint8),
                rng.integers(-1, 5, (16, 20)), rng.integers(0, 5, (16, 20))) for _ in range(3)]
    palette = rng.integers(0, 255, (5, 3))
    files = plots.plot_eval(tmp_path / "p", conf, iou, names, samples, palette)
    assert [f.name for f in files] == ["class_iou.png", "confusion.png", "samples.png"]
    sizes = [_png(f) for f in files]
    # three sample rows make the grid taller than it is for one
    one = plots.plot_samples(samples[:1], palette, tmp_path / "one.png")
    assert sizes[2][1] > 2 * _png(one)[1]
    with pytest.raises(ValueError, match="4 class names for 5 classes"):
        plots.plot_class_iou(iou, names[:4], tmp_path / "x.png")


def test_denormalize_inverts_the_imagenet_normalisation():
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 3)).astype(np.uint8)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    norm = torch.from_numpy(((rgb / 255.0 - mean) / std).transpose(2, 0, 1)).float()
    np.testing.assert_array_equal(plots.denormalize(norm), rgb)


def _write_log(path, losses, lrs, mious):
    lines = [{"time": "t", "msg": "run x", "config": {}}]
    for i, (loss, lr) in enumerate(zip(losses, lrs)):
        lines.append({"time": "t", "step": i + 1, "train_loss_batch, interval=1": loss, "lr": lr})
    for epoch, miou in enumerate(mious):
        lines.append({"time": "t", "step": (epoch + 1) * 2, "val_PA": 0.5, "val_mIoU": miou,
                      "val_loss": None, "custom_step": epoch + 1})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_run_curves_reads_loss_lr_and_miou_and_skips_nulls(tmp_path):
    log = _write_log(tmp_path / "a.log", [2.0, 1.5, 1.2, 1.0], [0.01, 0.008, 0.006, 0.004],
                     [0.3, 0.4])
    curves = plots.run_curves(json.loads(x) for x in log.read_text().splitlines())
    assert curves["loss"] == ([1, 2, 3, 4], [2.0, 1.5, 1.2, 1.0])
    assert curves["lr"][1] == [0.01, 0.008, 0.006, 0.004]
    assert curves["val_mIoU"] == ([2, 4], [0.3, 0.4])
    assert "val_loss" not in curves   # logged as null (non-finite): nothing to draw


def test_plot_command_draws_several_runs(tmp_path, capsys):
    a = _write_log(tmp_path / "fcn" / "run.log", [2.0, 1.0], [0.01, 0.005], [0.3])
    b = _write_log(tmp_path / "psp" / "run.log", [3.0, 2.0], [0.02, 0.01], [0.2])
    out = tmp_path / "curves.png"
    assert plot_cli.main([str(a), str(b), "--out", str(out)]) == 0
    assert _png(out)[1] > 500
    # same run name in two folders: the legend tells them apart by folder
    assert list(plot_cli.load_runs([a, b])) == ["fcn/run", "psp/run"]


def test_plot_command_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.log"
    bad.write_text("not json\n")
    empty = tmp_path / "empty.log"
    empty.write_text(json.dumps({"msg": "run x"}) + "\n")
    for path, words in ((tmp_path / "none.log", "no such run log"),
                        (bad, "not a JSON-lines run log"), (empty, "no loss, lr or val mIoU")):
        assert plot_cli.main([str(path), "--out", str(tmp_path / "o.png")]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and str(path) in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_missing_matplotlib_is_a_clear_error(monkeypatch, tmp_path, capsys):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(plots.MissingPackageError, match=r"mxnetseg\[plots\]"):
        plots.require_matplotlib()
    log = _write_log(tmp_path / "a.log", [1.0], [0.1], [])
    assert plot_cli.main([str(log), "--out", str(tmp_path / "o.png")]) == 2
    assert "pip install 'mxnetseg[plots]'" in capsys.readouterr().err


def test_plot_features_grid_holds_the_channels_and_their_sum(tmp_path):
    feats = torch.rand(1, 6, 8, 8)
    fig = plot_features(feats, scope=4, path=tmp_path / "f.png")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5   # 4 channels + their sum
    np.testing.assert_allclose(shown[-1].images[0].get_array(), feats[0, :4].sum(0).numpy(),
                               rtol=1e-6)
    assert _png(tmp_path / "f.png")
    with pytest.raises(ValueError, match="feature map"):
        plot_features(torch.rand(8, 8))


def test_overlap_heat_map_adds_the_jet_colour_with_alpha():
    image = np.full((4, 6, 3), 50, np.uint8)
    heat = torch.zeros(2, 3)
    heat[0, 0] = 1.0
    out = overlap_heat_map(image, heat, alpha=0.5)
    assert out.shape == image.shape and out.dtype == np.uint8
    # zero heat is JET's dark blue (0, 0, 128) in RGB: image + 0.5 * that
    assert out[3, 5].tolist() == [50, 50, 114]
    assert out[0, 0, 0] > out[3, 5, 0]   # the hot corner carries red
    with pytest.raises(ValueError, match="heat map"):
        overlap_heat_map(image, torch.zeros(2, 2, 2))


# ---------------------------------------------------------------- eval --plots
TINY = {"model_name": "fcn", "backbone": "resnet18", "data_name": "toy", "crop_size": 64,
        "base_size": 96, "epochs": 1, "bs_train": 4, "bs_val": 4,
        "backbone_init": {"manner": None}, "norm_layer": "BN", "workers": 0,
        "val": False, "log_interval": 1, "preflight": False, "stop_at": 1}


@pytest.fixture(scope="module")
def tiny_run(toy_root, tmp_path_factory):
    """A checkpoint one step into training and a toy root with 3 val images."""
    import shutil
    from mxnetseg.config import load_config
    from mxnetseg.tools.trainer import train
    root = tmp_path_factory.mktemp("plots_data")
    shutil.copytree(toy_root / "toy", root / "toy")
    lst = root / "toy" / "val.txt"
    lst.write_text("\n".join(lst.read_text().splitlines()[:3]) + "\n")
    work = tmp_path_factory.mktemp("plots_run")
    cfg = load_config(None, {**TINY, "data_root": str(root), "ckpt_dir": str(work)})
    return Path(train(cfg)["checkpoint"]), root


@pytest.mark.slow
def test_eval_plots_and_json_class_names(tiny_run, tmp_path, capsys):
    from mxnetseg import eval as eval_cli
    ckpt, root = tiny_run
    base = ["--checkpoint", str(ckpt), "--data-root", str(root)]
    out = tmp_path / "plots"
    assert eval_cli.main(base + ["--plots", str(out), "--samples", "2",
                                 "--json", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["classes"][0] == "background" and len(metrics["classes"]) == len(metrics["IoU"])
    assert sorted(p.name for p in out.iterdir()) == ["class_iou.png", "confusion.png",
                                                     "samples.png"]
    two_rows = _png(out / "samples.png")[1]
    capsys.readouterr()
    # an earlier run's pictures are kept without --force; --force redraws (3 sample rows now)
    assert eval_cli.main(base + ["--plots", str(out), "--samples", "3"]) == 2
    assert "--force" in capsys.readouterr().err
    assert eval_cli.main(base + ["--plots", str(out), "--samples", "3", "--force"]) == 0
    assert _png(out / "samples.png")[1] > two_rows
    # plots need scores: other modes refuse at once
    assert eval_cli.main(base + ["--plots", str(tmp_path / "t"), "--mode", "test"]) == 2
    assert "--mode val" in capsys.readouterr().err
