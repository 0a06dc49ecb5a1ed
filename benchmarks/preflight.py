#!/usr/bin/env python
"""Cost of the pre-flight pass (headers and end markers of every listed file) on a
Cityscapes-size tree: 2975 train + 500 val pairs of 2048x1024 PNG images and labels, laid out
as Cityscapes (leftImg8bit/, gtFine/), against decoding every pair as `data check` does.

    python benchmarks/preflight.py [--tree /tmp/city_bench] [--pairs 3475] [--decode 60]

The tree is made once (one image and one label written, then copied, so it costs disk
space, not encoding time) and reused on later runs. "warm" runs have the files in the page
cache (a second run); "cold" runs first drop every file of the tree from the cache
(posix_fadvise DONTNEED, this tree only), so each file costs real reads from the disk (the
11 GB tree can be removed afterwards). Not a test: prints a table and its command.
"""
import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mxnetseg.data import get_dataset, read_image, read_label  # noqa: E402
from mxnetseg.data.preflight import preflight  # noqa: E402


def make_tree(root, pairs, h=1024, w=2048):
    """Cityscapes layout with ``pairs`` frames split 2975:500 like the real train/val."""
    done = root / '.complete'
    if done.is_file() and int(done.read_text()) == pairs:
        return
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    # A street-scene-like mix of smooth regions and texture: 2-3 MB as PNG, like the real frames.
    img = np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)
    img[h // 2:] = rng.integers(0, 255, (h - h // 2, w, 3), dtype=np.uint8) // 4 + 96
    label = ((x // 128 + y // 128) % 34).astype(np.uint8)
    src = root / 'src'
    src.mkdir(parents=True)
    cv2.imwrite(str(src / 'img.png'), img)
    cv2.imwrite(str(src / 'lbl.png'), label)
    n_train = round(pairs * 2975 / 3475)
    for i in range(pairs):
        split = 'train' if i < n_train else 'val'
        city = f'city{i % 18:02d}'
        stem = f'{city}_{i:06d}_000019'
        img_dir = root / 'leftImg8bit' / split / city
        lbl_dir = root / 'gtFine' / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / 'img.png', img_dir / f'{stem}_leftImg8bit.png')
        shutil.copyfile(src / 'lbl.png', lbl_dir / f'{stem}_gtFine_labelIds.png')
    done.write_text(str(pairs))


def drop_from_cache(files):
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--tree', default='/tmp/mxnetseg_preflight_bench')
    p.add_argument('--pairs', type=int, default=3475)
    p.add_argument('--decode', type=int, default=60, help='pairs fully decoded for comparison')
    p.add_argument('--workers', type=int, default=None)
    args = p.parse_args(argv)
    root = Path(args.tree)
    t0 = time.perf_counter()
    make_tree(root, args.pairs)
    print(f'tree: {root} ({args.pairs} pairs, made/checked in {time.perf_counter() - t0:.1f} s)')
    sets = [get_dataset('cityscapes', root=root, split=s, mode='testval') for s in ('train', 'val')]
    n = sum(len(ds) for ds in sets)
    files = [f for ds in sets for pair in ds.pairs for f in pair]
    rows = []
    for cold in (True, False):
        for workers in sorted({1, args.workers or 0} - {0}) + [None]:
            if cold:
                drop_from_cache(files)
            t0 = time.perf_counter()
            for ds in sets:
                preflight(ds, workers)
            rows.append((f'pre-flight (headers), {"cold" if cold else "warm"}, '
                         f'workers={workers or "default"}', time.perf_counter() - t0))
    pairs = sets[1].pairs[:args.decode]
    drop_from_cache([f for pair in pairs for f in pair])
    t0 = time.perf_counter()
    for img, lbl in pairs:
        read_image(img), read_label(lbl)
    per_pair = (time.perf_counter() - t0) / len(pairs)
    rows.append((f'full decode, cold, 1 thread (measured on {len(pairs)}, scaled to {n})',
                 per_pair * n))
    print(f'{"what":<62}{"seconds":>9}{"ms/pair":>9}')
    for what, sec in rows:
        print(f'{what:<62}{sec:>9.2f}{1000 * sec / n:>9.3f}')
    print('command: python benchmarks/preflight.py ' + ' '.join(argv or sys.argv[1:]))


if __name__ == '__main__':
    main()
