"""Predictor API and ``python -m mxnetseg predict``: inputs, outputs, skips, --force, videos."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mxnetseg import Predictor, create_model
from mxnetseg.models import gluoncv_zoo
from mxnetseg.models import model_store
from mxnetseg.predict import main as predict_main
from mxnetseg.tools.checkpoint import CheckpointError, save_checkpoint
from mxnetseg.tools.evaluator import eval_scales
from mxnetseg.tools.mxnet_params import write_params

from parity import FIX, seeded_array

CONFIG = {"model_name": "FCNResNet", "backbone": "resnet18", "aux": False, "dilate": False,
          "norm_layer": "BN", "data_name": "toy", "crop_size": 32, "base_size": 48}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """Our checkpoint of a small FCN (5 toy classes) with random, non-degenerate weights."""
    torch.manual_seed(0)
    net = create_model("fcn", 5, backbone="resnet18", pretrained_base=False)
    with torch.no_grad():   # a spread of class scores so masks are not one class
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.fill_(4.0)
                m.running_mean.uniform_(-0.2, 0.2)
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    return save_checkpoint({"model": net.state_dict(), "config": CONFIG, "nclass": 5}, path)


@pytest.fixture(scope="module")
def predictor(ckpt):
    return Predictor(ckpt, device="cpu")


def _photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    base = np.zeros((h, w, 3), np.uint8)
    base[: h // 2] = (200, 60, 40)
    base[:, : w // 3] = (30, 180, 220)
    return np.clip(base + rng.integers(0, 60, (h, w, 3)), 0, 255).astype(np.uint8)


def _save(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


# ------------------------------------------------------------------ Predictor API
def test_predictor_reads_its_checkpoint(predictor):
    assert predictor.nclass == 5 and predictor.dataset == "Toy"
    assert predictor.classes[0] == "background" and predictor.palette.shape == (5, 3)
    assert (predictor.crop_size, predictor.base_size) == (32, 48)
    assert predictor.inferencer.scales == (1.0,) and not predictor.inferencer.flip


def test_path_pil_and_array_agree(predictor, tmp_path):
    rgb = _photo(30, 44)
    path = _save(tmp_path / "a.png", rgb)
    by_path = predictor.predict(path)
    assert by_path.shape == (30, 44) and by_path.dtype == np.int64
    assert 0 <= by_path.min() and by_path.max() < 5
    np.testing.assert_array_equal(predictor.predict(str(path)), by_path)
    np.testing.assert_array_equal(predictor.predict(Image.open(path)), by_path)
    np.testing.assert_array_equal(predictor.predict(rgb), by_path)
    colour = predictor.colorize(by_path)
    assert colour.mode == "P" and np.array_equal(np.asarray(colour), by_path)
    ov = predictor.overlay(rgb, by_path, alpha=1.0)
    np.testing.assert_array_equal(ov, predictor.palette[by_path])


def test_bad_images_are_named(predictor, tmp_path):
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        predictor.predict(np.zeros((8, 8), np.float32))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="bad.jpg: cannot decode"):
        predictor.predict(bad)


def test_predict_batch_equals_one_by_one(predictor):
    images = [_photo(30, 44, 1), _photo(40, 26, 2), _photo(30, 44, 3), _photo(30, 44, 4)]
    batched = predictor.predict_batch(images, batch_size=3)
    for image, mask in zip(images, batched):
        np.testing.assert_array_equal(mask, predictor.predict(image))


def test_multi_scale_uses_the_evaluators_scales(ckpt):
    ms = Predictor(ckpt, device="cpu", ms=True, crop_size=64)   # few windows per scale
    assert (ms.inferencer.scales, ms.inferencer.flip) == eval_scales("toy", True)
    mask = ms.predict(_photo(28, 50))
    assert mask.shape == (28, 50) and mask.max() < 5


def test_raw_is_label_ids_for_cityscapes(ckpt):
    p = Predictor(ckpt, device="cpu", dataset="cityscapes")
    mask = np.array([[0, 1], [2, 4]])
    np.testing.assert_array_equal(p.raw(mask), [[7, 8], [11, 13]])
    assert p.raw(mask).dtype == np.uint8 and p.palette[0].tolist() == [128, 64, 128]


def test_exif_orientation_is_applied(predictor, tmp_path):
    """A photo stored 40 wide x 24 high with EXIF 'rotate 90' is shown 24 wide x 40 high: the
    mask has the shape viewers show."""
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_photo(24, 40)).save(path, exif=exif.tobytes())
    assert predictor.predict(path).shape == (40, 24)


def test_mxnet_params_with_our_model_name(tmp_path):
    """An original .params (the fcn_r18 fixture's names) needs model/backbone/nclass; whole-
    image inference at the model's size equals the model on the normalised image."""
    import json
    spec = json.loads((FIX / "fcn_r18.json").read_text())
    arrays = {n: seeded_array(n, tuple(s)) for n, s, _ in spec["params"]}
    path = write_params(tmp_path / "fcn.params", arrays)
    with pytest.raises(CheckpointError, match="carries no model"):
        Predictor(path, device="cpu")
    p = Predictor(path, model="FCNResNet", backbone="resnet18", nclass=5, aux=True,
                  dilate=True, dataset="toy", crop_size=64, base_size=64, device="cpu")
    rgb = _photo(64, 64, 7)
    x = (rgb / 255.0 - np.array(p.mean)) / np.array(p.std)
    x = torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))
    with torch.no_grad():
        expected = p.model(x)[0].argmax(1)[0].numpy()
    np.testing.assert_array_equal(p.predict(rgb), expected)


def test_zoo_name_alone_uses_the_cache(monkeypatch, tmp_path, ckpt):
    """A zoo name alone loads its cached file; classes/palette come from the zoo's dataset."""
    spec = gluoncv_zoo.ZooSpec("fcn_resnet18_toy", "FCNResNet", "resnet18", 5, "toy", False)
    monkeypatch.setitem(gluoncv_zoo.ZOO, spec.name, spec)
    monkeypatch.setitem(model_store.MODEL_SHA1, spec.name, model_store.sha1_of(ckpt))
    monkeypatch.setenv("MXNETSEG_HOME", str(tmp_path))
    monkeypatch.setenv("MXNETSEG_REPO", "http://127.0.0.1:9/")     # nothing listens there
    with pytest.raises(model_store.ModelStoreError, match="Fetch http://127.0.0.1:9/"):
        Predictor(spec.name, device="cpu")
    cached = tmp_path / model_store.file_name(spec.name)
    cached.write_bytes(Path(ckpt).read_bytes())
    p = Predictor(spec.name, device="cpu")
    assert p.dataset == "Toy" and p.nclass == 5 and (p.crop_size, p.base_size) == (480, 520)
    with pytest.raises(FileNotFoundError, match="Did you mean 'fcn_resnet18_toy'"):
        Predictor("fcn_resnet18_to", device="cpu")


# ------------------------------------------------------------------ command line
def _run(*args):
    return predict_main([str(a) for a in args] + ["--quiet"])


def test_folder_mirrors_paths_and_skips_non_images(ckpt, tmp_path, capsys):
    src = tmp_path / "in"
    _save(src / "top.png", _photo(30, 40, 1))
    _save(src / "a" / "b" / "deep.jpg", _photo(30, 40, 2))
    (src / "a" / "notes.txt").write_text("not an image")
    (src / "a" / "broken.png").write_bytes(b"\x89PNG broken")
    rc = _run("--checkpoint", ckpt, "--input", src, "--out", tmp_path / "out", "--raw",
              "--batch", "2")
    err = capsys.readouterr().err
    assert rc == 1
    assert "notes.txt" in err and "broken.png" in err
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
                 if p.is_file())
    assert got == ["mask/a/b/deep.png", "mask/top.png", "overlay/a/b/deep.jpg",
                   "overlay/top.png", "raw/a/b/deep.png", "raw/top.png"]
    p = Predictor(ckpt, device="cpu")
    mask = np.asarray(Image.open(tmp_path / "out" / "mask" / "top.png"))
    # an --out inside the input folder: its files are not inputs the next time
    for force in ((), ("--force",)):
        assert _run("--checkpoint", ckpt, "--input", src, "--out", src / "pred", *force) == 1
        assert "predicted 2 image(s)" in capsys.readouterr().out
    np.testing.assert_array_equal(mask, p.predict(src / "top.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "raw" / "top.png")),
                                  mask)


def test_never_overwrites_without_force(ckpt, tmp_path, capsys):
    src = _save(tmp_path / "img.png", _photo(30, 40))
    out = tmp_path / "out"
    (out / "mask").mkdir(parents=True)
    (out / "mask" / "img.png").write_bytes(b"keep me")
    assert _run("--checkpoint", ckpt, "--input", src, "--out", out) == 2
    assert "already exist" in capsys.readouterr().err
    assert (out / "mask" / "img.png").read_bytes() == b"keep me"
    assert not (out / "overlay").exists()
    assert _run("--checkpoint", ckpt, "--input", src, "--out", out, "--force") == 0
    assert Image.open(out / "mask" / "img.png").size == (40, 30)
    assert not [p for p in out.rglob("*") if ".part" in p.name]


def test_unwritable_out_fails_before_inference(ckpt, tmp_path, capsys, monkeypatch):
    import mxnetseg.tools.predictor as predictor_module

    def no_model(*args, **kwargs):
        raise AssertionError("the model was built although --out is unwritable")
    monkeypatch.setattr(predictor_module.Predictor, "__init__", no_model)
    src = _save(tmp_path / "img.png", _photo(30, 40))
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert _run("--checkpoint", ckpt, "--input", src, "--out", blocker / "out") == 2
    err = capsys.readouterr().err
    assert "not a writable folder" in err and str(blocker / "out") in err


def test_list_and_glob_inputs(ckpt, tmp_path, capsys):
    for name in ("x1.png", "x2.png", "sub/x3.png"):
        _save(tmp_path / "data" / name, _photo(24, 24))
    listing = tmp_path / "data" / "list.txt"
    listing.write_text("x1.png label_ignored.png\nsub/x3.png\nmissing.png\n")
    assert _run("--checkpoint", ckpt, "--input", listing, "--out", tmp_path / "o1") == 1
    assert "missing.png" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o1" / "mask").rglob("*.png")) == ["x1.png", "x3.png"]
    assert (tmp_path / "o1" / "mask" / "sub" / "x3.png").is_file()
    assert _run("--checkpoint", ckpt, "--input", tmp_path / "data" / "**" / "*.png", "--out",
                tmp_path / "o2") == 0
    assert (tmp_path / "o2" / "overlay" / "sub" / "x3.png").is_file()
    assert len(list((tmp_path / "o2" / "mask").rglob("*.png"))) == 3


def _write_video(path, frames, fps, fourcc):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


def _video_info(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return n, fps, size


@pytest.mark.parametrize("name,fourcc", [("clip.avi", "MJPG"), ("clip.mp4", "mp4v")])
def test_video_becomes_an_overlay_video(ckpt, tmp_path, capsys, name, fourcc):
    frames = [_photo(32, 48, seed) for seed in range(5)]
    _write_video(tmp_path / name, frames, 7.0, fourcc)
    assert _video_info(tmp_path / name)[0] == 5
    assert _run("--checkpoint", ckpt, "--input", tmp_path / name, "--out", tmp_path / "out",
                "--batch", "2") == 0
    n, fps, size = _video_info(tmp_path / "out" / "overlay" / name)
    assert (n, size) == (5, (48, 32)) and abs(fps - 7.0) < 1e-3
    assert "5 frames of 1 video" in capsys.readouterr().out


def test_usage_errors(ckpt, tmp_path, capsys):
    assert _run("--input", tmp_path, "--out", tmp_path / "o") == 2
    assert "--checkpoint" in capsys.readouterr().err
    assert _run("--checkpoint", ckpt, "--input", tmp_path / "nope", "--out", tmp_path / "o") == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert _run("--checkpoint", ckpt, "--input", tmp_path / "empty", "--out", tmp_path / "o") == 2
    assert "no images or videos" in capsys.readouterr().err
    assert _run("--model", "psp_resnet101_city", "--input", tmp_path, "--out", tmp_path / "o") == 2
    assert "Did you mean 'psp_resnet101_citys'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_commands_are_wired(ckpt, tmp_path):
    """``python -m mxnetseg predict`` end to end in a subprocess, the plain-script form, and
    ``download --list``."""
    from conftest import REPO, run_cli
    _save(tmp_path / "in" / "p.png", _photo(24, 30))
    proc = run_cli("-m", "mxnetseg", "predict", "--checkpoint", str(ckpt), "--input",
                   str(tmp_path / "in"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "predicted 1 image(s)" in proc.stdout and "images/s" in proc.stdout
    assert (tmp_path / "out" / "overlay" / "p.png").is_file()
    proc = run_cli(str(REPO / "mxnetseg" / "predict.py"), "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "--input" in proc.stdout
    proc = run_cli("-m", "mxnetseg", "download", "--list", cwd=tmp_path,
                   env={"MXNETSEG_HOME": str(tmp_path)})
    assert proc.returncode == 0 and "psp_resnet101_citys\n" in proc.stdout


@pytest.mark.slow
def test_zoo_params_on_a_folder_and_a_video(tmp_path, capsys):
    """A GluonCV zoo .params (fcn_resnet50_voc's names, seeded weights, as the zoo parity test
    writes it) with --model ZOO_NAME alone: photos and a short video end to end."""
    import json
    fix = FIX.parent / "gcv" / "gcv_fcn.json"
    data = json.loads(fix.read_text())
    arrays = {n: seeded_array(n, tuple(s)) for n, s, _ in data["params"]}
    params = write_params(tmp_path / "fcn_resnet50_voc.params", arrays)
    src = tmp_path / "photos"
    _save(src / "street.jpg", _photo(48, 64, 1))
    _save(src / "more" / "tall.png", _photo(70, 40, 2))
    _write_video(src / "clip.avi", [_photo(40, 56, s) for s in range(3)], 10.0, "MJPG")
    rc = _run("--checkpoint", params, "--model", data["spec"]["name"], "--input", src,
              "--out", tmp_path / "out", "--crop", "64", "--base", "64", "--raw")
    assert rc == 0, capsys.readouterr().err
    out = tmp_path / "out"
    mask = np.asarray(Image.open(out / "mask" / "more" / "tall.png"))
    assert mask.shape == (70, 40) and mask.max() < 21
    assert Image.open(out / "mask" / "street.png").getpalette()[:6] == [0, 0, 0, 128, 0, 0]  # VOC
    assert (out / "overlay" / "street.jpg").is_file() and (out / "raw" / "street.png").is_file()
    assert _video_info(out / "overlay" / "clip.avi")[:2] == (3, 10.0)
    assert "predicted 2 image(s) + 3 frames of 1 video(s)" in capsys.readouterr().out
