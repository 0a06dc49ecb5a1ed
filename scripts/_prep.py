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


def refuse_existing(paths, force, hint=''):
    """Stop before touching anything when an output already exists, unless ``force``.

    Half-overwritten trees are the worst outcome of a re-run, so the check covers every
    output the script would write, up front. A folder counts when it holds anything; the
    message names the files themselves. ``hint`` adds another way out (``or choose another
    --out``).
    """
    if force:
        return
    found = []  # (file, how many more in its folder)
    for p in map(Path, paths):
        if p.is_dir():
            inside = sorted(p.iterdir())
            if inside:
                found.append((inside[0], len(inside) - 1))
        elif p.exists():
            found.append((p, 0))
    if found:
        listed = ', '.join(f'{f}' + (f' (and {n} more in {f.parent})' if n else '')
                           for f, n in found[:3])
        more = f' and {len(found) - 3} more output(s)' if len(found) > 3 else ''
        raise PrepError(f'output already exists: {listed}{more}; not overwritten. Pass --force '
                        f'to overwrite{", " + hint if hint else ""}')


def _atomic(path, write, overwrite):
    # Write next to the target, then publish it under its name in one step, so an
    # interrupted run never leaves a truncated file that a later run (or the loader) would
    # take for a finished one. Without ``overwrite`` the publish is create-exclusive (a hard
    # link fails on an existing name): a file that appeared since refuse_existing ran (a
    # second run on the same output) is kept, not replaced.
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}{path.suffix}')
    try:
        write(tmp)
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise PrepError(f'{path} appeared while this run was writing it (another run on '
                            f'the same output?); not overwritten. Pass --force to overwrite') \
                from None
        except OSError:  # no hard links here (some network / FAT filesystems): claim the name
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                raise PrepError(f'{path} appeared while this run was writing it; not '
                                f'overwritten. Pass --force to overwrite') from None
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_png(path, array, overwrite=False):
    """uint8 single-channel index PNG (or RGB, given HWC RGB)."""
    array = np.ascontiguousarray(array)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)

    def write(tmp):
        if not cv2.imwrite(str(tmp), array):
            raise PrepError(f'{path}: could not write (disk full or folder not writable?)')
    _atomic(path, write, overwrite)


def write_jpg(path, rgb, quality=95, overwrite=False):
    def write(tmp):
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(tmp), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise PrepError(f'{path}: could not write (disk full or folder not writable?)')
    _atomic(path, write, overwrite)


def copy_file(src, dst, overwrite=False):
    _atomic(dst, lambda tmp: shutil.copyfile(src, tmp), overwrite)


def write_list(path, lines, overwrite=False):
    _atomic(path, lambda tmp: Path(tmp).write_text(''.join(f'{line}\n' for line in lines)),
            overwrite)


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
