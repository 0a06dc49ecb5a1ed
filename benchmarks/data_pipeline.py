#!/usr/bin/env python
"""Train-mode data pipeline throughput per core (samples/s of one loader worker): mxnetseg's
dataset against a PIL port of GluonCV's ``_sync_transform`` and, when an MXNet venv with
GluonCV exists (``--mxvenv``, default /work/mxvenv), GluonCV's own transform, on the same files.

    python benchmarks/data_pipeline.py [--camvid ../shared/camvid] [--samples 40] [--rounds 3]

Pipelines (each one sample = decode image + label, flip, random long-side scale, pad, random
crop, blur, normalise):
  ours float   mxnetseg's default: normalised float32 CHW out of the worker
  ours uint8   what the trainer uses: uint8 HWC out, normalised on the device (not timed here:
               a few microseconds of GPU time per batch)
  ours cached  ours uint8 with ``cache_mb`` holding the decoded files (from the 2nd epoch on)
  PIL port     GluonCV's steps written with PIL + numpy (no MXNet needed)
  GluonCV      gluoncv.data.segbase.SegmentationDataset._sync_transform + ToTensor + Normalize,
               as the original trains, run by the MXNet venv's python with one engine thread
One process, one thread (cv2, torch, OpenMP, MXNet engine), as a loader worker; N workers
scale this by at most N. Time is the process's CPU time, not wall-clock time, so other load on
a shared machine does not count; rounds interleave the pipelines and the best of each is kept. The 2048x1024 case is the real Cityscapes frame
of ../shared/realdata (mmsegmentation's demo, 1024x512) upscaled to 2048x1024 with its real
gtFine labels, in four variants (~2.5 MB PNGs, as real leftImg8bit files are); without
realdata, smooth synthetic PNGs. Not a test: prints a table and the command that made it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps

REPO = Path(__file__).resolve().parents[1]
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
CITY = 'mmsegmentation_tests/tests/data/pseudo_cityscapes_dataset/gtFine/val/frankfurt/' \
       'frankfurt_000000_000294_gtFine_labelTrainIds.png'


class PILTrainPipeline:
    """The reference: what a direct port of GluonCV's PIL transforms does per sample."""

    def __init__(self, pairs, crop_size, base_size, ignore_label, seed=0):
        self.pairs, self.crop, self.base, self.ignore = pairs, crop_size, base_size, ignore_label
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.pairs)

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
        return image.transpose(2, 0, 1).copy(), label


def samples_per_s(dataset, n, warmup=2):
    """Samples per CPU-second of this process (all its threads): per-core throughput that a
    busy shared machine does not dilute, as wall-clock time would."""
    for i in range(warmup):
        dataset[i % len(dataset)]
    start = time.process_time()
    for i in range(n):
        dataset[i % len(dataset)]
    return n / (time.process_time() - start)


# ---------------------------------------------------------------------------- GluonCV child
def gluoncv_child(spec):
    """Runs under the MXNet venv (no torch, no mxnetseg): times GluonCV's train transform."""
    import random
    import mxnet as mx
    from gluoncv.data.segbase import SegmentationDataset
    from mxnet.gluon.data.vision import transforms

    class Pairs(SegmentationDataset):
        def __init__(self, pairs, crop, base):
            trans = transforms.Compose([transforms.ToTensor(),
                                        transforms.Normalize(MEAN.tolist(), STD.tolist())])
            super().__init__('.', 'train', 'train', trans, base_size=base, crop_size=crop)
            self.pairs = pairs

        def __len__(self):
            return len(self.pairs)

        def __getitem__(self, index):   # as gluoncv's CitySegmentation.__getitem__ (train)
            img = Image.open(self.pairs[index][0]).convert('RGB')
            mask = Image.open(self.pairs[index][1])
            img, mask = self._sync_transform(img, mask)
            img = self.transform(img)
            img.wait_to_read()
            mask.wait_to_read()
            return img, mask

    random.seed(0)
    mx.random.seed(0)
    ds = Pairs(spec['pairs'], spec['crop'], spec['base'])
    print(json.dumps({'samples_per_s': samples_per_s(ds, spec['n'])}))


def gluoncv_rate(python, pairs, crop, base, n):
    spec = json.dumps({'pairs': [[str(a), str(b)] for a, b in pairs], 'crop': crop,
                       'base': base, 'n': n})
    env = dict(os.environ, OMP_NUM_THREADS='1', MXNET_CPU_WORKER_NTHREADS='1',
               MXNET_ENGINE_TYPE='NaiveEngine', PYTHONPATH='')
    proc = subprocess.run([python, __file__, '--gluoncv-child', spec], capture_output=True,
                          text=True, env=env, cwd=str(REPO))
    if proc.returncode != 0:
        raise RuntimeError(f'GluonCV child failed:\n{proc.stderr[-2000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])['samples_per_s']


# ---------------------------------------------------------------------------- files
def make_cityscapes_like(folder, realdata, entries, count=4):
    """2048x1024 PNG pairs from the real Cityscapes demo frame and gtFine label (upscaled,
    mirrored, shifted, so the four files differ), ~2.5 MB each like real leftImg8bit PNGs."""
    frame = cv2.imread(str(realdata / 'mmsegmentation_tests/demo/demo.png'), cv2.IMREAD_COLOR)
    label = cv2.imread(str(realdata / CITY), cv2.IMREAD_UNCHANGED)
    image = cv2.resize(frame, (2048, 1024), interpolation=cv2.INTER_CUBIC)
    label = cv2.resize(label, (2048, 1024), interpolation=cv2.INTER_NEAREST)
    lines = []
    for i in range(count):
        img, lbl = (image, label) if i % 2 == 0 else (image[:, ::-1], label[:, ::-1])
        shift = 37 * i
        img, lbl = np.roll(img, shift, axis=1), np.roll(lbl, shift, axis=1)
        cv2.imwrite(str(folder / f'{i}_img.png'), img)
        cv2.imwrite(str(folder / f'{i}_lbl.png'), lbl)
        lines.append(f'{i}_img.png {i}_lbl.png')
    # listed ``entries`` times in all: each index draws its own scale and crop
    (folder / 'train.txt').write_text('\n'.join(lines[i % count] for i in range(entries)) + '\n')
    return folder


def make_synthetic(folder, entries, count=4, size=(1024, 2048)):
    """Cityscapes-sized PNG pairs (smooth image + blocky labels), when realdata is absent."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(count):
        small = rng.integers(0, 255, (size[0] // 32, size[1] // 32, 3), dtype=np.uint8)
        img = cv2.resize(small, size[::-1], interpolation=cv2.INTER_CUBIC)
        img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        lbl = cv2.resize(rng.integers(0, 19, (size[0] // 64, size[1] // 64), dtype=np.uint8),
                         size[::-1], interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(folder / f'{i}_img.png'), img)
        cv2.imwrite(str(folder / f'{i}_lbl.png'), lbl)
        lines.append(f'{i}_img.png {i}_lbl.png')
    # listed ``entries`` times in all: each index draws its own scale and crop
    (folder / 'train.txt').write_text('\n'.join(lines[i % count] for i in range(entries)) + '\n')
    return folder


# ---------------------------------------------------------------------------- main
def run_case(root, k, ignore, crop, base, n, rounds, mxpython):
    from mxnetseg.data import get_dataset
    kw = dict(root=root, num_class=k, ignore_label=ignore, split='train', mode='train',
              crop_size=crop, base_size=base)
    ours = get_dataset('list', **kw)
    uint8 = get_dataset('list', **kw)
    uint8.set_output('uint8')
    cached = get_dataset('list', cache_mb=4096, **kw)
    cached.set_output('uint8')
    pipes = {'ours float': ours, 'ours uint8': uint8, 'ours cached': cached,
             'PIL port': PILTrainPipeline(ours.pairs, crop, base, ignore)}
    best = {}
    for _ in range(rounds):
        for name, ds in pipes.items():
            best[name] = max(best.get(name, 0.0), samples_per_s(ds, n))
        if mxpython:
            best['GluonCV'] = max(best.get('GluonCV', 0.0),
                                  gluoncv_rate(mxpython, ours.pairs, crop, base, n))
    return best


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--gluoncv-child']:
        cv2.setNumThreads(1)
        return gluoncv_child(json.loads(argv[1]))
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--camvid', default=str(REPO.parent / 'shared/camvid'))
    p.add_argument('--realdata', default=str(REPO.parent / 'shared/realdata'))
    p.add_argument('--mxvenv', default='/work/mxvenv', help='MXNet + GluonCV venv ("" = skip)')
    p.add_argument('--samples', type=int, default=40, help='timed samples per case and round')
    p.add_argument('--rounds', type=int, default=3)
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import torch
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    mxpython = Path(args.mxvenv, 'bin/python') if args.mxvenv else None
    mxpython = str(mxpython) if mxpython and mxpython.is_file() else None
    if mxpython is None:
        print('GluonCV column skipped: no MXNet venv (--mxvenv)', file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        real = Path(args.realdata)
        n_big = max(args.samples // 2, 5)
        big = (make_cityscapes_like(Path(tmp), real, n_big) if (real / CITY).is_file()
               else make_synthetic(Path(tmp), n_big))
        big_name = ('Cityscapes frame 2048x1024 PNG' if (real / CITY).is_file()
                    else 'synthetic 2048x1024 PNG') + ' (crop 768, base 2048)'
        cases = [('CamVid 480x360 JPG (crop 360, base 480)', args.camvid, 11, 11, 360, 480),
                 (big_name, big, 19, 255, 768, 2048)]
        for name, root, k, ignore, crop, base in cases:
            if not Path(root, 'train.txt').is_file():
                print(f'skipping {name}: {root}/train.txt not found', file=sys.stderr)
                continue
            n = args.samples if crop == 360 else n_big
            rows.append((name, n, run_case(root, k, ignore, crop, base, n, args.rounds,
                                           mxpython)))
    cols = ['ours float', 'ours uint8', 'ours cached', 'PIL port', 'GluonCV']
    print('samples per CPU-second, one thread (best of rounds); ratio = ours uint8 / reference')
    print(f'{"case":<58}{"n":>4}' + ''.join(f'{c:>13}' for c in cols)
          + f'{"vs PIL":>8}{"vs GluonCV":>12}')
    for name, n, best in rows:
        vals = ''.join(f'{best[c]:>13.1f}' if c in best else f'{"-":>13}' for c in cols)
        vs_pil = best['ours uint8'] / best['PIL port']
        vs_gcv = f'{best["ours uint8"] / best["GluonCV"]:.2f}x' if 'GluonCV' in best else '-'
        print(f'{name:<58}{n:>4}{vals}{vs_pil:>7.2f}x{vs_gcv:>12}')
    stamp = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    print(f'command: python benchmarks/data_pipeline.py {" ".join(argv)}'
          f'  (1 thread, {stamp}, {os.cpu_count()} CPUs visible)')


if __name__ == '__main__':
    main()
