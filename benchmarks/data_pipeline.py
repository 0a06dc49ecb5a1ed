#!/usr/bin/env python
"""Train-mode data pipeline throughput (samples/s of one loader worker): mxnetseg's
cv2/numpy dataset against a straightforward PIL implementation of the same transforms
(GluonCV's ``_sync_transform``: flip, random long-side scale, pad, random crop, blur,
normalise), measured in the same run on the same files.

    python benchmarks/data_pipeline.py [--camvid ../shared/camvid] [--samples 40]

One worker = one process with cv2 and torch limited to one thread, as a DataLoader worker
effectively is on a busy machine; a DataLoader with N workers scales this number by at
most N. Not a test: prints a table and the command that made it.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mxnetseg.data import get_dataset  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class PILTrainPipeline:
    """The reference: what a direct port of GluonCV's PIL transforms does per sample."""

    def __init__(self, pairs, crop_size, base_size, ignore_label, seed=0):
        self.pairs, self.crop, self.base, self.ignore = pairs, crop_size, base_size, ignore_label
        self.rng = np.random.default_rng(seed)

    def __getitem__(self, index):
        img_path, lbl_path = self.pairs[index]
        img = Image.open(img_path).convert('RGB')
        mask = Image.open(lbl_path)
        rng, crop = self.rng, self.crop
        if rng.random() < 0.5:
            img, mask = (img.transpose(Image.FLIP_LEFT_RIGHT),
                         mask.transpose(Image.FLIP_LEFT_RIGHT))
        long_side = int(rng.integers(int(self.base * 0.5), int(self.base * 2.0), endpoint=True))
        w, h = img.size
        if h > w:
            oh, ow = long_side, int(1.0 * w * long_side / h + 0.5)
        else:
            ow, oh = long_side, int(1.0 * h * long_side / w + 0.5)
        img, mask = img.resize((ow, oh), Image.BILINEAR), mask.resize((ow, oh), Image.NEAREST)
        if min(ow, oh) < crop:
            padh, padw = max(crop - oh, 0), max(crop - ow, 0)
            img = ImageOps.expand(img, border=(0, 0, padw, padh), fill=0)
            mask = ImageOps.expand(mask, border=(0, 0, padw, padh), fill=self.ignore)
        w, h = img.size
        x1, y1 = int(rng.integers(0, w - crop, endpoint=True)), int(rng.integers(0, h - crop, endpoint=True))
        img, mask = img.crop((x1, y1, x1 + crop, y1 + crop)), mask.crop((x1, y1, x1 + crop, y1 + crop))
        if rng.random() < 0.5:
            img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.random())))
        image = (np.asarray(img, np.float32) / 255.0 - MEAN) / STD
        label = np.asarray(mask).astype(np.int64)
        label[label == self.ignore] = -1
        return torch.from_numpy(image.transpose(2, 0, 1).copy()), torch.from_numpy(label)


def samples_per_s(dataset, n, warmup=2):
    for i in range(warmup):
        dataset[i % len(dataset.pairs)]
    start = time.perf_counter()
    for i in range(n):
        dataset[i % len(dataset.pairs)]
    return n / (time.perf_counter() - start)


def make_large(folder, count=4, size=(1024, 2048)):
    """Cityscapes-sized PNG pairs (smooth image + blocky labels, so PNG sizes are realistic)."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(count):
        small = rng.integers(0, 255, (size[0] // 32, size[1] // 32, 3), dtype=np.uint8)
        img = cv2.resize(small, size[::-1], interpolation=cv2.INTER_CUBIC)
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        lbl = cv2.resize(rng.integers(0, 19, (size[0] // 64, size[1] // 64), dtype=np.uint8),
                         size[::-1], interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(folder / f'{i}_img.png'), img)
        cv2.imwrite(str(folder / f'{i}_lbl.png'), lbl)
        lines.append(f'{i}_img.png {i}_lbl.png')
    (folder / 'train.txt').write_text('\n'.join(lines) + '\n')
    return folder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--camvid', default=str(Path(__file__).resolve().parents[2] / 'shared/camvid'))
    p.add_argument('--samples', type=int, default=40, help='timed samples per case')
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [('CamVid 480x360 (crop 360, base 480)', args.camvid, 11, 11, 360, 480),
                 ('generated 2048x1024 PNG (crop 768, base 2048)', make_large(Path(tmp)),
                  19, 255, 768, 2048)]
        for name, root, k, ignore, crop, base in cases:
            if not Path(root, 'train.txt').is_file():
                print(f'skipping {name}: {root}/train.txt not found', file=sys.stderr)
                continue
            ours = get_dataset('list', root=root, num_class=k, ignore_label=ignore,
                               split='train', mode='train', crop_size=crop, base_size=base)
            ref = PILTrainPipeline(ours.pairs, crop, base, ignore)
            n = args.samples if k == 11 else max(args.samples // 4, 5)
            a, b = samples_per_s(ours, n), samples_per_s(ref, n)
            rows.append((name, n, a, b))
    print(f'{"case":<48}{"n":>4}{"mxnetseg/s":>12}{"PIL/s":>9}{"ratio":>7}')
    for name, n, a, b in rows:
        print(f'{name:<48}{n:>4}{a:>12.1f}{b:>9.1f}{a / b:>6.2f}x')
    print(f'command: python {" ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}'
          f'  (1 thread, {time.strftime("%Y-%m-%d %H:%M")})')


if __name__ == '__main__':
    main()
