"""Pictures of an evaluation and of a training run, drawn with matplotlib (the ``plots`` extra).

- ``plot_class_iou``: per-class IoU bars with the class names, mIoU as a line;
- ``plot_confusion``: the confusion matrix normalised per row (ground truth), so each row shows
  where that class's pixels went whatever its area;
- ``plot_samples``: a grid, one row per sample: image, label, prediction, errors (wrong pixels in
  red over the dimmed image; ignored pixels are no error);
- ``plot_runs``: loss, lr and val mIoU against the iteration, read from JSON-lines run logs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["MissingPackageError", "require_matplotlib", "plot_class_iou", "plot_confusion",
           "plot_samples", "plot_eval", "run_curves", "plot_runs", "denormalize"]

ERROR_COLOR = (255, 0, 0)


class MissingPackageError(ImportError):
    """An optional package is not installed; the message says which extra installs it."""


def require_matplotlib():
    """matplotlib.pyplot on the file-only Agg backend, or a MissingPackageError naming the extra."""
    try:
        import matplotlib
    except ImportError as err:
        raise MissingPackageError(
            "plots need matplotlib, which is not installed: pip install 'mxnetseg[plots]' "
            "(or pip install matplotlib)") from err
    matplotlib.use("Agg", force=True)   # no display: every figure goes to a file
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    require_matplotlib().close(fig)
    return path


def _names(class_names, n: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(n)]
    names = [str(c) for c in class_names]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for {n} classes")
    return names


def plot_class_iou(iou: Sequence[float], class_names, path, title: str = "") -> Path:
    """Horizontal bars (one per class, top to bottom in class order) of IoU in percent."""
    plt = require_matplotlib()
    iou = np.nan_to_num(np.asarray(iou, dtype=np.float64), nan=0.0) * 100
    names = _names(class_names, len(iou))
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.28 * len(iou)))
    y = np.arange(len(iou))
    ax.barh(y, iou, color="tab:blue")
    ax.set_yticks(y, [f"{i} {n}" for i, n in enumerate(names)])
    ax.invert_yaxis()
    ax.axvline(iou.mean(), color="tab:red", linestyle="--", label=f"mIoU {iou.mean():.2f}")
    for yi, value in zip(y, iou):
        ax.text(value + 0.5, yi, f"{value:.1f}", va="center", fontsize=7)
    ax.set_xlim(0, 105)
    ax.set_xlabel("IoU (%)")
    ax.set_title(title or "per-class IoU")
    ax.legend(loc="lower right")
    return _save(fig, path)


def row_normalised(confusion) -> np.ndarray:
    """Each row divided by its sum (the class's labelled pixels); an unlabelled class stays 0."""
    conf = np.asarray(confusion, dtype=np.float64)
    total = conf.sum(axis=1, keepdims=True)
    return np.divide(conf, total, out=np.zeros_like(conf), where=total > 0)


def plot_confusion(confusion, class_names, path, title: str = "") -> Path:
    """Rows = ground truth, columns = prediction, each row normalised to 1."""
    plt = require_matplotlib()
    norm = row_normalised(confusion)
    k = len(norm)
    names = _names(class_names, k)
    side = min(4 + 0.35 * k, 30)
    fig, ax = plt.subplots(figsize=(side, side))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=90, fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    if k <= 25:   # numbers stay readable up to about this many classes
        for i in range(k):
            for j in range(k):
                if norm[i, j] >= 0.005:
                    ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title or "confusion matrix (rows normalised)")
    return _save(fig, path)


def denormalize(image, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)) -> np.ndarray:
    """A normalised (3,H,W) tensor/array back to an HxWx3 uint8 image."""
    if hasattr(image, "detach"):
        image = image.detach().float().cpu().numpy()
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"denormalize: expected a (3,H,W) image, got shape {image.shape}")
    rgb = image.transpose(1, 2, 0) * np.asarray(std) + np.asarray(mean)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def color_mask(label, palette, ignore_color=(0, 0, 0)) -> np.ndarray:
    """Class ids (H,W; -1 or any id outside the palette = ignore) -> HxWx3 uint8 colours."""
    label = np.asarray(label)
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    valid = (label >= 0) & (label < len(palette))
    out = np.empty(label.shape + (3,), dtype=np.uint8)
    out[:] = ignore_color
    out[valid] = palette[label[valid]]
    return out


def error_map(image, label, pred, ignore_index: int = -1) -> np.ndarray:
    """The image dimmed, with every labelled pixel the prediction gets wrong in red."""
    label, pred = np.asarray(label), np.asarray(pred)
    wrong = (label != pred) & (label != ignore_index) & (label >= 0)
    out = (np.asarray(image, dtype=np.float32) * 0.4).astype(np.uint8)
    out[wrong] = ERROR_COLOR
    return out


def plot_samples(samples, palette, path, ignore_index: int = -1) -> Path:
    """``samples``: (image HxWx3 uint8, label HxW, prediction HxW) triples, one row each."""
    plt = require_matplotlib()
    samples = list(samples)
    if not samples:
        raise ValueError("plot_samples: no samples to draw")
    fig, axes = plt.subplots(len(samples), 4, figsize=(12, 3 * len(samples)), squeeze=False)
    for row, (image, label, pred) in zip(axes, samples):
        label, pred = np.asarray(label), np.asarray(pred)
        labelled = (label != ignore_index) & (label >= 0)
        acc = float((label == pred)[labelled].mean()) if labelled.any() else float("nan")
        panels = (("image", image), ("label", color_mask(label, palette)),
                  ("prediction", color_mask(pred, palette)),
                  (f"errors (pixel acc {acc * 100:.1f}%)", error_map(image, label, pred,
                                                                     ignore_index)))
        for ax, (name, picture) in zip(row, panels):
            ax.imshow(picture)
            ax.set_title(name, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def plot_eval(out_dir, confusion, iou, class_names, samples=(), palette=None,
              title: str = "") -> list[Path]:
    """The evaluation's three PNGs under ``out_dir``: class_iou.png, confusion.png and (when
    samples are given) samples.png."""
    require_matplotlib()
    out_dir = Path(out_dir)
    written = [plot_class_iou(iou, class_names, out_dir / "class_iou.png", title),
               plot_confusion(confusion, class_names, out_dir / "confusion.png", title)]
    if samples:
        if palette is None:
            raise ValueError("plot_eval: samples need the dataset's palette")
        written.append(plot_samples(samples, palette, out_dir / "samples.png"))
    return written


# the run log's keys for the curves (see tools/trainer.py): the batch loss key carries the interval
LOSS_PREFIX = "train_loss_batch"


def run_curves(records) -> dict[str, tuple[list, list]]:
    """{"loss"|"train_loss_epoch"|"lr"|"val_mIoU"|"val_loss": (steps, values)} from run-log
    records; a value logged as null (non-finite) is left out."""
    curves: dict[str, tuple[list, list]] = {}
    for rec in records:
        if "step" not in rec:
            continue
        for key, value in rec.items():
            name = "loss" if key.startswith(LOSS_PREFIX) else key
            if name in ("loss", "train_loss_epoch", "lr", "val_mIoU", "val_loss") and \
                    isinstance(value, (int, float)) and not isinstance(value, bool):
                steps, values = curves.setdefault(name, ([], []))
                steps.append(rec["step"])
                values.append(float(value))
    return curves


def plot_runs(runs: dict, path) -> Path:
    """``runs``: {label: run-log records}. Three panels (loss, lr, val mIoU) sharing the
    iteration axis, one line per run in each."""
    plt = require_matplotlib()
    fig, axes = plt.subplots(3, 1, figsize=(9, 10), sharex=True)
    panels = (("loss", "train loss"), ("lr", "learning rate"), ("val_mIoU", "val mIoU"))
    for i, (label, records) in enumerate(runs.items()):
        curves = run_curves(records)
        color = f"C{i % 10}"
        for ax, (key, _) in zip(axes, panels):
            if key in curves:
                ax.plot(*curves[key], color=color, label=label,
                        marker="o" if key == "val_mIoU" else None, markersize=3)
        if "train_loss_epoch" in curves:
            axes[0].plot(*curves["train_loss_epoch"], color=color, linestyle="--", marker="s",
                         markersize=3, label=f"{label} (epoch mean)")
    for ax, (key, name) in zip(axes, panels):
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, f"no {name} in the log", transform=ax.transAxes, ha="center")
    axes[-1].set_xlabel("iteration")
    fig.tight_layout()
    return _save(fig, path)
