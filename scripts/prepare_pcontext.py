#!/usr/bin/env python
"""Make PascalContext's Labels_59/ and train.txt / val.txt from trainval_merged.json.

    python scripts/prepare_pcontext.py --root dataset/PContext

--root holds JPEGImages/ (VOC 2010) and trainval_merged.json (PASCAL in Detail
annotations). This is the step the original ran through the Detail API on first use:
per image, every segmentation annotation is painted in file order with its category id
(later ones win, as Detail.getMask does), then the 60 kept ids (PCONTEXT_RAW_IDS, sorted)
become 0..59. Output, beside the inputs, the layout mxnetseg.data.PascalContext reads::

    Labels_59/<id>.png   0 = background (ignored by the loader), 1..59
    train.txt, val.txt   one id per line, from each image's "phase"

The masks are COCO-style run-length encodings, decoded here in numpy, so neither the
Detail API nor pycocotools is needed.
"""
import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

import _prep


def rle_counts(rle):
    """Run lengths of a COCO RLE: a list already, or the compressed string form.

    The string packs each count in 5-bit groups (0x20 = more groups follow, 0x10 of the
    last group = negative), offset by 48 to stay printable; counts after the second are
    stored as differences to the count two before (pycocotools' rleFrString).
    """
    counts = rle['counts']
    if isinstance(counts, list):
        return [int(c) for c in counts]
    data = counts.encode('ascii') if isinstance(counts, str) else bytes(counts)
    out, p = [], 0
    while p < len(data):
        x, k, more = 0, 0, True
        while more:
            c = data[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)  # sign-extend
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def decode_rle(rle):
    """Binary HxW mask of a COCO RLE (runs alternate 0/1, column-major, starting with 0)."""
    h, w = (int(v) for v in rle['size'])
    counts = np.asarray(rle_counts(rle), dtype=np.int64)
    if counts.sum() != h * w or (counts < 0).any():
        raise _prep.PrepError(f'run lengths sum to {counts.sum()}, not {h}x{w}; corrupt RLE')
    values = np.arange(len(counts)) % 2
    return np.repeat(values.astype(np.uint8), counts).reshape((h, w), order='F')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n\n', 1)[1])
    p.add_argument('--root', required=True, help='PContext folder with trainval_merged.json')
    p.add_argument('--json', default=None, help='annotation file (default: <root>/trainval_merged.json)')
    args = _prep.add_common_args(p).parse_args(argv)
    from mxnetseg.data.pcontext import PCONTEXT_RAW_IDS
    root = Path(args.root)
    ann_file = Path(args.json) if args.json else root / 'trainval_merged.json'
    if not ann_file.is_file():
        raise _prep.PrepError(f'{ann_file} not found; download trainval_merged.json (PASCAL in '
                              f'Detail) into --root or pass --json')
    try:
        data = json.loads(ann_file.read_text())
        images, segms = data['images'], data['annos_segmentation']
    except (ValueError, KeyError, TypeError) as err:
        raise _prep.PrepError(f'{ann_file}: not a PASCAL in Detail annotation file ({err!r})') \
            from None
    by_image = defaultdict(list)  # file order is paint order, as in Detail.getMask
    for segm in segms:
        by_image[segm['image_id']].append(segm)
    lut = np.full(max(PCONTEXT_RAW_IDS) + 1, 255, np.uint8)  # 255: an id outside the 60
    lut[np.sort(PCONTEXT_RAW_IDS)] = np.arange(len(PCONTEXT_RAW_IDS), dtype=np.uint8)
    lists = {'train.txt': [], 'val.txt': []}
    for img in images:
        name = f'{img["phase"]}.txt'
        if name in lists:
            lists[name].append(img)
    lists = {n: sorted(imgs, key=lambda i: i['file_name']) for n, imgs in lists.items()}
    out = root / 'Labels_59'
    _prep.refuse_existing([out, *(root / n for n in lists)], args.force)

    def convert(img):
        mask = np.zeros((img['height'], img['width']), np.int64)
        for segm in by_image.get(img['image_id'], ()):
            mask[decode_rle(segm['segmentation']) != 0] = segm['category_id']
        if mask.max() >= len(lut) or (lut[mask] == 255).any():
            bad = sorted(set(np.unique(mask).tolist()) - set(PCONTEXT_RAW_IDS))
            raise _prep.PrepError(f'category ids {bad[:10]} are not among the 60 of the '
                                  f'59-class benchmark; is this trainval_merged.json?')
        _prep.write_png(out / f'{Path(img["file_name"]).stem}.png', lut[mask],
                        overwrite=args.force)

    todo = [img for imgs in lists.values() for img in imgs]
    _prep.parallel_map(convert, todo, 'PContext labels', args.workers)
    for name, imgs in lists.items():  # lists last: their presence marks a finished tree
        _prep.write_list(root / name, [Path(i['file_name']).stem for i in imgs],
                         overwrite=args.force)
    print(f'wrote {len(todo)} labels to {out}; ' +
          ', '.join(f'{n}: {len(i)}' for n, i in lists.items()))


if __name__ == '__main__':
    sys.exit(_prep.run(main, sys.argv[1:]))
