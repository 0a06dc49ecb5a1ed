"""``python -m mxnetseg data check``: walk a dataset tree the way its loader does and report
every problem at once (missing, unreadable or mismatched files, unexpected label values).

Training finds a bad file only when a worker reaches it, possibly hours in, and stops at the
first one; this checker reads every listed pair up front, keeps going after errors and
prints a raw -> mapped label histogram so a wrong label mapping shows before training.
"""
import argparse
import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from . import splitlist
from .base import IGNORE_INDEX, DataError, UnknownDatasetError, get_dataset_class, read_image

__all__ = ['check_dataset', 'main']

_KINDS = ('split', 'missing', 'unlabelled', 'unreadable', 'size', 'value')
# Splits many copies of a dataset lack (Cityscapes' test images are a separate download):
# when not asked for by name, their absence is reported, not counted as a problem.
_OPTIONAL_SPLITS = ('test',)


def _build(cls, split, mode, root, data_root, kwargs):
    """The dataset object for (split, mode), with split-list datasets made lenient."""
    kw = dict(kwargs, split=split, mode=mode)
    if root is not None:
        kw['root'] = root
    else:
        kw['data_root'] = data_root
    if issubclass(cls, splitlist.SplitListDataset):
        # the loaders stop at the first listed-but-missing file; the checker wants all of them
        kw['strict'] = False
    return cls(**kw)


def _default_splits(cls):
    lists = getattr(cls, 'SPLIT_LISTS', None)
    return tuple(lists) if lists else ('train', 'val', 'test')


def _mode_for(cls, split):
    # 'test' splits usually ship without labels; every other split is read with its labels
    # at full resolution (testval), which is what the loader decodes before augmenting.
    if split == 'test' and 'test' in cls.SUPPORTED_MODES:
        return 'test'
    return 'testval' if 'testval' in cls.SUPPORTED_MODES else 'val'


def _named(path, err):
    msg = str(err) or type(err).__name__
    return msg if str(path) in msg else f'{path}: {type(err).__name__}: {msg}'


def _check_pair(ds, img, lbl):
    """(problems [(kind, message)], Counter {(raw, mapped): pixels}) for one listed pair."""
    problems, hist = [], Counter()
    missing = [p for p in (img, lbl) if p is not None and not Path(p).is_file()]
    for p in missing:
        problems.append(('missing', f'{p} is listed but missing'))
    image = raw = None
    if img not in missing:
        try:
            # The base reader, not ds.load_image: MHP pre-resizes images, which would make
            # every pair look mismatched against its raw label.
            image = read_image(img)
        except Exception as err:  # noqa: BLE001 - any decoder failure is a finding, not a crash
            problems.append(('unreadable', _named(img, err)))
    if lbl is not None and lbl not in missing:
        try:
            raw = np.asarray(ds.read_raw_label(lbl))
        except Exception as err:  # noqa: BLE001 - e.g. scipy's MatReadError for a cut .mat
            problems.append(('unreadable', _named(lbl, err)))
    if raw is None:
        return problems, hist
    if image is not None and image.shape[:2] != raw.shape[:2]:
        problems.append(('size', f'image {img} is {image.shape[1]}x{image.shape[0]} but label '
                                 f'{lbl} is {raw.shape[1]}x{raw.shape[0]} (WxH)'))
    try:
        mapped = np.asarray(ds._map_label(raw))
    except DataError as err:
        values = np.unique(raw)
        problems.append(('value', f'{lbl}: {err} (raw values {values[:20].tolist()})'))
        return problems, hist
    if mapped.shape != raw.shape:  # a mapping that reshapes cannot be histogrammed per pixel
        return problems, hist
    # One int64 key per (raw, mapped) pixel pair: a single np.unique instead of a Python loop.
    key = (raw.astype(np.int64) << 32) | (mapped.astype(np.int64) & 0xFFFFFFFF)
    keys, counts = np.unique(key, return_counts=True)
    for k, c in zip(keys.tolist(), counts.tolist()):
        hist[(k >> 32, int(np.int64(k & 0xFFFFFFFF).astype(np.int32)))] += c
    bad = sorted({m for _, m in hist if m != IGNORE_INDEX and not 0 <= m < ds.num_class})
    if bad:
        problems.append(('value', f'{lbl}: mapped label values {bad[:20]} are outside the class '
                                  f'ids 0..{ds.num_class - 1} and {IGNORE_INDEX} (ignore); fix '
                                  f'the file or the label mapping'))
    return problems, hist


def check_dataset(name, data_root=None, root=None, splits=None, workers=None, progress=True,
                  **kwargs):
    """Check every listed pair of ``splits`` -> report dict (counts, problems, histogram)."""
    from tqdm import tqdm
    cls = get_dataset_class(name)
    explicit = bool(splits)
    splits = tuple(splits) if splits else _default_splits(cls)
    report = {'dataset': cls.__name__, 'counts': {}, 'problems': [], 'histogram': Counter(),
              'num_class': None, 'root': None, 'absent': [], 'notes': []}
    jobs = []
    for split in splits:
        mode = _mode_for(cls, split)
        try:
            ds = _build(cls, split, mode, root, data_root, kwargs)
        except FileNotFoundError as err:
            if not explicit and split in _OPTIONAL_SPLITS:
                report['absent'].append((split, str(err)))
            else:
                report['problems'].append(('split', f'split {split!r}: {err}'))
            continue
        except (ValueError, DataError) as err:  # a split the dataset does not define
            if explicit or isinstance(err, DataError):
                report['problems'].append(('split', f'split {split!r}: {err}'))
            continue
        report['counts'][split] = (mode, len(ds))
        report['num_class'], report['root'] = ds.num_class, ds.root
        report['notes'].extend(n for n in ds.notes if n not in report['notes'])
        jobs.extend((ds, img, lbl) for img, lbl in ds.pairs)
        if mode != 'test' and 'test' in cls.SUPPORTED_MODES:
            # Walked datasets (Cityscapes, ADE20K, ...) silently drop images whose label is
            # absent; the image-only listing of the same split shows which ones.
            try:
                listed = {Path(i) for i, _ in _build(cls, split, 'test', root, data_root,
                                                     kwargs).pairs}
            except (FileNotFoundError, ValueError, DataError):
                listed = set()
            for img in sorted(listed - {Path(i) for i, _ in ds.pairs}):
                report['problems'].append(('unlabelled', f'{img} has no label; the loader '
                                                         f'skips it in split {split!r}'))
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    # Threads suffice: cv2 decoding and np.unique release the GIL.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_check_pair, ds, img, lbl): (img, lbl) for ds, img, lbl in jobs}
        for fut in tqdm(as_completed(futures), total=len(futures), desc='checking',
                        unit='pair', disable=not progress, file=sys.stderr):
            try:
                problems, hist = fut.result()
            except Exception as err:  # noqa: BLE001 - e.g. a mapping that fails unexpectedly
                img, lbl = futures[fut]
                problems, hist = [('value', f'{lbl}: {type(err).__name__}: {err}')], Counter()
            report['problems'].extend(problems)
            report['histogram'].update(hist)
    return report


def format_report(report):
    lines = [f"{report['dataset']} under {report['root']}", f"{'split':<10}{'mode':<9}pairs"]
    for split, (mode, n) in report['counts'].items():
        lines.append(f'{split:<10}{mode:<9}{n}')
    for split, why in report.get('absent', ()):
        lines.append(f'{split:<10}{"absent":<9}-  (optional, not checked: {why})')
    lines.extend(f'note: {note}' for note in report.get('notes', ()))
    k = report['num_class']
    if report['histogram']:
        lines.append('label values (raw -> mapped: pixels)')
        for (raw, mapped), n in sorted(report['histogram'].items()):
            flag = '' if k is None or mapped == IGNORE_INDEX or 0 <= mapped < k else \
                '  <-- UNEXPECTED'
            lines.append(f'  {raw:>6} -> {mapped:>4}: {n}{flag}')
    problems = sorted(report['problems'], key=lambda p: (_KINDS.index(p[0]), p[1]))
    if problems:
        by_kind = Counter(kind for kind, _ in problems)
        lines.append(f'{len(problems)} problem(s): ' +
                     ', '.join(f'{by_kind[kind]} {kind}' for kind in _KINDS if by_kind[kind]))
        lines.extend(f'  [{kind}] {msg}' for kind, msg in problems)
    else:
        lines.append('clean: no problems found')
    return '\n'.join(lines)


def _parser():
    p = argparse.ArgumentParser(prog='python -m mxnetseg data check',
                                description='Check a dataset tree: listed files exist and '
                                            'decode, image/label sizes match, label values map '
                                            'into the class ids. Exit 0 clean, 1 problems.')
    p.add_argument('--data', required=True, help='registered dataset name, e.g. cityscapes')
    p.add_argument('--data-root', default=None,
                   help='folder holding the datasets (default: $MXNETSEG_DATA or ./dataset)')
    p.add_argument('--root', default=None, help="the dataset's own folder (overrides --data-root)")
    p.add_argument('--split', nargs='+', default=None,
                   help="splits to check (default: every split the dataset defines)")
    p.add_argument('--workers', type=int, default=None, help='reader threads')
    p.add_argument('--num-class', type=int, default=None, help="for the 'list' dataset")
    p.add_argument('--ignore-label', type=int, default=None, help="for the 'list' dataset")
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != 'check':
        if argv and argv[0] not in ('-h', '--help'):
            print(f'error: unknown data command {argv[0]!r}; use: check', file=sys.stderr)
        print('usage: python -m mxnetseg data check --data NAME [--data-root DIR] [--split S ...]')
        return 0 if argv and argv[0] in ('-h', '--help') else 2
    try:
        args = _parser().parse_args(argv[1:])
    except SystemExit as exit_:  # argparse: 0 for --help, 2 for usage errors
        return int(exit_.code or 0)
    extra = {k: v for k, v in (('num_class', args.num_class),
                               ('ignore_label', args.ignore_label)) if v is not None}
    try:
        report = check_dataset(args.data, data_root=args.data_root, root=args.root,
                               splits=args.split, workers=args.workers,
                               progress=not args.no_progress, **extra)
    except (UnknownDatasetError, TypeError) as err:  # TypeError: options the dataset lacks
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(format_report(report))
    return 1 if report['problems'] or not report['counts'] else 0
