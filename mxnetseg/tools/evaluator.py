"""Whole-image / sliding-window / multi-scale / flip inference and dataset evaluation.

The geometry (sizes, padding, window grid) follows GluonCV's `MultiEvalModel`
(gluoncv/model_zoo/segbase.py), which the original MXNetSeg used for every reported number.
Both the image and the score maps are resized there with `mx.nd.contrib.BilinearResize2D`,
whose `align_corners` defaults to True, so we resize with `align_corners=True` as well.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path, PurePath
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from mxnetseg.config import ConfigError, check_scales
from mxnetseg.data.base import single_thread_opencv_for_workers
from mxnetseg.models.layers import resize
from mxnetseg.tools.metrics import SegmentationMetric

__all__ = ['eval_scales', 'autocast_dtype', 'autocast', 'default_window_batch', 'SegInferencer', 'Evaluator']

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def eval_scales(data_name: str, ms: bool, scales: Sequence[float] | None = None
                ) -> tuple[tuple[float, ...], bool]:
    """The original eval.py's scales and flip switch (`--ms` turns on both); ``scales``
    (``--scales`` / config ``eval_scales``) replaces the per-dataset set."""
    if not ms:
        return (1.0,), False
    if scales is not None:
        return check_scales(scales, 'scales'), True
    name = data_name.lower()
    if 'city' in name or 'camvid' in name:
        return (0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25), True
    if 'gatech' in name:
        return (0.5, 0.8, 1.0, 1.2, 1.4), True
    return (0.5, 0.75, 1.0, 1.25, 1.5, 1.75), True


def autocast_dtype(amp: str | None, device) -> torch.dtype | None:
    """The autocast dtype for ``--amp`` None / 'bf16' / 'fp16' on ``device``."""
    dtypes = {None: None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
    if amp not in dtypes:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if amp == 'fp16' and torch.device(device).type != 'cuda':
        raise ConfigError("amp 'fp16' needs a GPU; use 'bf16' on the CPU")
    return dtypes[amp]


def autocast(device, dtype: torch.dtype | None):
    """Autocast to ``dtype`` on ``device``'s type; no autocast when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


class SegInferencer:
    """Scores for normalised images of one size (N,3,H,W) -> (N,K,H,W); argmax over dim 1 =
    prediction. Each image's scores are computed as if it were alone (own log offset).

    fusion='exp' is the original's: per window exp(logits [+ flipped-back logits of the flipped
    input]), averaged over overlapping windows, resized, summed over scales. To stay finite for
    large logits every scale is computed as exp(logits - M_s) in float64 with M_s the largest
    logit of that scale, and scales are combined as sum_s exp(M_s - M) * E_s. The returned
    scores therefore equal the original's divided by exp(M); `self.log_offset` holds M of the
    last call. fusion='softmax' averages softmax probabilities over flips, windows and scales.
    """

    def __init__(self, model: torch.nn.Module, nclass: int, crop_size: int, base_size: int,
                 scales: Sequence[float] = (1.0,), flip: bool = False,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 fusion: str = 'exp', window_batch: int = 8, amp_dtype: torch.dtype | None = None):
        if fusion not in ('exp', 'softmax'):
            raise ValueError(f"fusion must be 'exp' or 'softmax', got {fusion!r}")
        if window_batch < 1 or crop_size < 2 or base_size < 1 or not scales:
            raise ValueError(f'bad inference settings: crop_size={crop_size}, '
                             f'base_size={base_size}, scales={scales}, window_batch={window_batch}')
        self.model, self.nclass = model, int(nclass)
        self.crop_size, self.base_size = int(crop_size), int(base_size)
        self.scales, self.flip = tuple(float(s) for s in scales), bool(flip)
        self.fusion, self.window_batch, self.amp_dtype = fusion, int(window_batch), amp_dtype
        # pad with the normalised value of a black pixel, as GluonCV's _pad_image does
        self.pad_value = [-m / s for m, s in zip(mean, std)]
        self.stride = int(self.crop_size * (2.0 / 3.0))
        self.log_offset: torch.Tensor | None = None

    def scaled_size(self, h: int, w: int, scale: float) -> tuple[int, int]:
        long_size = int(math.ceil(self.base_size * scale))
        if h > w:
            return long_size, int(1.0 * w * long_size / h + 0.5)
        return int(1.0 * h * long_size / w + 0.5), long_size

    def windows(self, ph: int, pw: int) -> list[tuple[int, int, int, int]]:
        """(h0, h1, w0, w1) of every crop over a padded (ph, pw) image. The last window is not
        shifted back to the border: it may be short and gets padded, exactly as GluonCV."""
        crop, stride = self.crop_size, self.stride
        rows = int(math.ceil(1.0 * (ph - crop) / stride)) + 1
        cols = int(math.ceil(1.0 * (pw - crop) / stride)) + 1
        return [(i * stride, min(i * stride + crop, ph), j * stride, min(j * stride + crop, pw))
                for i in range(rows) for j in range(cols)]

    def _pad(self, img: torch.Tensor) -> torch.Tensor:
        """Pad bottom/right up to crop_size on each side that is shorter."""
        h, w = img.shape[-2:]
        ph, pw = max(h, self.crop_size), max(w, self.crop_size)
        if (ph, pw) == (h, w):
            return img
        out = img.new_empty(img.shape[:-2] + (ph, pw))
        out[:] = torch.tensor(self.pad_value, dtype=img.dtype, device=img.device).view(1, -1, 1, 1)
        out[..., :h, :w] = img
        return out

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Per-window fused map (n,K,crop,crop): summed logits ('exp') or mean probs."""
        n = batch.shape[0]
        inputs = torch.cat([batch, batch.flip(-1)]) if self.flip else batch
        if inputs.is_cuda:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(inputs.device, self.amp_dtype):
            out = self.model(inputs)[0]
        if out.shape[1] != self.nclass or out.shape[-2:] != batch.shape[-2:]:
            raise ValueError(f'model returned {tuple(out.shape)} for input {tuple(inputs.shape)}; '
                             f'expected {self.nclass} classes at the input size')
        # the flip sum stays in float32 as in the original; only the exp needs float64
        out = out.float()
        if self.fusion == 'softmax':
            out = out.softmax(dim=1)
        if self.flip:
            out = out[:n] + out[n:].flip(-1)
            if self.fusion == 'softmax':
                out = out / 2
        return out.double()

    def _scale_jobs(self, image: torch.Tensor):
        """Every window of every scale, in scale order: (state, box, crop) with the scale's
        accumulator state created when its first window is reached."""
        h, w = image.shape[-2:]
        for scale in self.scales:
            height, width = self.scaled_size(h, w, scale)
            padded = self._pad(resize(image, (height, width)))
            boxes = self.windows(*padded.shape[-2:])
            state = _ScaleState(image.shape[0], self.nclass, padded.shape[-2:], (height, width),
                                len(boxes), image.device)
            for h0, h1, w0, w1 in boxes:
                yield state, (h0, h1, w0, w1), self._pad(padded[:, :, h0:h1, w0:w1])
            del padded

    def _run_chunk(self, chunk, n: int) -> None:
        """One forward over the windows of ``chunk`` (possibly of several scales); each window's
        scores go into its scale's accumulator. Out of GPU memory: halve the batch and retry."""
        try:
            out = self._forward(torch.cat([crop for _, _, crop in chunk]))
        except torch.cuda.OutOfMemoryError:
            if len(chunk) == 1:
                raise
            torch.cuda.empty_cache()
            half = (len(chunk) + 1) // 2
            self.window_batch = min(self.window_batch, half * n)   # and for later chunks
            self._run_chunk(chunk[:half], n)
            self._run_chunk(chunk[half:], n)
            return
        out = out.view(len(chunk), n, *out.shape[1:])     # window-major, as concatenated
        for state in dict.fromkeys(s for s, _, _ in chunk):   # the chunk's scales, in order
            rows = [i for i, (s, _, _) in enumerate(chunk) if s is state]
            part = out[rows[0]:rows[-1] + 1]                 # a scale's windows are contiguous
            if self.fusion == 'exp':
                part = state.shifted_exp(part)
            for (_, (h0, h1, w0, w1), _), score in zip(chunk[rows[0]:rows[-1] + 1], part):
                state.add((h0, h1, w0, w1), score)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Windows of all scales share forwards: up to ``window_batch`` windows (times the
        images, plus the flipped copies) per call of the model. Each scale is resized back and
        fused as soon as its last window is in, so at most the scales of one batch hold a
        full-size accumulator at a time."""
        if image.dim() == 3:
            image = image.unsqueeze(0)
        if image.dim() != 4 or image.shape[0] < 1:
            raise ValueError(f'expected images (N,3,H,W), got {tuple(image.shape)}')
        n, (h, w) = image.shape[0], image.shape[-2:]
        self._total, self._offset = None, None
        chunk = []
        for job in self._scale_jobs(image):
            chunk.append(job)
            # about window_batch crops per forward, whatever the number of images
            if len(chunk) >= max(1, self.window_batch // n):
                self._flush(chunk, n, (h, w))
                chunk = []
        if chunk:
            self._flush(chunk, n, (h, w))
        total, self.log_offset = self._total, self._offset
        self._total = self._offset = None
        return total

    def _flush(self, chunk, n: int, size) -> None:
        self._run_chunk(chunk, n)
        for state in dict.fromkeys(s for s, _, _ in chunk):
            if state.done:
                self._fuse(resize(state.scores(), size), state.offset)

    def _fuse(self, score: torch.Tensor, m_s: torch.Tensor) -> None:
        """Add one scale's score map (already at the image size) to the running total."""
        if self.fusion == 'softmax':
            score = score / len(self.scales)
            self._total = score if self._total is None else self._total + score
        elif self._total is None:
            self._total, self._offset = score, m_s
        else:
            new = torch.maximum(self._offset, m_s)
            self._total = self._total * torch.exp(self._offset - new) + score * torch.exp(m_s - new)
            self._offset = new


class _ScaleState:
    """One scale's running window sum over its padded image, per-pixel window counts and (for
    'exp' fusion) each image's log offset M_s, kept as a running maximum."""

    def __init__(self, n: int, nclass: int, padded_size, size, windows: int, device):
        ph, pw = padded_size
        self.acc = torch.zeros((n, nclass, ph, pw), dtype=torch.float64, device=device)
        self.count = torch.zeros((1, 1, ph, pw), dtype=torch.float64, device=device)
        self.offset = torch.zeros((n, 1, 1, 1), dtype=torch.float64, device=device)
        self.size, self.left, self.seen = size, windows, False

    def shifted_exp(self, out: torch.Tensor) -> torch.Tensor:
        """exp(out - M_s) for windows (k,n,K,h,w). As in an online logsumexp, what is already
        summed is rescaled when the maximum grows: exact without holding every window."""
        top = out.amax(dim=(0, 2, 3, 4)).view(-1, 1, 1, 1)
        if not self.seen:
            self.offset, self.seen = top, True
        else:
            new = torch.maximum(self.offset, top)
            self.acc.mul_(torch.exp(self.offset - new))
            self.offset = new
        return torch.exp(out - self.offset)

    def add(self, box, score: torch.Tensor) -> None:
        h0, h1, w0, w1 = box
        self.acc[:, :, h0:h1, w0:w1] += score[:, :, :h1 - h0, :w1 - w0]
        self.count[0, :, h0:h1, w0:w1] += 1
        self.left -= 1

    @property
    def done(self) -> bool:
        return self.left == 0

    def scores(self) -> torch.Tensor:
        height, width = self.size
        return self.acc.div_(self.count)[:, :, :height, :width]


def default_window_batch(device) -> int:
    """Windows per forward when not given: 16 on a GPU (an out-of-memory error halves it, see
    SegInferencer); 8 on the CPU, as before: there batches do not pay by themselves (README,
    benchmarks/eval_throughput.py), 8 only bounds the memory."""
    return 16 if torch.device(device).type == 'cuda' else 8


class Evaluator:
    """Runs a SegInferencer over a dataset: scores in 'testval' mode, PNGs in 'test' mode.

    With ``world`` > 1 (an initialised process group) this process takes images ``rank``,
    ``rank + world``, ...: each image is predicted (and written) by exactly one process, and
    the confusion matrices are summed, so every process ends with the metrics of the whole set.
    """

    def __init__(self, model: torch.nn.Module, dataset, *, nclass: int, crop_size: int,
                 base_size: int, scales: Sequence[float] = (1.0,), flip: bool = False,
                 device='cpu', amp: str | None = None, fusion: str = 'exp',
                 window_batch: int | None = None, num_workers: int = 2, ignore_index: int = -1,
                 rank: int = 0, world: int = 1):
        if not 0 <= rank < world:
            raise ValueError(f'rank {rank} outside a world of {world} processes')
        self.device = torch.device(device)
        on_cuda = self.device.type == 'cuda'
        self.model = model.to(self.device).eval()
        if on_cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        # fp32 unless asked: reported numbers should not depend on the autocast dtype
        amp_dtype = autocast_dtype(amp, self.device)
        self.dataset, self.nclass, self.num_workers = dataset, int(nclass), int(num_workers)
        self.rank, self.world = int(rank), int(world)
        self.indices = range(self.rank, len(dataset), self.world)   # this process's share
        self.inferencer = SegInferencer(
            self.model, nclass, crop_size, base_size, scales, flip, fusion=fusion,
            window_batch=window_batch or default_window_batch(self.device), amp_dtype=amp_dtype)
        self.metric = SegmentationMetric(nclass, ignore_index, device=self.device)

    def _loader(self) -> DataLoader:
        # batch of one: full-resolution images differ in size
        if self.num_workers:
            single_thread_opencv_for_workers()
        part = self.dataset if self.world == 1 else Subset(self.dataset, self.indices)
        return DataLoader(part, batch_size=1, shuffle=False, num_workers=self.num_workers,
                          pin_memory=self.device.type == 'cuda')

    def _bar(self, desc: str):
        return tqdm(self._loader(), desc=desc, dynamic_ncols=True, disable=self.rank != 0)

    def predict(self, image: torch.Tensor) -> torch.Tensor:
        """Class indices (H,W) for one normalised image (3,H,W) or (1,3,H,W)."""
        image = image.to(self.device, non_blocking=True)
        return self.inferencer(image).argmax(dim=1)[0]

    def run_val(self, keep: int = 0) -> dict:
        """Score the dataset (this process's share, then summed over processes); the first
        ``keep`` (image, label, prediction) triples of this process (CPU tensors) stay in
        ``self.samples`` for pictures."""
        self.metric.reset()
        self.samples = []
        bar = self._bar('eval')
        for image, label in bar:
            pred = self.predict(image)
            self.metric.update(label.to(self.device, non_blocking=True), pred[None])
            if len(self.samples) < keep:
                self.samples.append((image[0], label[0], pred.cpu()))
            bar.set_postfix_str('PA: %.4f  mIoU: %.4f' % self.metric.get())
        if self.world > 1:
            self.metric.all_reduce()
        return self.metric.summary()

    def run_predict(self, out_dir, palette=None, label_transform: Callable | None = None,
                    submission: bool = False, also=()) -> list[Path]:
        """Write one PNG per image under out_dir, mirroring each relative path.

        Colour 'P' PNGs with `palette` (default: the dataset's); with `submission=True` plain
        8-bit PNGs of `label_transform(pred)` (e.g. Cityscapes trainId -> labelId). ``also``:
        more ``(folder, label_transform)`` outputs written as plain PNGs from the same
        prediction (Cityscapes' labelIds beside the colour images: one inference, two files).
        Returns every written path, of all processes, in dataset order."""
        out_dir = Path(out_dir)
        if palette is None and not submission:
            palette = getattr(self.dataset, 'palette', None)
            if palette is None:
                raise ValueError('no palette given and the dataset has none; pass palette=...')
        flat_palette = (None if submission
                        else np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
        targets = [(out_dir, flat_palette, label_transform)]
        targets += [(Path(folder), None, transform) for folder, transform in also]
        written = []
        for index, (image, meta) in zip(self.indices, self._bar('predict')):
            pred = self.predict(image).cpu().numpy()
            for folder, colours, transform in targets:
                mask = pred if transform is None else np.asarray(transform(pred))
                path = folder / _output_name(meta, index)
                path.parent.mkdir(parents=True, exist_ok=True)
                _to_png(mask, colours).save(path)
                written.append((index, path))
        if self.world > 1:
            shares = [None] * self.world
            torch.distributed.all_gather_object(shares, written)
            written = sorted((item for share in shares for item in share), key=lambda t: t[0])
        return [path for _, path in written]


def _output_name(meta, index: int) -> PurePath:
    """Relative output path: the image's relative path with '.png'; index if there is none."""
    if isinstance(meta, (list, tuple)) and len(meta) == 1:
        meta = meta[0]
    if not isinstance(meta, str):
        return PurePath(f'{index:06d}.png')
    rel = PurePath(meta)
    if rel.is_absolute():
        rel = rel.relative_to(rel.anchor)
    if '..' in rel.parts or not rel.name:
        raise ValueError(f'relative path {meta!r} would leave the output folder')
    return rel.with_suffix('.png')


def _to_png(mask: np.ndarray, flat_palette):
    from PIL import Image
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(f'mask values {mask.min()}..{mask.max()} do not fit an 8-bit PNG')
    img = Image.fromarray(mask.astype(np.uint8))
    if flat_palette is not None:
        img.putpalette(flat_palette)   # turns the 'L' image into 'P' with these colours
    return img
