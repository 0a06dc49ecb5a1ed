"""The optimised inference path (tools/inference.py): exact BN folding, graphs cached per input
size with an eager fallback, the bf16 policy, and its flags on bench / eval / predict."""
import copy
import json
import warnings

import pytest
import torch
import torch.nn as nn

from mxnetseg.__main__ import main
from mxnetseg.models import create_model
from mxnetseg.tools.inference import (FP32_KEEP, OptimizedModel, fold_batchnorm, keep_fp32,
                                      optimize_for_inference)


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def _calibrated(model, size=48):
    """Non-trivial running statistics (fresh BNs are the identity, which hides a bad fold)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0, 0.1)
    model.train()
    with torch.no_grad():
        model(torch.rand(2, 3, size, size) * 2 - 1)
    return model.eval()


@pytest.fixture(scope="module")
def fcn_aux():
    torch.manual_seed(0)
    return _calibrated(create_model("FCNResNet", 5, backbone="resnet18", aux=True,
                                    dilate=True, pretrained_base=False))


class _Shared(nn.Module):
    """conv1 -> bn1 (foldable); conv2's output also feeds a residual, so bn2 must stay;
    relu between conv3 and bn3, so bn3 must stay."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv3, self.bn3 = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        y = self.conv2(x)
        x = self.bn2(y) + y
        return (self.bn3(torch.relu(self.conv3(x))),)


def test_fold_only_where_exact():
    torch.manual_seed(0)
    model = _calibrated(_Shared(), 16)
    folded, n = fold_batchnorm(model, torch.rand(1, 3, 8, 8))
    assert n == 1
    assert isinstance(folded.bn1, nn.Identity)
    assert isinstance(folded.bn2, nn.BatchNorm2d) and isinstance(folded.bn3, nn.BatchNorm2d)
    assert isinstance(model.bn1, nn.BatchNorm2d)          # the caller's model is untouched
    x = torch.randn(2, 3, 13, 7)
    with torch.no_grad():
        assert _rel(folded(x)[0], model(x)[0]) < 1e-5


def test_every_bn_of_a_resnet_fcn_folds_and_outputs_match(fcn_aux):
    folded, n = fold_batchnorm(fcn_aux, torch.rand(1, 3, 32, 32))
    bns = sum(isinstance(m, nn.BatchNorm2d) for m in fcn_aux.modules())
    assert n == bns > 20
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())


@pytest.mark.parametrize("backend", ["jit", "eager"])
@pytest.mark.parametrize("shape", [(1, 3, 61, 83), (2, 3, 40, 40)])
def test_optimized_outputs_equal_eager(fcn_aux, backend, shape):
    """Aux heads kept, odd sizes; fp32 within 1e-4 relative of the eager model."""
    fast = optimize_for_inference(fcn_aux, backend=backend)
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = fcn_aux(x)
    out = fast(x)
    assert isinstance(out, tuple) and len(out) == len(ref) == 2
    for a, b in zip(out, ref):
        assert a.shape == b.shape and _rel(a, b) < 1e-4


@pytest.mark.parametrize("name, backbone", [("DeepLabv3", "resnet18"), ("BiSeNetR", "resnet18"),
                                            ("FCNMobileNet", "mobilenet_v2_0_25")])
def test_other_models_match_through_the_default_backend(name, backbone):
    torch.manual_seed(1)
    model = _calibrated(create_model(name, 4, backbone=backbone, aux=False,
                                     pretrained_base=False), 64)
    x = torch.randn(1, 3, 70, 54)
    with torch.no_grad():
        ref = model(x)[0]
    assert _rel(optimize_for_inference(model)(x)[0], ref) < 1e-4


def test_graphs_are_cached_per_input_size(fcn_aux):
    fast = optimize_for_inference(fcn_aux, backend="jit")
    a, b = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 40, 32)
    fast(a)
    fast(b)
    fast(a + 1)
    assert len(fast._graphs) == 2 and len(fast.timings) == 2
    assert all(not isinstance(g, nn.Module) or isinstance(g, torch.jit.ScriptModule)
               for g in fast._graphs.values())


def test_auto_builds_a_graph_for_repeated_shapes_only_and_at_most_max_graphs(fcn_aux,
                                                                             monkeypatch):
    import mxnetseg.tools.inference as inference
    monkeypatch.setattr(inference, "MAX_GRAPHS", 2)
    fast = optimize_for_inference(fcn_aux, backend="auto")   # small inputs -> jit
    x = torch.randn(1, 3, 32, 32)
    first = fast(x)[0]
    assert not fast._graphs                           # a shape seen once runs eagerly
    assert _rel(fast(x)[0], first) < 1e-5 and len(fast._graphs) == 1
    for h in (40, 48, 56):                            # each shape seen twice
        y = torch.randn(1, 3, h, 32)
        fast(y)
        assert _rel(fast(y)[0], fcn_aux(y)[0]) < 1e-4
    assert len(fast._graphs) == 2                     # the cap: the rest stay eager


class _Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2)

    def forward(self, x):
        return self.bn(self.conv(x)), 3          # a non-tensor output: tracing refuses it


def test_a_graph_that_fails_falls_back_to_eager_with_a_warning():
    model = _Untraceable().eval()
    fast = optimize_for_inference(model, (1, 3, 8, 8), backend="jit")
    x = torch.randn(1, 3, 8, 8)
    with pytest.warns(RuntimeWarning, match="failed to build.*running eagerly"):
        out = fast(x)
    assert out[1] == 3 and _rel(out[0], model(x)[0]) < 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # said once per size, not on every call
        fast(x)


def test_auto_compiles_only_large_inputs(fcn_aux):
    fast = optimize_for_inference(fcn_aux, backend="auto")
    assert fast.backend_for(torch.empty(1, 3, 64, 64)) == "jit"
    assert fast.backend_for(torch.empty(2, 3, 512, 512)) == "compile"
    bf16 = optimize_for_inference(fcn_aux, amp="bf16", backend="auto")
    assert bf16.backend_for(torch.empty(1, 3, 64, 64)) == "eager"


def test_bad_backend_is_named():
    with pytest.raises(ValueError, match="backend must be one of"):
        optimize_for_inference(_Shared(), (1, 3, 8, 8), backend="tensorrt")


def test_bf16_policy_keeps_the_image_pool_and_classifiers_in_fp32():
    torch.manual_seed(0)
    model = create_model("DeepLabv3", 3, backbone="resnet18", aux=True,
                         pretrained_base=False).eval()
    assert keep_fp32(copy.deepcopy(model), ("GlobalFlow",)) == 1
    assert "classifier" in FP32_KEEP
    probe = copy.deepcopy(model)
    assert keep_fp32(probe) == 3            # image pool + main and aux classifiers
    assert type(probe.head.head[-1]).__name__ == "_Fp32"
    assert type(probe.aux_head[-1]).__name__ == "_Fp32"
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert all(o.dtype is torch.float32 for o in probe(torch.randn(1, 3, 48, 48)))
    fast = optimize_for_inference(model, amp="bf16")
    assert isinstance(fast, OptimizedModel) and fast.amp_dtype is torch.bfloat16
    out = fast(torch.randn(1, 3, 48, 48))
    assert out[0].shape == (1, 3, 48, 48) and out[0].dtype is torch.float32



@pytest.mark.slow
def test_compile_backend_matches_eager(fcn_aux):
    fast = optimize_for_inference(fcn_aux, backend="compile")
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        ref = fcn_aux(x)
    for a, b in zip(fast(x), ref):
        assert _rel(a, b) < 1e-4


def _bench(capsys, *extra):
    code = main(["bench", "--model", "FCNResNet", "--backbone", "resnet18", "--nclass", "3",
                 "--size", "32", "40", "--warmup", "0", "--iters", "2", "--threads", "1",
                 "--json", *extra])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def test_bench_json_through_the_cli(capsys):
    opt = _bench(capsys)
    plain = _bench(capsys, "--no-optimize")
    for r in (opt, plain):
        assert set(r["latency_ms"]) == {"median", "p90"}
        assert r["latency_ms"]["median"] <= r["latency_ms"]["p90"]
        assert r["images_per_s"] == pytest.approx(1000 / r["latency_ms"]["median"])
        assert r["params"] > 1e6 and r["gflops"] > 0 and r["peak_mem_mb"] > 0
        assert r["threads"] == 1 and r["size"] == [32, 40]
        assert r["torch"] == torch.__version__ and r["machine"] and "omp_wait_policy" in r
    assert opt["optimize"] == "jit" and opt["channels_last"] is True     # auto, small input
    assert plain["optimize"] is False
    assert _bench(capsys, "--backend", "eager", "--amp", "bf16")["amp"] == "bf16"


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_section(tmp_path):
    """benchmarks/gpu_check.py --smoke on the CPU: every section ran or says why it skipped,
    and both reports are written."""
    import importlib.util
    from conftest import REPO
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    assert gpu_check.peak_tflops("NVIDIA H200") == (989.0, 494.7)
    assert gpu_check.peak_tflops("NVIDIA H100 PCIe")[0] == 756.0
    assert gpu_check.peak_tflops("Tesla K80") == (None, None)
    code = gpu_check.main(["--out", str(tmp_path), "--smoke"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    sections = report["sections"]
    assert set(sections) == {"train_speed", "fp16_scaler", "trainer_ctx0", "trainer_syncbn",
                             "eval_ms_flip", "trainer_fcn20"}
    assert code == 0, {k: v.get("error") or v.get("stderr_tail") for k, v in sections.items()}
    for name in ("fp16_scaler", "trainer_ctx0"):
        assert sections[name]["status"] == "skipped" and "needs" in sections[name]["reason"]
    runs = sections["train_speed"]["runs"]
    assert runs["fp32_eager"]["img_per_s"] > 0 and runs["bf16_channels_last"]["loss"] > 0
    assert sections["trainer_fcn20"]["checkpoints"]
    assert sections["eval_ms_flip"]["pred_shape"] == [1, 128, 256]
    assert "| train_speed/fp32_eager | ok |" in (tmp_path / "gpu_check.md").read_text()


CONFIG = {"model_name": "FCNResNet", "backbone": "resnet18", "aux": False, "dilate": False,
          "norm_layer": "BN", "data_name": "toy", "crop_size": 48, "base_size": 64}


@pytest.fixture(scope="module")
def toy_ckpt(tmp_path_factory):
    from mxnetseg.tools.checkpoint import save_checkpoint
    torch.manual_seed(0)
    net = _calibrated(create_model("fcn", 5, backbone="resnet18", pretrained_base=False))
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    return save_checkpoint({"model": net.state_dict(), "config": CONFIG, "nclass": 5}, path)


def test_predictor_and_predict_cli_give_the_same_masks_optimised(toy_ckpt, tmp_path):
    import numpy as np
    from PIL import Image
    from mxnetseg import Predictor
    rgb = np.random.RandomState(0).randint(0, 255, (70, 90, 3), dtype=np.uint8)
    fast, plain = Predictor(toy_ckpt, device="cpu"), Predictor(toy_ckpt, device="cpu",
                                                              optimize=False)
    assert isinstance(fast.model, OptimizedModel) and not isinstance(plain.model, OptimizedModel)
    mask = fast.predict(rgb)
    assert len(np.unique(mask)) > 1 and (mask == plain.predict(rgb)).mean() > 0.999
    Image.fromarray(rgb).save(tmp_path / "a.png")
    for flag, out in (("--optimize", "o"), ("--no-optimize", "p")):
        assert main(["predict", "--checkpoint", str(toy_ckpt), "--input", str(tmp_path / "a.png"),
                     "--out", str(tmp_path / out), "--raw", "--quiet", flag]) == 0
    raw = [np.asarray(Image.open(next((tmp_path / d).rglob("raw/*.png")))) for d in "op"]
    assert (raw[0] == raw[1]).mean() > 0.999


def test_eval_scores_the_same_with_and_without_optimize(toy_ckpt, toy_root, tmp_path):
    from conftest import toy_subset
    root, _ = toy_subset(toy_root, tmp_path / "data", val=3)
    scores = []
    for flag in ("--optimize", "--no-optimize"):
        path = tmp_path / f"m{flag}.json"
        assert main(["eval", "--checkpoint", str(toy_ckpt), "--data-root", str(root),
                     "--mode", "val", "--json", str(path), flag]) == 0
        scores.append(json.loads(path.read_text()))
    assert scores[0]["pixAcc"] == pytest.approx(scores[1]["pixAcc"], abs=1e-3)
    assert scores[0]["mIoU"] == pytest.approx(scores[1]["mIoU"], abs=1e-3)


class _ExactSize(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = size
        self.conv, self.bn = nn.Conv2d(3, 2, 3, padding=1), nn.BatchNorm2d(2)

    def forward(self, x):
        if x.shape[-1] != self.size:
            raise ValueError(f"this model takes width {self.size}")
        return (self.bn(self.conv(x)),)


def test_fold_traces_small_then_at_the_given_size_then_warns():
    fast = optimize_for_inference(_ExactSize(200).eval(), (1, 3, 200, 200), backend="eager")
    assert isinstance(fast.model.bn, nn.Identity)          # 128 px refused, 200 px folded
    with pytest.warns(RuntimeWarning, match="not folded.*takes width 7"):
        fast = optimize_for_inference(_ExactSize(7).eval(), (1, 3, 64, 64), backend="eager")
    assert isinstance(fast.model.bn, nn.BatchNorm2d)


def test_roofline_counts_only_taps_on_real_input():
    """benchmarks/cpu_roofline.py's executed-FLOP count: a dilated 3x3 conv on a map smaller
    than three times its dilation executes fewer multiply-adds than its nominal count."""
    import importlib.util
    from conftest import REPO
    spec = importlib.util.spec_from_file_location("cpu_roofline",
                                                  REPO / "benchmarks" / "cpu_roofline.py")
    roof = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(roof)
    # one axis of 64, k=3, dilation 12, padding 12: centre tap 64, outer taps 52 each
    assert roof._valid_taps(64, 64, 3, 1, 12, 12) == 64 + 52 + 52
    # stride 2, padding 1 on 7 inputs: the first and the last output each lose one tap
    assert roof._valid_taps(7, 4, 3, 2, 1, 1) == 3 * 4 - 2
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=12, dilation=12), nn.Conv2d(4, 2, 1))
    flops = roof.executed_conv_flops(net, (16, 20))
    rows, cols = roof._valid_taps(16, 16, 3, 1, 12, 12), roof._valid_taps(20, 20, 3, 1, 12, 12)
    assert flops == 2 * rows * cols * 4 * 3 + 2 * 16 * 20 * 2 * 4
    assert flops < 2 * 16 * 20 * 9 * 4 * 3 + 2 * 16 * 20 * 2 * 4
