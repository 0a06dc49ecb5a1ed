"""Segmentation metrics from one dataset-level confusion matrix.

`get()` reproduces GluonCV's `SegmentationMetric` number for number (pixAcc and mIoU averaged
over all classes, absent classes counting 0); `summary()` adds the other common conventions so a
result can be compared with papers that use mmseg or the official Cityscapes/VOC scripts.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..data.base import DataError

__all__ = ['SegmentationMetric', 'EPS']

# GluonCV divides by (np.spacing(1) + area); keeping the same guard keeps the same digits.
EPS = 2.220446049250313e-16


class SegmentationMetric:
    """Accumulates a confusion matrix over a whole dataset.

    Rows are ground truth, columns are predictions. Internally the matrix has one extra column:
    a prediction equal to `ignore_index` on a labelled pixel ("no class") is a miss that adds to
    the ground-truth area only, which is how the official ADE20K and Cityscapes scripts treat
    predictions outside the evaluated classes. Argmax predictions never hit that column.
    """

    # devices whose tensors can be read without waiting on a queue (tests clear it to exercise
    # the accelerator path on CPU)
    _host_devices = ('cpu',)

    def __init__(self, nclass: int, ignore_index: int = -1, device=None):
        if int(nclass) < 1:
            raise ValueError(f'nclass must be >= 1, got {nclass}')
        self.nclass = int(nclass)
        self.ignore_index = int(ignore_index)
        self.device = torch.device(device) if device is not None else None
        self.reset()

    def reset(self) -> None:
        self._hist = None     # (K, K+1) int64, created on the device of the first update
        self._bad = None      # [count, smallest, largest] of out-of-range values (deferred check)

    def _init_state(self, device: torch.device) -> None:
        k = self.nclass
        self._hist = torch.zeros(k, k + 1, dtype=torch.int64, device=device)
        big = torch.iinfo(torch.int64).max
        self._bad = torch.tensor([0, big, -big], dtype=torch.int64, device=device)

    def update(self, labels, preds) -> None:
        """Add a batch, in GluonCV's order: ``update(labels, preds)`` (keywords work too).

        `labels`: (N,H,W) or (H,W) int, `ignore_index` = skip. `preds`: logits with the class
        axis at dim -3 ((N,K,H,W) or (K,H,W)), or class indices shaped like the labels. Either
        may be a list/tuple (one entry per device, as GluonCV's scripts pass them), paired in
        order. Anything array-like (numpy, torch) is accepted."""
        if isinstance(labels, (list, tuple)) or isinstance(preds, (list, tuple)):
            labels = labels if isinstance(labels, (list, tuple)) else [labels]
            preds = preds if isinstance(preds, (list, tuple)) else [preds]
            if len(labels) != len(preds):
                raise ValueError(f'{len(labels)} label arrays but {len(preds)} prediction arrays')
            for label, pred in zip(labels, preds):
                self._update(torch.as_tensor(label), torch.as_tensor(pred))
            return
        self._update(torch.as_tensor(labels), torch.as_tensor(preds))

    @torch.no_grad()
    def _update(self, label: torch.Tensor, pred: torch.Tensor) -> None:
        if self._hist is None:
            self._init_state(self.device if self.device is not None else label.device)
        device = self._hist.device
        k = self.nclass
        is_logits = pred.dim() == label.dim() + 1
        if is_logits:
            if pred.shape[-3] != k or pred.shape[:-3] + pred.shape[-2:] != label.shape:
                raise ValueError(f'logits of shape {tuple(pred.shape)} do not match {k} classes '
                                 f'and label shape {tuple(label.shape)}')
            pred = pred.argmax(dim=-3)
        elif pred.shape != label.shape:
            raise ValueError(f'prediction shape {tuple(pred.shape)} != label shape '
                             f'{tuple(label.shape)}; pass class indices shaped like the label '
                             'or logits (N,K,H,W)')
        label = label.to(device, torch.int64, non_blocking=True).reshape(-1)
        pred = pred.to(device, torch.int64, non_blocking=True).reshape(-1)

        in_range = (label >= 0) & (label < k)
        valid = in_range & (label != self.ignore_index)
        bad = ~in_range & (label != self.ignore_index)
        pred_ok = (pred >= 0) & (pred < k)
        if not is_logits:
            bad_pred = valid & ~pred_ok & (pred != self.ignore_index)
            bad = bad | bad_pred
            valid = valid & ~bad_pred
        col = torch.where(pred_ok, pred, k)
        # Everything not counted lands in one dump bin past the matrix; a fixed-size histogram
        # needs no data-dependent shapes, so nothing here waits for the device.
        idx = torch.where(valid, label * (k + 1) + col, k * (k + 1))
        nbins = k * (k + 1) + 1
        on_host = device.type in self._host_devices
        if on_host:
            counts = torch.bincount(idx, minlength=nbins)
        else:
            # CUDA bincount copies min/max to the host to size its output: a sync per call.
            counts = torch.zeros(nbins, dtype=torch.int64, device=device)
            counts.scatter_add_(0, idx, torch.ones_like(idx))

        bad_vals = torch.where(bad & ~in_range, label, pred) if not is_logits else label
        if on_host:
            # Reading a CPU tensor costs no sync, so fail fast before the matrix is touched.
            if bool(bad.any()):
                raise DataError(self._bad_message(int(bad.sum()), bad_vals[bad].unique().tolist()))
        else:
            big = torch.iinfo(torch.int64).max
            self._bad[0] += bad.sum()
            self._bad[1] = torch.minimum(self._bad[1], torch.where(bad, bad_vals, big).min())
            self._bad[2] = torch.maximum(self._bad[2], torch.where(bad, bad_vals, -big).max())
        self._hist += counts[:-1].view(k, k + 1)

    def _bad_message(self, count: int, values) -> str:
        return (f'{count} label/prediction values outside [0, {self.nclass}) that are not the '
                f'ignore index {self.ignore_index}: {values}. Map them to a class or to the '
                'ignore index in the dataset (e.g. 255 -> -1).')

    def _check(self) -> None:
        if self._bad is not None:
            count, lo, hi = self._bad.tolist()
            if count:
                raise DataError(self._bad_message(count, f'smallest {lo}, largest {hi}'))

    def all_reduce(self) -> None:
        """Sum the matrix over all torch.distributed ranks (no-op when not initialised)."""
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            return
        if self._hist is None:  # a rank that saw no data still has to join the collective
            device = self.device
            if device is None:
                device = (torch.device('cuda', torch.cuda.current_device())
                          if dist.get_backend() == 'nccl' else torch.device('cpu'))
            self._init_state(device)
        dist.all_reduce(self._hist, op=dist.ReduceOp.SUM)
        for i, op in enumerate((dist.ReduceOp.SUM, dist.ReduceOp.MIN, dist.ReduceOp.MAX)):
            part = self._bad[i:i + 1].clone()
            dist.all_reduce(part, op=op)
            self._bad[i:i + 1] = part

    @property
    def confusion(self) -> np.ndarray:
        """(K, K) int64, rows = ground truth, columns = prediction."""
        return self._full()[:, :self.nclass].copy()

    def _full(self) -> np.ndarray:
        self._check()
        if self._hist is None:
            return np.zeros((self.nclass, self.nclass + 1), dtype=np.int64)
        return self._hist.cpu().numpy()

    def _areas(self):
        full = self._full()
        conf = full[:, :self.nclass]
        inter = np.diag(conf).copy()
        label_area = full.sum(axis=1)
        pred_area = conf.sum(axis=0)      # valid pixels only, as GluonCV masks by label > 0
        return inter, label_area, pred_area + label_area - inter

    def get(self) -> tuple[float, float]:
        """(pixAcc, mIoU) exactly as GluonCV: mean IoU over all K classes."""
        inter, label_area, union = self._areas()
        pix_acc = 1.0 * inter.sum() / (EPS + label_area.sum())
        iou = 1.0 * inter / (EPS + union)
        return float(pix_acc), float(iou.mean())

    def summary(self) -> dict:
        inter, label_area, union = self._areas()
        labelled = label_area.sum()
        iou = 1.0 * inter / (EPS + union)
        present = label_area > 0
        seen = union > 0
        nan = float('nan')   # not 0 when nothing was labelled: there is nothing to average
        acc = inter[present] / label_area[present]
        fw = label_area[present] / max(labelled, 1) * inter[present] / union[present]
        return {
            'pixAcc': float(1.0 * inter.sum() / (EPS + labelled)),
            'mIoU': float(iou.mean()),
            'mAcc': float(acc.mean()) if present.any() else nan,
            'fwIoU': float(fw.sum()) if present.any() else nan,
            'mIoU_present': float(np.mean(inter[seen] / union[seen])) if seen.any() else nan,
            'IoU': iou,
        }

    def table(self, class_names: Sequence[str] | None = None) -> str:
        """Per-class IoU (x100, 2 decimals), then PA and mIoU, as the original's eval log."""
        iou = self.summary()['IoU']
        names = list(class_names) if class_names is not None else [''] * self.nclass
        if len(names) != self.nclass:
            raise ValueError(f'{len(names)} class names for {self.nclass} classes')
        width = max([len(n) for n in names] + [0])
        lines = []
        for i, (name, value) in enumerate(zip(names, iou)):
            tag = f'{i:2} {name:<{width}}' if width else f'{i:2}'
            lines.append(f'class {tag} ==> IoU {value * 100:.2f}')
        pix_acc, miou = self.get()
        lines.append(f'PA: {pix_acc * 100:.2f}, mIoU: {miou * 100:.2f}')
        return '\n'.join(lines)
