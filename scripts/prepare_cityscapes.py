#!/usr/bin/env python
"""Optional: write Cityscapes *_gtFine_labelTrainIds.png next to every *_gtFine_labelIds.png.

    python scripts/prepare_cityscapes.py --root dataset/Cityscapes [--split train val]

The loader maps labelIds to trainIds itself, so this cache is only for other tools (and
for eyeballing) that expect the labelTrainIds files cityscapesscripts' createTrainIdLabelImgs
makes: trainIds 0..18, 255 for every ignored class. The table is mxnetseg's, which the test
suite checks against the official one. With --coarse, gtCoarse is converted instead.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

import _prep

SUFFIX = '_labelIds.png'


def train_id_lut():
    """uint8 table over labelIds 0..255: trainId or 255. Values above 33 are not labelIds."""
    from mxnetseg.data.cityscapes import LABEL_ID_TO_TRAIN_ID
    lut = np.full(256, 255, np.uint8)
    table = LABEL_ID_TO_TRAIN_ID[1:]  # the loader's table is indexed by labelId + 1
    lut[:len(table)] = np.where(table < 0, 255, table).astype(np.uint8)
    return lut, len(table) - 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n\n', 1)[1])
    p.add_argument('--root', required=True, help='the Cityscapes folder (holding gtFine/)')
    p.add_argument('--split', nargs='+', default=['train', 'val'],
                   help='splits to convert (default: train val; test labels are all void)')
    p.add_argument('--coarse', action='store_true', help='convert gtCoarse instead of gtFine')
    args = _prep.add_common_args(p).parse_args(argv)
    from mxnetseg.data import read_label
    gt = 'gtCoarse' if args.coarse else 'gtFine'
    sources = []
    for split in args.split:
        folder = Path(args.root) / gt / split
        if not folder.is_dir():
            raise _prep.PrepError(f'{folder} not found; --root must be the Cityscapes folder '
                                  f'holding {gt}/<split>/<city>/')
        sources.extend(sorted(folder.glob(f'*/*{SUFFIX}')))
    if not sources:
        raise _prep.PrepError(f'no *{SUFFIX} files under {args.root}/{gt}/{{{",".join(args.split)}}}')
    targets = {src: src.with_name(src.name[:-len(SUFFIX)] + '_labelTrainIds.png')
               for src in sources}
    _prep.refuse_existing(targets.values(), args.force)
    lut, max_id = train_id_lut()

    def convert(src):
        raw = read_label(src)
        if raw.max() > max_id:
            raise _prep.PrepError(f'{src}: labelId {int(raw.max())} > {max_id}; not a '
                                  f'labelIds file (a colour or instanceIds file?)')
        _prep.write_png(targets[src], lut[raw], overwrite=args.force)

    _prep.parallel_map(convert, sources, 'Cityscapes trainIds', args.workers)
    print(f'wrote {len(sources)} labelTrainIds files under {Path(args.root) / gt}')


if __name__ == '__main__':
    sys.exit(_prep.run(main, sys.argv[1:]))
