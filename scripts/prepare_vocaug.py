#!/usr/bin/env python
"""Build the PascalVOCAug tree (VOC 2012 + SBD, 10582 training images) from the downloads.

    python scripts/prepare_vocaug.py --voc VOCdevkit/VOC2012 --sbd benchmark_RELEASE/dataset \
        --out dataset/VOCdevkit/VOCAug

Inputs: VOC 2012 (JPEGImages/, SegmentationClass/ palette PNGs, ImageSets/Segmentation/
{train,val}.txt) and SBD (img/, cls/*.mat with GTcls.Segmentation, train.txt, val.txt).
Output, the layout mxnetseg.data.PascalVOCAug reads::

    img_aug/<id>.jpg   copied unchanged
    cls_aug/<id>.png   single-channel class ids 0..20, 255 = void
    train.txt (VOC train, 1464), train_aug.txt (10582), trainval_aug.txt (12031), val.txt (1449)
                       "<id>.jpg <id>.png" lines

As in the original's recipe, a VOC label overrides the SBD label of the same image, and
train_aug = (SBD train + SBD val + VOC train) minus VOC val, so no val image is trained on.
Needs scipy (SBD labels are MATLAB files).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

import _prep

VOC_VOID = 255
NUM_CLASS = 21


def _ids(path, what):
    path = Path(path)
    if not path.is_file():
        raise _prep.PrepError(f'{path} not found; {what}')
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def plan(voc, sbd):
    """(lists {name: [id, ...]}, sources {id: (image, label)}) without writing anything."""
    voc, sbd = Path(voc), Path(sbd)
    voc_hint = 'pass --voc the VOC2012 folder (with ImageSets/Segmentation/)'
    sbd_hint = 'pass --sbd the SBD "dataset" folder (with img/, cls/, train.txt, val.txt)'
    voc_train = _ids(voc / 'ImageSets/Segmentation/train.txt', voc_hint)
    voc_val = _ids(voc / 'ImageSets/Segmentation/val.txt', voc_hint)
    sbd_ids = _ids(sbd / 'train.txt', sbd_hint) + _ids(sbd / 'val.txt', sbd_hint)
    val = set(voc_val)
    train_aug = sorted(set(sbd_ids + voc_train) - val)
    lists = {'train.txt': sorted(voc_train), 'train_aug.txt': train_aug,
             'trainval_aug.txt': sorted(set(train_aug) | val), 'val.txt': sorted(voc_val)}
    voc_labelled = set(voc_train) | val
    sources, missing = {}, []
    for ident in lists['trainval_aug.txt']:
        label = (voc / 'SegmentationClass' / f'{ident}.png' if ident in voc_labelled
                 else sbd / 'cls' / f'{ident}.mat')
        image = voc / 'JPEGImages' / f'{ident}.jpg'
        if not image.is_file():
            image = sbd / 'img' / f'{ident}.jpg'
        missing.extend(str(p) for p in (image, label) if not p.is_file())
        sources[ident] = (image, label)
    if missing:
        raise _prep.PrepError(f'{len(missing)} listed source file(s) missing, e.g. '
                              f'{", ".join(missing[:5])}; check --voc / --sbd point at '
                              f'complete downloads')
    return lists, sources


def read_source_label(path):
    """Class ids of a VOC palette PNG or an SBD .mat, validated to 0..20 and 255."""
    from mxnetseg.data import read_label
    from mxnetseg.data.splitlist import read_mat_label
    path = Path(path)
    if path.suffix == '.mat':
        label = read_mat_label(path, 'GTcls', 'Segmentation', dataset='SBD')
    else:  # palette PNG: the indices are the class ids (read_label keeps them, unlike cv2)
        label = read_label(path)
    values = np.unique(label)
    bad = values[(values >= NUM_CLASS) & (values != VOC_VOID) | (values < 0)]
    if bad.size:
        raise _prep.PrepError(f'{path}: values {bad[:10].tolist()} are not VOC class ids '
                              f'(0..20, 255 void); is this a colour PNG saved without its palette?')
    return label.astype(np.uint8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n\n', 1)[1])
    p.add_argument('--voc', required=True, help='VOCdevkit/VOC2012 folder')
    p.add_argument('--sbd', required=True, help='SBD benchmark_RELEASE/dataset folder')
    p.add_argument('--out', required=True, help='output folder, e.g. dataset/VOCdevkit/VOCAug')
    args = _prep.add_common_args(p).parse_args(argv)
    from mxnetseg.data.splitlist import require_scipy_loadmat
    try:
        require_scipy_loadmat('SBD')
    except ImportError as err:
        raise _prep.PrepError(str(err)) from None
    out = Path(args.out)
    lists, sources = plan(args.voc, args.sbd)
    _prep.refuse_existing([out / 'img_aug', out / 'cls_aug', *(out / n for n in lists)],
                          args.force, 'or choose another --out')

    def convert(ident):
        image, label = sources[ident]
        _prep.copy_file(image, out / 'img_aug' / f'{ident}.jpg', overwrite=args.force)
        _prep.write_png(out / 'cls_aug' / f'{ident}.png', read_source_label(label),
                        overwrite=args.force)

    _prep.parallel_map(convert, sorted(sources), 'VOCAug labels', args.workers)
    # Lists last: their presence marks a finished tree.
    for name, ids in lists.items():
        _prep.write_list(out / name, [f'{i}.jpg {i}.png' for i in ids], overwrite=args.force)
    print(f'wrote {len(sources)} images and labels to {out}; ' +
          ', '.join(f'{n}: {len(ids)}' for n, ids in lists.items()))


if __name__ == '__main__':
    sys.exit(_prep.run(main, sys.argv[1:]))
