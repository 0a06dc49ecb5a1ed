"""Export a model to ONNX and check the file in onnxruntime against PyTorch.

    from mxnetseg.tools.onnx_export import export_onnx
    report = export_onnx(model, "model.onnx", size=(512, 512), dynamic=True)
    report["max_abs_diff"], report["rel_diff"]

The file has one input ``image`` (N, 3, H, W float32, normalised as in training) and one output
``logits`` (N, nclass, H, W): the main output; aux heads are training-only and left out.
TorchScript-based exporter (``dynamo=False``): it handles every model here that ONNX can
express and needs no extra package beyond ``onnx``.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

__all__ = ["export_onnx", "ExportError", "RTOL", "DEFAULT_OPSET"]

RTOL = 1e-4           # max |onnxruntime - PyTorch| / max |PyTorch| allowed
DEFAULT_OPSET = 17


class ExportError(RuntimeError):
    """A model that cannot be exported, or whose ONNX file disagrees with PyTorch."""


@contextlib.contextmanager
def _quiet():
    """Silence the exporter: on failure it dumps the whole traced graph (thousands of lines)
    to the process's stderr from C++, below Python's sys.stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


class _MainOutput(nn.Module):
    """The model's main output only (its forward returns a tuple: main first, then aux)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image):
        out = self.model(image)
        return out[0] if isinstance(out, (tuple, list)) else out


def _requires(name: str):
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ExportError(f"ONNX export needs the '{name}' package: pip install "
                          f"'mxnetseg[export]' (onnx, onnxruntime)") from None


_HINTS = {
    "adaptive_avg_pool2d": "ONNX has no adaptive pooling: the exporter turns it into a fixed "
                           "pooling only when every pooled map divides its input evenly; export "
                           "at a --size whose feature maps do (e.g. a multiple of 192 for the "
                           "pyramid bins 1, 2, 3, 6 at stride 32) and without --dynamic",
    "torchvision::deform_conv2d": "deformable convolution has no ONNX exporter in PyTorch or "
                                  "torchvision; this model cannot be exported",
}


def _unsupported(err: Exception) -> tuple[str, str] | None:
    """(operator, why) for an exporter error about an op ONNX cannot express, else None."""
    text = str(err)
    for pattern in (r"ONNX export of operator ([\w:]+)(?:, ([^.]*))?",
                    r"unrecognized namespace ([\w:]+)",
                    r"[Ee]xporting the operator '?([\w:.]+?)'? to ONNX"):
        match = re.search(pattern, text)
        if match:
            op = match.group(1)
            why = (match.group(2) if match.lastindex and match.lastindex > 1 else None) or ""
            return op, _HINTS.get(op, why or "no ONNX equivalent at this opset")
    return None


def _check(path: Path, wrapped: nn.Module, size, batch: int) -> dict:
    ort = _requires("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(batch, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = wrapped(x).float().numpy()
    got = session.run(None, {"image": x.numpy()})[0]
    if got.shape != ref.shape:
        raise ExportError(f"{path}: onnxruntime output shape {got.shape} != PyTorch's "
                          f"{ref.shape}")
    diff = float(np.max(np.abs(got - ref)))
    scale = float(np.max(np.abs(ref))) or 1.0
    return {"max_abs_diff": diff, "rel_diff": diff / scale, "checked_shape": list(x.shape)}


def export_onnx(model: nn.Module, out, size=(512, 512), batch: int = 1, dynamic: bool = False,
                opset: int = DEFAULT_OPSET, check: bool = True, rtol: float = RTOL,
                name: str = "model") -> dict:
    """Write ``model`` (eval mode, CPU, float32) to ``out``; with ``check``, run the file in
    onnxruntime on a random input and raise ``ExportError`` when the largest difference to
    PyTorch exceeds ``rtol`` times the largest PyTorch output. ``dynamic``: batch, height and
    width are free (checked at batch 2 as well). Returns {path, seconds, opset, dynamic,
    max_abs_diff, rel_diff}."""
    _requires("onnx")
    out = Path(out)
    wrapped = _MainOutput(model.eval().float().cpu()).eval()
    x = torch.rand(batch, 3, *size)
    axes = {"image": {0: "batch", 2: "height", 3: "width"},
            "logits": {0: "batch", 2: "height", 3: "width"}} if dynamic else None
    tmp = out.with_name(out.name + ".tmp")
    start = time.perf_counter()
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(wrapped, (x,), str(tmp), input_names=["image"],
                              output_names=["logits"], dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True, dynamo=False)
    except Exception as err:   # noqa: BLE001  (the exporter raises many types)
        tmp.unlink(missing_ok=True)
        found = _unsupported(err)
        if found:
            raise ExportError(f"{name} cannot be exported to ONNX (opset {opset}): operator "
                              f"{found[0]}: {found[1]}") from err
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"{name} cannot be exported to ONNX (opset {opset}): "
                          f"{type(err).__name__}: {first[:300]}") from err
    tmp.replace(out)
    report = {"path": str(out), "seconds": time.perf_counter() - start, "opset": opset,
              "dynamic": dynamic}
    if check:
        checks = [_check(out, wrapped, size, batch)]
        if dynamic:
            checks.append(_check(out, wrapped, size, 2 if batch == 1 else 1))
        worst = max(checks, key=lambda c: c["rel_diff"])
        report.update(max_abs_diff=worst["max_abs_diff"], rel_diff=worst["rel_diff"])
        if worst["rel_diff"] > rtol:
            raise ExportError(f"{name}: onnxruntime differs from PyTorch by "
                              f"{worst['max_abs_diff']:.3g} (relative {worst['rel_diff']:.3g} "
                              f"> {rtol:g}) on input {worst['checked_shape']}; the file "
                              f"{out} is kept for inspection")
    return report
