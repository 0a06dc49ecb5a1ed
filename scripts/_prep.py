"""Shared plumbing of the dataset preparation scripts: output guards, atomic writes and a
parallel, progress-reporting map that keeps going after a bad file.

The scripts run as ``python scripts/prepare_X.py`` (this folder is then on sys.path) and
import the package from the repository root, added below, so no install is needed.
"""
import os
import shutil
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


class PrepError(RuntimeError):
    """A preparation step cannot go on; the message says which file and what to do."""


def refuse_existing(paths, force):
    """Stop before touching anything when an output already exists, unless ``force``.

    Half-overwritten trees are the worst outcome of a re-run, so the check covers every
    output the script would write, up front.
    """
    existing = [p for p in map(Path, paths) if p.exists() and
                (not p.is_dir() or any(p.iterdir()))]
    if existing and not force:
        listed = ', '.join(str(p) for p in existing[:3])
        more = f' (and {len(existing) - 3} more)' if len(existing) > 3 else ''
        raise PrepError(f'output already exists: {listed}{more}; pass --force to overwrite '
                        f'it, or choose another --out')


def _atomic(path, write):
    # Write next to the target then rename, so an interrupted run never leaves a truncated
    # file that a later run (or the loader) would take for a finished one.
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}{path.suffix}')
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_png(path, array):
    """uint8 single-channel index PNG (or RGB, given HWC RGB)."""
    array = np.ascontiguousarray(array)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)

    def write(tmp):
        if not cv2.imwrite(str(tmp), array):
            raise PrepError(f'{path}: could not write (disk full or folder not writable?)')
    _atomic(path, write)


def write_jpg(path, rgb, quality=95):
    def write(tmp):
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(tmp), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise PrepError(f'{path}: could not write (disk full or folder not writable?)')
    _atomic(path, write)


def copy_file(src, dst):
    _atomic(dst, lambda tmp: shutil.copyfile(src, tmp))


def write_list(path, lines):
    _atomic(path, lambda tmp: Path(tmp).write_text(''.join(f'{line}\n' for line in lines)))


def parallel_map(fn, items, desc, workers=None, total=None):
    """Run ``fn`` over ``items`` in threads with a tqdm bar; collect every failure.

    Items are consumed lazily (at most 2 x workers in flight), so a generator of large
    frames is never held in memory at once. Raises PrepError listing all failed items at
    the end rather than at the first one, so one run shows everything that needs fixing.
    """
    from tqdm import tqdm
    errors = []
    total = len(items) if total is None and hasattr(items, '__len__') else total

    def guarded(item):
        try:
            fn(item)
        except Exception as err:  # noqa: BLE001 - reported below with the item
            errors.append(f'{_describe(item)}: {err}')

    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    pending = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=total, desc=desc, unit='file', file=sys.stderr) as bar:
        for item in items:
            pending.append(pool.submit(guarded, item))
            if len(pending) >= 2 * workers:
                pending.popleft().result()
                bar.update()
        while pending:
            pending.popleft().result()
            bar.update()
    if errors:
        raise PrepError(f'{len(errors)} item(s) failed in {desc!r}:\n  ' + '\n  '.join(errors))


def _describe(item):
    """Short name of a work item for error lists (a frame tuple or an annotation dict)."""
    if isinstance(item, tuple):
        return item[0]
    if isinstance(item, dict):
        return item.get('file_name', item)
    return item


def add_common_args(parser):
    parser.add_argument('--force', action='store_true',
                        help='overwrite outputs that already exist')
    parser.add_argument('--workers', type=int, default=None, help='threads (default: 2 x CPUs, max 8)')
    return parser


def run(main_fn, argv):
    """Turn a PrepError into a one-paragraph message and exit status 1."""
    try:
        main_fn(argv)
    except PrepError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0
