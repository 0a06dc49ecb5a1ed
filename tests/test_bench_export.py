"""``bench`` (and ``eval.py --purpose speed``) and ``export`` (ONNX, checked in onnxruntime)."""
import json
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from conftest import need_module
from mxnetseg.__main__ import main
from mxnetseg.models import count_parameters, list_models
from mxnetseg.tools.benchmark import _percentile, bench_all, benchmark, count_flops, \
    markdown_table


class _Tiny(nn.Module):
    def __init__(self, cin=3, cout=4, k=3):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return (self.bn(self.conv(x)),)


def test_flops_per_image_match_the_formula():
    # a 3x3 conv, 3 -> 4 channels, 10x12 output: 2 * Cout * Cin * k * k * H * W
    assert count_flops(_Tiny(), (10, 12)) == 2 * 4 * 3 * 9 * 10 * 12


def test_percentile_interpolates():
    assert _percentile([4.0, 1.0, 3.0, 2.0, 5.0], 50) == 3.0
    assert _percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90) == \
        pytest.approx(9.1)
    assert _percentile([7.0], 90) == 7.0


def test_benchmark_reports_what_it_timed():
    model = _Tiny()
    r = benchmark(model, size=(16, 20), batch=3, warmup=1, iters=4)
    assert r["params"] == count_parameters(model, "all") == 3 * 4 * 9 + 4 * 4
    assert r["gflops"] == pytest.approx(2 * 4 * 3 * 9 * 16 * 20 / 1e9)
    assert 0 < r["latency_ms"]["median"] <= r["latency_ms"]["p90"]
    assert r["images_per_s"] == pytest.approx(3 * 1000 / r["latency_ms"]["median"])
    assert r["peak_mem_mb"] > 0 and r["size"] == [16, 20] and r["iters"] == 4
    with pytest.raises(ValueError, match="iters"):
        benchmark(model, iters=0)


class _Hungry(nn.Module):
    """Holds a 128 MiB activation for 30 ms in each forward."""

    def forward(self, x):
        big = torch.ones(32, 1024, 1024)
        time.sleep(0.03)
        return (x + big[0, 0, 0],)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="Linux /proc only")
def test_cpu_peak_memory_sees_activations():
    r = benchmark(_Hungry(), size=(4, 4), warmup=0, iters=2, flops=False)
    assert 120 <= r["peak_mem_mb"] <= 400


def test_bench_all_keeps_a_row_for_a_failing_model():
    def build(name):
        if name == "bad":
            raise RuntimeError("no such layer\nsecond line")
        return _Tiny(), f"{name}/tiny"
    lines = []
    rows = bench_all(build, names=["a", "bad"], log=lines.append, size=(8, 8), warmup=0,
                     iters=1)
    assert rows[0]["model"] == "a/tiny" and rows[1] == {"model": "bad",
                                                         "error": "RuntimeError: no such layer"}
    table = markdown_table(rows).splitlines()
    assert table[0].startswith("| model | params (M) | GFLOPs / image |") and len(table) == 4
    assert table[2].startswith("| a/tiny | 0.00 | 0.00 |") and "failed" in table[3]
    assert "failed" in lines[1]


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bench_cli_json(capsys):
    code, out, _ = _run(capsys, "bench", "--model", "BiSeNetR", "--nclass", "3", "--size", "32",
                        "48", "--warmup", "0", "--iters", "2", "--json", "--no-flops")
    assert code == 0
    r = json.loads(out)
    assert r["model"] == "BiSeNetR/resnet18" and r["size"] == [32, 48] and r["gflops"] is None
    assert set(r["latency_ms"]) == {"median", "p90"} and r["params"] > 1e6


def test_eval_purpose_speed(capsys):
    code, out, _ = _run(capsys, "eval", "--purpose", "speed", "--model", "BiSeNetR",
                        "--size", "32", "32", "--warmup", "0", "--iters", "1", "--no-flops")
    assert code == 0 and out.startswith("BiSeNetR/resnet18: latency median")


@pytest.mark.parametrize("argv, message", [
    (["bench"], "give --model"),
    (["bench", "--all", "--model", "fcn"], "drop --model"),
    (["bench", "--model", "fcn", "--iters", "0"], "--iters must be >= 1"),
    (["bench", "--model", "fcnx"], "Did you mean"),
    (["eval", "--purpose", "speed"], "needs --model"),
    (["eval"], "--checkpoint is required"),
    (["export", "--model", "fcn", "--out", "x.txt"], "ending in .onnx"),
    (["export", "--out", "x.onnx"], "give --checkpoint"),
])
def test_cli_errors_are_one_line(capsys, argv, message):
    code, _, err = _run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------ ONNX
def test_export_checks_the_file_in_onnxruntime(tmp_path):
    need_module("onnxruntime")
    from mxnetseg.tools.onnx_export import export_onnx
    model = _Tiny()
    nn.init.normal_(model.bn.running_mean)
    r = export_onnx(model, tmp_path / "t.onnx", size=(8, 10), dynamic=True)
    assert (tmp_path / "t.onnx").is_file() and r["rel_diff"] < 1e-6 and r["dynamic"]
    import onnxruntime as ort
    sess = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 6, 14)       # dynamic: another batch and size than traced
    with torch.no_grad():
        ref = model.eval()(x)[0].numpy()
    assert sess.run(None, {"image": x.numpy()})[0] == pytest.approx(ref, abs=1e-5)


def test_export_fails_when_onnxruntime_disagrees(tmp_path, monkeypatch):
    need_module("onnxruntime")
    from mxnetseg.tools import onnx_export
    real = onnx_export._check

    def skewed(path, wrapped, size, batch):    # as if the file computed something else
        report = real(path, wrapped, size, batch)
        return {**report, "max_abs_diff": 1.0, "rel_diff": 0.5}
    monkeypatch.setattr(onnx_export, "_check", skewed)
    with pytest.raises(onnx_export.ExportError, match=r"relative 0.5 > 0.0001"):
        onnx_export.export_onnx(_Tiny(), tmp_path / "t.onnx", size=(8, 8))


class _Deform(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(2, 3, 3, 3))

    def forward(self, x):
        from torchvision.ops import deform_conv2d
        offset = torch.zeros(x.shape[0], 18, x.shape[2], x.shape[3])
        return deform_conv2d(x, offset, self.weight, padding=1)


def test_export_names_an_operator_onnx_lacks(tmp_path):
    need_module("onnx")
    from mxnetseg.tools.onnx_export import ExportError, export_onnx
    with pytest.raises(ExportError, match="operator torchvision::deform_conv2d: deformable"):
        export_onnx(_Deform(), tmp_path / "d.onnx", size=(8, 8), name="deform")
    assert not list(tmp_path.iterdir())          # no half-written file left behind


def test_export_cli_never_overwrites(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"old")
    code, _, err = _run(capsys, "export", "--model", "BiSeNetR", "--out", str(out))
    assert code == 2 and "--force" in err and out.read_bytes() == b"old"


# Every registered model at a small size. 192 x 192: the pyramid-pooling models (bins 1, 2, 3, 6)
# export only where each pooled map divides its input, which 192 gives at stride 8 and 32.
CANNOT_EXPORT = {"FaPN": "torchvision::deform_conv2d"}
CHEAP = {"BiSeNetR", "FaPN"}
SIZE = {"BiSeNetR": 64, "FaPN": 64}
BACKBONE = {"SETR": "vit_base_16"}      # vit_large's 1.2 GB file would only cost time here


@pytest.mark.parametrize("name", [n if n in CHEAP else pytest.param(n, marks=pytest.mark.slow)
                                  for n in list_models()])
def test_every_model_exports(name, tmp_path, capsys):
    need_module("onnxruntime")
    size = str(SIZE.get(name, 192))
    argv = ["export", "--model", name, "--nclass", "5", "--size", size, size,
            "--out", str(tmp_path / "m.onnx"), "--json"]
    if name in BACKBONE:
        argv += ["--backbone", BACKBONE[name]]
    code, out, err = _run(capsys, *argv)
    if name in CANNOT_EXPORT:
        assert code == 2 and f"operator {CANNOT_EXPORT[name]}" in err
        return
    assert code == 0, err
    report = json.loads(out)
    assert report["rel_diff"] <= 1e-4 and (tmp_path / "m.onnx").stat().st_size > 1e5


def test_export_and_bench_from_our_checkpoint(tmp_path, capsys):
    need_module("onnxruntime")
    import onnxruntime as ort
    from mxnetseg.models import create_model
    from mxnetseg.tools.checkpoint import save_checkpoint
    torch.manual_seed(0)
    net = create_model("fcn", 4, backbone="resnet18").eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.running_mean, -0.2, 0.2)
    config = {"model_name": "FCNResNet", "backbone": "resnet18", "data_name": "toy",
              "crop_size": 32, "base_size": 48}
    ckpt = save_checkpoint({"model": net.state_dict(), "config": config, "nclass": 4},
                           tmp_path / "small.pth")
    out = tmp_path / "small.onnx"
    code, stdout, err = _run(capsys, "export", "--checkpoint", str(ckpt), "--out", str(out),
                             "--size", "32", "32", "--json")
    assert code == 0, err
    assert json.loads(stdout)["model"] == "small.pth"
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = net(x)[0].numpy()        # the checkpoint's weights, not fresh random ones
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"image": x.numpy()})[0] == pytest.approx(ref, abs=1e-4)
    code, stdout, err = _run(capsys, "bench", "--checkpoint", str(ckpt), "--size", "32", "32",
                             "--iters", "1", "--warmup", "0", "--json")
    assert code == 0, err
    assert json.loads(stdout)["params"] == count_parameters(net, "all")
