"""Prove the GPU path in one run (< 8 min on one H100/H200): writes gpu_check.json and
gpu_check.md to --out.

    python benchmarks/gpu_check.py --out gpu_check_out            # on a GPU machine
    python benchmarks/gpu_check.py --out /tmp/smoke --smoke       # CPU, tiny, seconds

Sections (each guarded: a failure is recorded with its error and the rest still run):
  train_speed   DeepLabv3-R101 OS8 training steps at 512x1024, batch 8: fp32 eager, bf16 autocast
                + channels_last, and that + torch.compile. img/s, peak memory, and MFU = (3 x the
                forward FLOPs counted by torch.utils.flop_counter x img/s) / the card's dense
                peak (looked up by name; fp32 against the TF32 peak, as cuDNN uses TF32).
  fp16_scaler   fp16 autocast + GradScaler: loss and gradients finite, the scale finite.
  trainer_ctx0  the real trainer (`python -m mxnetseg train --ctx 0`) on the toy dataset.
  trainer_syncbn  the same with norm_layer SyncBN on one GPU.
  eval_ms_flip  multi-scale (Cityscapes scales) + flip inference of one 2048x1024 image with
                DeepLabv3-R101: time, peak memory (an OOM is a failure).
  trainer_fcn20 FCN-R18 through the full trainer for 20 iterations.
``--smoke`` runs everything tiny on the CPU (1-2 iterations, ResNet-18); CUDA-only parts are
recorded as skipped with the reason.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# dense (no sparsity) peak TFLOP/s: (bf16/fp16 tensor, tf32 tensor), from the vendors' sheets
PEAKS = {"H200": (989.0, 494.7), "H100 SXM": (989.0, 494.7), "H100 80GB HBM3": (989.0, 494.7),
         "H100 PCIe": (756.0, 378.0), "H100": (989.0, 494.7), "A100": (312.0, 156.0),
         "L40S": (362.1, 181.0), "A10G": (70.0, 35.0), "L4": (121.0, 60.0)}


def peak_tflops(name: str):
    """(bf16, tf32) dense peaks for a device name, or (None, None) when unknown."""
    for key, value in PEAKS.items():       # the more specific names come first
        if key.lower() in name.lower():
            return value
    return None, None


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device):
    return torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None


def _reset_peak(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _deeplab(cfg, nclass=19):
    from mxnetseg.models import create_model
    return create_model("DeepLabv3", nclass, backbone=cfg["backbone"], dilate=True, aux=False,
                        pretrained_base=False)


def train_speed(cfg, device):
    from mxnetseg.tools.benchmark import count_flops
    b, (h, w) = cfg["batch"], cfg["train_size"]
    fwd_flops = count_flops(_deeplab(cfg).eval(), (h, w))   # per image, counted on the CPU
    bf16_peak, tf32_peak = peak_tflops(cfg["device_name"])
    rows = {}
    for name, amp, cl, comp in (("fp32_eager", False, False, False),
                                ("bf16_channels_last", True, True, False),
                                ("bf16_channels_last_compile", True, True, True)):
        if comp and cfg["skip_compile"]:
            rows[name] = {"status": "skipped", "reason": cfg["skip_compile"]}
            continue
        try:
            rows[name] = _train_steps(cfg, device, amp, cl, comp, b, h, w)
            peak = bf16_peak if amp else tf32_peak
            flops = 3 * fwd_flops * rows[name]["img_per_s"]
            rows[name]["achieved_tflops"] = flops / 1e12
            rows[name]["mfu"] = flops / (peak * 1e12) if peak else None
        except Exception as err:   # noqa: BLE001
            rows[name] = _failed(err)
        finally:
            torch.cuda.empty_cache() if device.type == "cuda" else None
    base = rows["fp32_eager"].get("img_per_s")
    for row in rows.values():
        if base and row.get("img_per_s"):
            row["speedup_vs_fp32"] = row["img_per_s"] / base
    failed = any(row["status"] == "failed" for row in rows.values())
    return {"status": "failed" if failed else "ok", "forward_gflops_per_image": fwd_flops / 1e9,
            "batch": b, "size": [h, w], "peak_tflops_bf16": bf16_peak, "peak_tflops_tf32": tf32_peak, "runs": rows}


def _train_steps(cfg, device, amp, channels_last, compile_, b, h, w):
    torch.manual_seed(0)
    model = _deeplab(cfg).to(device).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    step_fn = torch.compile(model) if compile_ else model
    x = torch.randn(b, 3, h, w, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 19, (b, h, w), device=device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(step_fn(x)[0].float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    _reset_peak(device)
    start = time.perf_counter()
    for _ in range(cfg["warmup"]):
        step()
    _sync(device)
    warm_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(cfg["iters"]):
        loss = step()
    _sync(device)
    seconds = time.perf_counter() - start
    return {"status": "ok", "img_per_s": b * cfg["iters"] / seconds,
            "step_ms": 1000 * seconds / cfg["iters"], "warmup_s": warm_s,
            "loss": float(loss.detach()), "peak_mem_mb": _peak_mb(device)}


def fp16_scaler(cfg, device):
    if device.type != "cuda":
        return {"status": "skipped", "reason": "fp16 + GradScaler needs CUDA"}
    torch.manual_seed(0)
    b, (h, w) = cfg["batch"], cfg["train_size"]
    model = _deeplab(cfg).to(device).train().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda")
    x = torch.randn(b, 3, h, w, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 19, (b, h, w), device=device)
    losses = []
    for _ in range(cfg["iters"]):
        with torch.autocast("cuda", dtype=torch.float16):
            loss = F.cross_entropy(model(x)[0].float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss))
    grads = all(torch.isfinite(p).all().item() for p in model.parameters())
    finite = all(v == v and abs(v) < float("inf") for v in losses) and grads
    return {"status": "ok" if finite else "failed", "losses": losses, "scale": scaler.get_scale(),
            "weights_finite": grads}


def _trainer(cfg, out: Path, tag: str, over: dict, ctx):
    """The real CLI trainer in a subprocess, on the toy dataset."""
    import yaml
    from mxnetseg.data import ensure_toy_dataset
    root = out / "toy_data"
    ensure_toy_dataset(root / "toy")
    conf = {"model_name": "fcn", "backbone": "resnet18", "data_name": "toy",
            "data_root": str(root), "crop_size": cfg["toy_crop"], "base_size": 128,
            "bs_train": cfg["toy_batch"], "epochs": 100, "backbone_init": {"manner": None},
            "workers": 2, "val": False, "log_interval": 5, "norm_layer": "BN",
            "ckpt_dir": str(out / f"ckpt_{tag}"), "wandb_mode": "disabled", **over}
    path = out / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(conf))
    cmd = [sys.executable, "-m", "mxnetseg", "train", "--config", str(path)]
    if ctx is not None:
        cmd += ["--ctx", str(ctx)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out, env=env,
                          timeout=cfg["trainer_timeout"])
    ckpts = sorted(str(p.relative_to(out)) for p in (out / f"ckpt_{tag}").rglob("*.pth"))
    ok = proc.returncode == 0 and bool(ckpts)
    return {"status": "ok" if ok else "failed", "returncode": proc.returncode,
            "seconds": time.perf_counter() - start, "command": " ".join(cmd),
            "checkpoints": ckpts, **({} if ok else {"stderr_tail": proc.stderr[-2000:]})}


def trainer_ctx0(cfg, out, device):
    if device.type != "cuda":
        return {"status": "skipped", "reason": "--ctx 0 needs a GPU"}
    return _trainer(cfg, out, "ctx0", {"stop_at": cfg["trainer_iters"]}, 0)


def trainer_syncbn(cfg, out, device):
    over = {"stop_at": cfg["trainer_iters"], "norm_layer": "SyncBN"}
    return _trainer(cfg, out, "syncbn", over, 0 if device.type == "cuda" else None)


def trainer_fcn20(cfg, out, device):
    over = {"stop_at": cfg["fcn_iters"], "amp": "bf16" if device.type == "cuda" else None}
    return _trainer(cfg, out, "fcn20", over, 0 if device.type == "cuda" else None)


def eval_ms_flip(cfg, device):
    from mxnetseg.tools.evaluator import SegInferencer, eval_scales
    torch.manual_seed(0)
    model = _deeplab(cfg).to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    scales, flip = eval_scales("cityscapes", True)
    h, w = cfg["eval_size"]
    crop = cfg["eval_crop"]
    inf = SegInferencer(model, 19, crop, max(h, w), scales, flip)
    x = torch.randn(1, 3, h, w, device=device)
    _reset_peak(device)
    start = time.perf_counter()
    with torch.inference_mode():
        pred = inf(x).argmax(1)
    _sync(device)
    return {"status": "ok", "seconds": time.perf_counter() - start, "scales": list(scales),
            "flip": flip, "size": [h, w], "crop": crop, "pred_shape": list(pred.shape),
            "peak_mem_mb": _peak_mb(device)}


def _failed(err):
    return {"status": "failed", "error": f"{type(err).__name__}: {err}".splitlines()[0][:500],
            "traceback": traceback.format_exc()[-2000:]}


def settings(smoke: bool, device: torch.device) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    if smoke:
        return {"device_name": name or "cpu", "backbone": "resnet18", "batch": 2,
                "train_size": (64, 128), "warmup": 1, "iters": 1, "toy_crop": 32, "toy_batch": 8,
                "trainer_iters": 2, "fcn_iters": 2, "eval_size": (128, 256), "eval_crop": 96,
                "trainer_timeout": 300,
                "skip_compile": "smoke run: torch.compile takes minutes on the CPU"}
    return {"device_name": name, "backbone": "resnet101", "batch": 8, "train_size": (512, 1024),
            "warmup": 3, "iters": 10, "toy_crop": 96, "toy_batch": 16, "trainer_iters": 10,
            "fcn_iters": 20, "eval_size": (1024, 2048), "eval_crop": 768,
            "trainer_timeout": 240, "skip_compile": None}


def markdown(report: dict) -> str:
    lines = [f"# gpu_check: {report['device_name']}", "",
             f"{report['date']} · torch {report['torch']} · {report['total_s']:.0f} s "
             f"· smoke={report['smoke']}", "", "| section | status | figures |", "|---|---|---|"]
    for key, sec in report["sections"].items():
        if key == "train_speed" and "runs" in sec:
            for name, row in sec["runs"].items():
                fig = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                for k, v in row.items() if k in (
                                    "img_per_s", "mfu", "speedup_vs_fp32", "peak_mem_mb",
                                    "error", "reason") and v is not None)
                lines.append(f"| train_speed/{name} | {row['status']} | {fig} |")
            continue
        fig = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in sec.items() if k in ("seconds", "peak_mem_mb", "scale",
                                                         "returncode", "error", "reason"))
        lines.append(f"| {key} | {sec['status']} | {fig.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for gpu_check.json and gpu_check.md")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (a test)")
    p.add_argument("--only", nargs="*", help="run only these sections")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available() and not args.smoke
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    if not cuda and not args.smoke:
        print("no CUDA device: running the --smoke sizes on the CPU", file=sys.stderr)
    cfg = settings(not cuda, device)
    sections = {"train_speed": lambda: train_speed(cfg, device),
                "fp16_scaler": lambda: fp16_scaler(cfg, device),
                "trainer_ctx0": lambda: trainer_ctx0(cfg, out, device),
                "trainer_syncbn": lambda: trainer_syncbn(cfg, out, device),
                "eval_ms_flip": lambda: eval_ms_flip(cfg, device),
                "trainer_fcn20": lambda: trainer_fcn20(cfg, out, device)}
    unknown = set(args.only or ()) - set(sections)
    if unknown:
        p.error(f"--only: unknown section(s) {sorted(unknown)}; choose from {list(sections)}")
    start = time.perf_counter()
    report = {"device_name": cfg["device_name"], "smoke": not cuda, "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "settings": {k: v for k, v in cfg.items()}, "sections": {}}
    for key, run in sections.items():
        if args.only and key not in args.only:
            continue
        t0 = time.perf_counter()
        try:
            result = run()
        except Exception as err:   # noqa: BLE001  (one section must not stop the rest)
            result = _failed(err)
        result["section_s"] = time.perf_counter() - t0
        report["sections"][key] = result
        print(f"{key}: {result['status']} ({result['section_s']:.1f} s)", flush=True)
    report["total_s"] = time.perf_counter() - start
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "gpu_check.md").write_text(markdown(report))
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}")
    return 0 if all(s["status"] != "failed" for s in report["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
